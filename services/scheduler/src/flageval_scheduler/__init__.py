"""FlagEval scheduler service: Quota ledger, priorities, turning runs into GPU jobs (Kubernetes) or local processes, stop, logs, watchdog."""
