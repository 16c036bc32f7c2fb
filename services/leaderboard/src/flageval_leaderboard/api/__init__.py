"""HTTP routers of this service: parse, authorize, call a service function, shape the reply."""
