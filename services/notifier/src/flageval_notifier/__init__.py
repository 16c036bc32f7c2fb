"""FlagEval notifier service: Email (SMTP) and in-app notifications."""
