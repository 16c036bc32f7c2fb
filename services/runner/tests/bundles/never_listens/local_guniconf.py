# Hangs while gunicorn loads its config, before it binds: the port never opens.
import time

time.sleep(120)
