"""The Job manifest of the kubernetes executor (SPEC §7): every variant is a valid ``batch/v1`` Job
for Kubernetes 1.30 (native sidecars), evaluation pods are locked down, private deployments get
the bundle fetch, the model sidecar and the GPUs, API deployments only the runner. The user's
container is not trusted (SPEC §11): its own uid, read-only root, its own scratch, the bundle
read-only, and no token or platform secret; only the runner holds the progress token, the bundle
fetch a narrower bundle token."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from typing import Any

import kubernetes_validate
import pytest

from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors.base import JobRequest
from flageval_scheduler.executors.manifests import (
    KubernetesConfig,
    build_job,
    job_name,
    parse_job_name,
)

TOKEN = "secret-progress-token-xyz"
BUNDLE_TOKEN = "secret-bundle-token-abc"
K8S_VERSION = "1.30"  # the first release with native sidecars on by default is 1.29
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

CLUSTER = KubernetesConfig(
    namespace="evals",
    runner_image="registry.example/flageval/runner:1.2.3",
    priority_classes={"high": "flageval-high", "medium": "flageval-medium", "low": "flageval-low"},
    card_type_node_selectors={"a100": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}},
    job_ttl_seconds=600,
)
KUEUE = replace(
    CLUSTER,
    kueue_queue="flageval",
    workload_priority_classes={"high": "wl-high", "medium": "wl-medium", "low": "wl-low"},
)
BARE = KubernetesConfig(namespace="evals")


def request(**overrides: Any) -> JobRequest:
    values: dict[str, Any] = {
        "run_id": uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
        "attempt": 2,
        "evaluation_id": uuid.UUID("11111111-2222-3333-4444-555555555555"),
        "evaluation_name": "my eval",
        "owner_id": uuid.uuid4(),
        "domain": "nlp",
        "kind": "formal",
        "priority": "high",
        "deploy_mode": "private",
        "progress_url": "http://flageval-gateway.flageval.svc:8000",
        "progress_token": TOKEN,
        "bundle_token": BUNDLE_TOKEN,
        "image": "registry.example/user/model:7",
        "card_type": "a100",
        "gpus": 2,
        "deadline_seconds": 7200,
    }
    values.update(overrides)
    return JobRequest(**values)


VARIANTS = {
    "nlp-private-gpus-kueue": (request(), KUEUE),
    "nlp-private-gpus": (request(), CLUSTER),
    "cv-private": (request(domain="cv", gpus=1, card_type=None, priority="low"), CLUSTER),
    "api": (request(deploy_mode="api", image=None, gpus=0, card_type=None), CLUSTER),
    "api-kueue": (request(deploy_mode="api", image=None, gpus=0, priority="medium"), KUEUE),
    "bare-cluster": (request(), BARE),
}


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec


def all_containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(manifest)
    return [*spec.get("initContainers", []), *spec["containers"]]


def by_name(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in all_containers(manifest)}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_is_a_valid_job(variant: str) -> None:
    job, config = VARIANTS[variant]
    manifest = build_job(job, config)
    assert kubernetes_validate.validate(manifest, K8S_VERSION, strict=True) == K8S_VERSION
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    assert manifest["metadata"]["namespace"] == config.namespace


def test_schema_validation_catches_mistakes() -> None:
    manifest = build_job(request(), CLUSTER)
    pod_spec(manifest)["containers"][0]["securityContext"]["allowPrivilegeEscalatoin"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_pods_are_locked_down(variant: str) -> None:
    job, config = VARIANTS[variant]
    manifest = build_job(job, config)
    spec = pod_spec(manifest)
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False  # service env vars would name cluster addresses
    assert spec["shareProcessNamespace"] is False  # explicit: no /proc view of the runner
    assert spec["hostNetwork"] is False and spec["hostPID"] is False and spec["hostIPC"] is False
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert "serviceAccountName" not in spec
    for container in all_containers(manifest):
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == security["runAsGroup"] > 0
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["privileged"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "envFrom" not in container
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound])
        uid = 10002 if container["name"] == "model" else 10001
        assert security["runAsUser"] == uid
        # A read-only root needs somewhere to write: every container has /tmp of its own kind.
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}
    assert all(set(v) == {"name", "emptyDir"} for v in spec["volumes"])  # no host paths


def _secrets_in(container: dict[str, Any]) -> list[str]:
    text = json.dumps(container)
    return [secret for secret in (TOKEN, BUNDLE_TOKEN) if secret in text]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_token_lives_in_one_container_only(variant: str) -> None:
    job, config = VARIANTS[variant]
    containers = by_name(build_job(job, config))
    assert _secrets_in(containers["runner"]) == [TOKEN]
    run_token_holders = [
        name
        for name, c in containers.items()
        if "FLAGEVAL_RUN_TOKEN" in {e["name"] for e in c.get("env", [])}
    ]
    assert run_token_holders == ["runner"]
    if job.deploy_mode == "private":
        assert _secrets_in(containers["fetch-bundle"]) == [BUNDLE_TOKEN]
        assert _secrets_in(containers["model"]) == []
    else:
        assert set(containers) == {"runner"}


def test_the_model_container_is_not_trusted() -> None:
    manifest = build_job(request(), CLUSTER)
    model = by_name(manifest)["model"]
    # No token, no platform variable, nothing from a Secret or ConfigMap.
    assert "envFrom" not in model
    assert all("valueFrom" not in e for e in model["env"])
    assert not [e["name"] for e in model["env"] if e["name"].startswith("FLAGEVAL_")]
    assert _secrets_in(model) == []
    # Its own uid (not the runner's), non-root, read-only root filesystem.
    security = model["securityContext"]
    assert security["runAsUser"] == security["runAsGroup"] == 10002
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    # The bundle read-only; scratch and /tmp its own, HOME and TMPDIR in the scratch.
    assert model["volumeMounts"] == [
        {"name": "bundle", "mountPath": "/bundle", "readOnly": True},
        {"name": "model-scratch", "mountPath": "/scratch"},
        {"name": "model-tmp", "mountPath": "/tmp"},
    ]
    env = {e["name"]: e["value"] for e in model["env"]}
    assert env["HOME"] == "/scratch" and env["TMPDIR"] == "/scratch"
    mounted_elsewhere = {
        m["name"]
        for name, c in by_name(manifest).items()
        if name != "model"
        for m in c["volumeMounts"]
    }
    assert not {"model-scratch", "model-tmp"} & mounted_elsewhere
    assert "platform-tmp" in mounted_elsewhere
    assert "platform-tmp" not in {m["name"] for m in model["volumeMounts"]}
    # Only the fetch step writes the bundle.
    writers = [
        name
        for name, c in by_name(manifest).items()
        for m in c["volumeMounts"]
        if m["name"] == "bundle" and not m.get("readOnly")
    ]
    assert writers == ["fetch-bundle"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_job_spec_and_labels(variant: str) -> None:
    job, config = VARIANTS[variant]
    manifest = build_job(job, config)
    spec = manifest["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 7200
    assert spec["ttlSecondsAfterFinished"] == config.job_ttl_seconds
    expected = {
        "flageval.io/role": "evaluation",
        "flageval.io/run-id": str(job.run_id),
        "flageval.io/evaluation-id": str(job.evaluation_id),
        "flageval.io/attempt": "2",
        "flageval.io/priority": job.priority,
    }
    assert spec["template"]["metadata"]["labels"] == expected
    labels = manifest["metadata"]["labels"]
    assert expected.items() <= labels.items()
    if config.kueue_queue:
        assert labels["kueue.x-k8s.io/queue-name"] == "flageval"
        assert labels["kueue.x-k8s.io/priority-class"] == f"wl-{job.priority}"
        assert spec["suspend"] is True
    else:
        assert not any(key.startswith("kueue.x-k8s.io/") for key in labels)
        assert "suspend" not in spec


def test_private_nlp_has_bundle_fetch_model_sidecar_and_gpus() -> None:
    manifest = build_job(request(), CLUSTER)
    spec = pod_spec(manifest)
    assert [c["name"] for c in spec["initContainers"]] == ["fetch-bundle", "model"]
    assert [c["name"] for c in spec["containers"]] == ["runner"]
    assert spec["volumes"] == [
        {"name": "platform-tmp", "emptyDir": {}},
        {"name": "bundle", "emptyDir": {}},
        {"name": "model-scratch", "emptyDir": {}},
        {"name": "model-tmp", "emptyDir": {}},
    ]
    assert spec["priorityClassName"] == "flageval-high"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}

    fetch, model, runner = (by_name(manifest)[n] for n in ("fetch-bundle", "model", "runner"))
    assert fetch["image"] == runner["image"] == CLUSTER.runner_image
    assert fetch["command"] == [
        "python",
        "-m",
        "flageval_runner",
        "fetch-bundle",
        "--dest",
        "/bundle",
    ]
    assert fetch["volumeMounts"] == [
        {"name": "bundle", "mountPath": "/bundle"},
        {"name": "platform-tmp", "mountPath": "/tmp"},
    ]
    assert "restartPolicy" not in fetch  # a plain init step: it must finish first

    assert model["restartPolicy"] == "Always"  # native sidecar: the Job ends with the runner
    assert model["image"] == "registry.example/user/model:7"
    assert model["workingDir"] == "/bundle"
    assert model["command"] == ["flageval-serving", "--service", "service.py", "run", "model"]
    assert model["env"] == [
        {"name": "GUNICORN_CMD_ARGS", "value": "--bind 127.0.0.1:5000"},
        {"name": "HOME", "value": "/scratch"},
        {"name": "TMPDIR", "value": "/scratch"},
    ]
    assert model["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "2"

    assert runner["command"] == ["python", "-m", "flageval_runner", "run"]
    env = {e["name"]: e["value"] for e in runner["env"]}
    assert env == {
        "FLAGEVAL_PROGRESS_URL": "http://flageval-gateway.flageval.svc:8000",
        "FLAGEVAL_RUN_ID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "FLAGEVAL_RUN_ATTEMPT": "2",
        "FLAGEVAL_RUN_TOKEN": TOKEN,
        "FLAGEVAL_MODEL_URL": "http://127.0.0.1:5000",
    }
    assert runner["volumeMounts"] == [{"name": "platform-tmp", "mountPath": "/tmp"}]
    fetch_env = {e["name"]: e["value"] for e in fetch["env"]}
    assert fetch_env == {
        "FLAGEVAL_PROGRESS_URL": "http://flageval-gateway.flageval.svc:8000",
        "FLAGEVAL_RUN_ID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "FLAGEVAL_RUN_ATTEMPT": "2",
        "FLAGEVAL_BUNDLE_TOKEN": BUNDLE_TOKEN,
    }
    # Only the runner sees the progress token; no GPU outside the model container.
    assert TOKEN not in json.dumps([model, fetch])
    assert "nvidia.com/gpu" not in json.dumps([fetch, runner])


def test_private_cv_runs_run_sh() -> None:
    manifest = build_job(request(domain="cv", card_type=None, gpus=1), CLUSTER)
    model = by_name(manifest)["model"]
    assert model["command"] == ["bash", "run.sh"]
    assert model["env"] == [
        {"name": "HOME", "value": "/scratch"},
        {"name": "TMPDIR", "value": "/scratch"},
    ]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nodeSelector" not in pod_spec(manifest)


def test_api_mode_is_the_runner_alone() -> None:
    manifest = build_job(request(deploy_mode="api", image=None, gpus=0), CLUSTER)
    spec = pod_spec(manifest)
    assert [c["name"] for c in spec["containers"]] == ["runner"]
    assert "initContainers" not in spec
    assert spec["volumes"] == [{"name": "platform-tmp", "emptyDir": {}}]
    assert "nvidia.com/gpu" not in json.dumps(manifest)
    env = {e["name"] for e in spec["containers"][0]["env"]}
    assert "FLAGEVAL_MODEL_URL" not in env


def test_unconfigured_priority_and_card_type_are_omitted() -> None:
    spec = pod_spec(build_job(request(card_type="h100"), BARE))
    assert "priorityClassName" not in spec and "nodeSelector" not in spec
    labels = build_job(request(priority="low"), replace(KUEUE, workload_priority_classes={}))[
        "metadata"
    ]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "flageval"
    assert "kueue.x-k8s.io/priority-class" not in labels


def test_the_request_keeps_its_tokens_out_of_its_repr() -> None:
    text = repr(request())
    assert TOKEN not in text and BUNDLE_TOKEN not in text


def test_private_without_image_or_bundle_token_is_refused() -> None:
    with pytest.raises(ValueError, match="image"):
        build_job(request(image=None), CLUSTER)
    with pytest.raises(ValueError, match="bundle token"):
        build_job(request(bundle_token=""), CLUSTER)
    # An API deployment fetches no bundle and needs no bundle token.
    build_job(request(deploy_mode="api", image=None, bundle_token=""), CLUSTER)


def test_name_is_deterministic_short_and_reversible() -> None:
    job = request()
    first, again = build_job(job, CLUSTER), build_job(job, KUEUE)
    name = first["metadata"]["name"]
    assert name == again["metadata"]["name"] == job_name(job.run_id, job.attempt)
    assert name == "flageval-run-0f1e2d3c4b5a69788796a5b4c3d2e1f0-2"
    assert build_job(request(attempt=3), CLUSTER)["metadata"]["name"] != name
    for attempt in (0, 1, 10**16):
        long_name = job_name(uuid.UUID(int=2**128 - 1), attempt)
        assert len(long_name) <= 63 and DNS_1123_LABEL.match(long_name)
        assert parse_job_name(long_name) == (uuid.UUID(int=2**128 - 1), attempt)
    assert parse_job_name("something-else") is None
    with pytest.raises(ValueError):
        job_name(job.run_id, 10**20)


def test_config_from_settings() -> None:
    settings = ServiceSettings(
        evaluation_namespace="evals",
        runner_image="r:1",
        priority_class_high="fe-high",
        priority_class_low="fe-low",
        card_type_node_selectors='{"a100": {"gpu": "a100"}}',
        kueue_queue="lq",
        workload_priority_class_high="wl-high",
        job_ttl_seconds=120,
    )
    config = KubernetesConfig.from_settings(settings)
    assert config.namespace == "evals" and config.runner_image == "r:1"
    assert config.priority_classes == {"high": "fe-high", "low": "fe-low"}
    assert config.card_type_node_selectors == {"a100": {"gpu": "a100"}}
    assert config.kueue_queue == "lq"
    assert config.workload_priority_classes == {"high": "wl-high"}
    assert config.job_ttl_seconds == 120
