"""The ``batch/v1`` Job one run attempt becomes on Kubernetes (SPEC §7): a pure function of the
:class:`JobRequest` and the cluster settings, so it can be validated against the API schemas.

Private deployment: an init container fetches the bundle into an ``emptyDir``, the user's image
serves the model as a native sidecar (an init container with ``restartPolicy: Always``) on
``127.0.0.1:5000``, and the platform runner is the only regular container, so the Job ends when
the runner exits. API deployment: the runner alone.

Every pod runs untrusted code (SPEC §11): no service-account token, no service links (their
environment variables name cluster addresses), no host namespaces, no shared process namespace;
every container non-root with a read-only root filesystem, no privilege escalation, all
capabilities dropped and the runtime's seccomp profile, within resource limits. The user's model
server has its own uid, its own scratch space, the bundle read-only and no token at all. Only the
runner holds the run's progress token; the bundle fetch gets a narrower token that can only read
the bundle's file list (``GET /api/runner/runs/{id}/bundle``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors.base import JobRequest

LABEL_ROLE = "flageval.io/role"
ROLE_EVALUATION = "evaluation"
LABEL_RUN_ID = "flageval.io/run-id"
LABEL_EVALUATION_ID = "flageval.io/evaluation-id"
LABEL_ATTEMPT = "flageval.io/attempt"
LABEL_PRIORITY = "flageval.io/priority"
LABEL_KUEUE_QUEUE = "kueue.x-k8s.io/queue-name"
LABEL_KUEUE_PRIORITY = "kueue.x-k8s.io/priority-class"

JOB_NAME_PREFIX = "flageval-run-"
_JOB_NAME = re.compile(r"^flageval-run-(?P<run>[0-9a-f]{32})-(?P<attempt>[0-9]+)$")

MODEL_PORT = 5000
BUNDLE_DIR = "/bundle"
SCRATCH_DIR = "/scratch"
TMP_DIR = "/tmp"
PLATFORM_UID = 10001
#: The user's model server runs as an unprivileged uid of its own, not the runner's.
MODEL_UID = 10002

CONTAINER_FETCH = "fetch-bundle"
CONTAINER_MODEL = "model"
CONTAINER_RUNNER = "runner"


@dataclass(frozen=True)
class Resources:
    """CPU/memory requests and limits of one container (Kubernetes quantities)."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str

    def as_dict(self, gpus: int = 0) -> dict[str, dict[str, str]]:
        requests = {"cpu": self.cpu_request, "memory": self.memory_request}
        limits = {"cpu": self.cpu_limit, "memory": self.memory_limit}
        if gpus > 0:
            requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(gpus)
        return {"requests": requests, "limits": limits}


@dataclass(frozen=True)
class KubernetesConfig:
    """What the Job manifest and the executor need from the cluster settings."""

    namespace: str = "flageval-evaluations"
    runner_image: str = "flageval/runner:latest"
    priority_classes: Mapping[str, str] = field(default_factory=dict)  # priority -> PriorityClass
    card_type_node_selectors: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    kueue_queue: str | None = None
    workload_priority_classes: Mapping[str, str] = field(default_factory=dict)
    job_ttl_seconds: int = 3600
    runner_resources: Resources = Resources("250m", "2", "512Mi", "2Gi")
    fetch_resources: Resources = Resources("250m", "1", "256Mi", "1Gi")
    model_resources: Resources = Resources("2", "8", "16Gi", "64Gi")

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KubernetesConfig:
        priorities = {
            "high": (settings.priority_class_high, settings.workload_priority_class_high),
            "medium": (settings.priority_class_medium, settings.workload_priority_class_medium),
            "low": (settings.priority_class_low, settings.workload_priority_class_low),
        }
        return cls(
            namespace=settings.evaluation_namespace,
            runner_image=settings.runner_image,
            priority_classes={p: pc for p, (pc, _) in priorities.items() if pc},
            card_type_node_selectors={
                card: dict(selector) for card, selector in settings.card_type_node_selectors.items()
            },
            kueue_queue=settings.kueue_queue or None,
            workload_priority_classes={p: wpc for p, (_, wpc) in priorities.items() if wpc},
            job_ttl_seconds=settings.job_ttl_seconds,
        )


def job_name(run_id: uuid.UUID, attempt: int) -> str:
    """The Job's name: deterministic per (run, attempt), so a repeated create gets a 409.

    The whole run id is kept (32 hex digits, at most 63 characters in all) so that a handle
    names its run even after the Job is gone."""
    name = f"{JOB_NAME_PREFIX}{run_id.hex}-{attempt}"
    if attempt < 0 or len(name) > 63:
        raise ValueError(f"attempt {attempt} does not fit a Job name")
    return name


def parse_job_name(name: str) -> tuple[uuid.UUID, int] | None:
    """The (run id, attempt) a :func:`job_name` encodes, ``None`` for any other name."""
    match = _JOB_NAME.match(name)
    if match is None:
        return None
    return uuid.UUID(hex=match["run"]), int(match["attempt"])


def job_labels(job: JobRequest) -> dict[str, str]:
    """The labels tying a Job and its pods to the run attempt (the NetworkPolicy selects the
    role label)."""
    return {
        LABEL_ROLE: ROLE_EVALUATION,
        LABEL_RUN_ID: str(job.run_id),
        LABEL_EVALUATION_ID: str(job.evaluation_id),
        LABEL_ATTEMPT: str(job.attempt),
        LABEL_PRIORITY: job.priority,
    }


