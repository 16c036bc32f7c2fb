"""Executors: the runner as a local subprocess (``local``) or a Kubernetes Job (``kubernetes``)."""

from flageval_scheduler.executors.base import (
    TERMINAL_STATES,
    BundleFileUrl,
    ExecEvent,
    ExecState,
    Executor,
    ExecutorError,
    JobRequest,
)

__all__ = [
    "TERMINAL_STATES",
    "BundleFileUrl",
    "ExecEvent",
    "ExecState",
    "Executor",
    "ExecutorError",
    "JobRequest",
]
