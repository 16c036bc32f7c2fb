"""Routers of the gateway's own endpoints: parse, authorize, call a service function, reply."""
