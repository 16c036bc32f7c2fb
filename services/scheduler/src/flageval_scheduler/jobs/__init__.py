"""Turning requested runs into executor jobs: the queue, the progress channel, stop, logs,
the watchdog and resume."""
