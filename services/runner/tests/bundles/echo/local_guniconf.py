# Read by flageval-serving's gunicorn config: one worker so the in-flight counter is global.
workers = 1
