"""Settings of the scheduler service: the shared FLAGEVAL_* variables plus the queue, watchdog
and executor settings below (each read from ``FLAGEVAL_<NAME>``)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, field_validator

from flageval_platform.settings import Settings


class ServiceSettings(Settings):
    # -- queue, watchdog, resume ---------------------------------------------------------------
    local_slots: int = Field(default=1, ge=1, le=64, description="Local runs at once.")
    max_active_jobs: int = Field(
        default=1000, ge=1, description="Kubernetes Jobs at once (Kueue/the cluster queue more)."
    )
    dispatch_interval_seconds: float = Field(default=1.0, gt=0)
    watchdog_interval_seconds: float = Field(default=5.0, gt=0)
    heartbeat_timeout_seconds: float = Field(
        default=120.0, gt=0, description="A running run silent this long has lost its runner."
    )
    max_resumes: int = Field(default=3, ge=0, description="Resumes after preemption/restart.")
    run_deadline_seconds: int = Field(default=24 * 3600, ge=60)
    progress_url: str | None = Field(
        default=None,
        description="Base URL the runner reports to (the gateway); unset: FLAGEVAL_PUBLIC_URL.",
    )
    runner_command: list[str] | None = Field(
        default=None,
        description="Local executor: the runner command (JSON list); "
        "unset: [python, -m, flageval_runner, run].",
    )
    sandbox: Literal["bwrap", "none"] = Field(
        default="bwrap",
        description="Local executor: how user code is confined (README 'Security model'); "
        "none runs it unconfined and logs a warning for every run.",
    )
    sandbox_uid: int = Field(default=65534, gt=0, description="Host uid of user code (as root).")
    sandbox_gid: int = Field(default=65534, gt=0, description="Host gid of user code (as root).")
    sandbox_max_processes: int = Field(
        default=8192, ge=16, description="Processes and threads user code may have at once."
    )
    # -- kubernetes executor (the chart sets these) --------------------------------------------
    kubeconfig: str | None = Field(
        default=None, description="Path of a kubeconfig; unset: the in-cluster service account."
    )
    evaluation_namespace: str = "flageval-evaluations"
    runner_image: str = "flageval/runner:latest"
    priority_class_high: str | None = None
    priority_class_medium: str | None = None
    priority_class_low: str | None = None
    card_type_node_selectors: dict[str, dict[str, str]] = Field(default_factory=dict)
    kueue_queue: str | None = None
    workload_priority_class_high: str | None = None
    workload_priority_class_medium: str | None = None
    workload_priority_class_low: str | None = None
    job_ttl_seconds: int = Field(default=3600, ge=0)

    @field_validator("card_type_node_selectors", mode="before")
    @classmethod
    def _parse_selectors(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("runner_command", mode="before")
    @classmethod
    def _parse_command(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else None
        return value

    @property
    def effective_progress_url(self) -> str:
        return (self.progress_url or self.effective_public_url).rstrip("/")