def _container_security(uid: int) -> dict[str, Any]:
    """The same locked-down context for every container, the user's included."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _channel_env(job: JobRequest, token_variable: str, token: str) -> list[dict[str, str]]:
    """Where the progress channel is and which run attempt this is, with one token: the only
    configuration platform containers get."""
    return [
        {"name": "FLAGEVAL_PROGRESS_URL", "value": job.progress_url},
        {"name": "FLAGEVAL_RUN_ID", "value": str(job.run_id)},
        {"name": "FLAGEVAL_RUN_ATTEMPT", "value": str(job.attempt)},
        {"name": token_variable, "value": token},
    ]


def _model_command(domain: str) -> tuple[list[str], list[dict[str, str]]]:
    # HOME and TMPDIR point into the model's own scratch space: the root filesystem is read-only.
    env = [{"name": "HOME", "value": SCRATCH_DIR}, {"name": "TMPDIR", "value": SCRATCH_DIR}]
    if domain == "nlp":
        command = ["flageval-serving", "--service", "service.py", "run", "model"]
        bind = {"name": "GUNICORN_CMD_ARGS", "value": f"--bind 127.0.0.1:{MODEL_PORT}"}
        return command, [bind, *env]
    return ["bash", "run.sh"], env


def build_job(job: JobRequest, config: KubernetesConfig) -> dict[str, Any]:
    """The ``batch/v1`` Job manifest (a plain dict) for one run attempt."""
    name = job_name(job.run_id, job.attempt)
    labels = job_labels(job)
    platform_tmp = {"name": "platform-tmp", "mountPath": TMP_DIR}

    runner: dict[str, Any] = {
        "name": CONTAINER_RUNNER,
        "image": config.runner_image,
        "command": ["python", "-m", "flageval_runner", "run"],
        "env": _channel_env(job, "FLAGEVAL_RUN_TOKEN", job.progress_token),
        "volumeMounts": [platform_tmp],
        "resources": config.runner_resources.as_dict(),
        "securityContext": _container_security(PLATFORM_UID),
    }
    init_containers: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = [{"name": "platform-tmp", "emptyDir": {}}]
    if job.deploy_mode == "private":
        if not job.image:
            raise ValueError("a private deployment needs the model image")
        if not job.bundle_token:
            raise ValueError("a private deployment needs the bundle token")
        command, model_env = _model_command(job.domain)
        runner["env"].append(
            {"name": "FLAGEVAL_MODEL_URL", "value": f"http://127.0.0.1:{MODEL_PORT}"}
        )
        init_containers = [
            {
                "name": CONTAINER_FETCH,
                "image": config.runner_image,
                "command": [
                    "python",
                    "-m",
                    "flageval_runner",
                    "fetch-bundle",
                    "--dest",
                    BUNDLE_DIR,
                ],
                # The bundle token, never the progress token: this step only downloads.
                "env": _channel_env(job, "FLAGEVAL_BUNDLE_TOKEN", job.bundle_token),
                "volumeMounts": [{"name": "bundle", "mountPath": BUNDLE_DIR}, platform_tmp],
                "resources": config.fetch_resources.as_dict(),
                "securityContext": _container_security(PLATFORM_UID),
            },
            {
                # A native sidecar: started after the bundle is there, stopped when the runner ends.
                "name": CONTAINER_MODEL,
                "image": job.image,
                "restartPolicy": "Always",
                "workingDir": BUNDLE_DIR,
                "command": command,
                "env": model_env,
                "volumeMounts": [
                    {"name": "bundle", "mountPath": BUNDLE_DIR, "readOnly": True},
                    {"name": "model-scratch", "mountPath": SCRATCH_DIR},
                    {"name": "model-tmp", "mountPath": TMP_DIR},
                ],
                "resources": config.model_resources.as_dict(gpus=max(job.gpus, 0)),
                "securityContext": _container_security(MODEL_UID),
            },
        ]
        volumes += [
            {"name": "bundle", "emptyDir": {}},
            {"name": "model-scratch", "emptyDir": {}},
            {"name": "model-tmp", "emptyDir": {}},
        ]

    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # Each container its own PID namespace: the model cannot read the runner's environment
        # (its token) through /proc.
        "shareProcessNamespace": False,
        "hostNetwork": False,
        "hostPID": False,
        "hostIPC": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [runner],
        "volumes": volumes,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    priority_class = config.priority_classes.get(job.priority)
    if priority_class:
        pod_spec["priorityClassName"] = priority_class
    # Card types place the model server; an API deployment's runner needs no GPU node.
    node_selector = config.card_type_node_selectors.get(job.card_type or "")
    if node_selector and job.deploy_mode == "private":
        pod_spec["nodeSelector"] = dict(node_selector)

    job_meta_labels = dict(labels)
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        "activeDeadlineSeconds": job.deadline_seconds,
        "ttlSecondsAfterFinished": config.job_ttl_seconds,
        # A disrupted pod (eviction, preemption) fails the Job with reason PodFailurePolicy and a
        # message naming the condition, so a preemption is recognisable after the pod is gone.
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                }
            ]
        },
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
    }
    if config.kueue_queue:
        job_meta_labels[LABEL_KUEUE_QUEUE] = config.kueue_queue
        workload_priority = config.workload_priority_classes.get(job.priority)
        if workload_priority:
            job_meta_labels[LABEL_KUEUE_PRIORITY] = workload_priority
        spec["suspend"] = True  # Kueue admits (unsuspends) it

    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": config.namespace, "labels": job_meta_labels},
        "spec": spec,
    }
