# Read by flageval-serving's gunicorn config (the CLI imports it from the bundle folder).
workers = 2
