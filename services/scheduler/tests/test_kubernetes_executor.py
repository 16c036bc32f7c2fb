"""The kubernetes executor over real HTTP against kmock's stateful fake Kubernetes API: Job
creation (GPUs, priority, node selection, Kueue labels), idempotent submit on 409, state mapping
(complete, OOM, deadline, eviction/preemption, gone), the watch (events, reconnect after a drop
with the last resourceVersion, re-list after 410), stop, and the logs of every container."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import kmock
import pytest

from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors.base import ExecEvent, ExecState, ExecutorError, JobRequest
from flageval_scheduler.executors.kubernetes import KubernetesExecutor
from flageval_scheduler.executors.manifests import KubernetesConfig, job_name

NS = "evals"
TOKEN = "secret-progress-token-xyz"
BUNDLE_TOKEN = "secret-bundle-token-abc"
JOBS = kmock.resource("batch/v1/jobs")
PODS = kmock.resource("v1/pods")
CONFIG = KubernetesConfig(
    namespace=NS,
    runner_image="flageval/runner:test",
    priority_classes={"high": "flageval-high"},
    card_type_node_selectors={"a100": {"gpu": "a100"}},
    kueue_queue="flageval",
    workload_priority_classes={"high": "wl-high"},
)


def request(**overrides: Any) -> JobRequest:
    values: dict[str, Any] = {
        "run_id": uuid.uuid4(),
        "attempt": 1,
        "evaluation_id": uuid.uuid4(),
        "evaluation_name": "e",
        "owner_id": uuid.uuid4(),
        "domain": "nlp",
        "kind": "formal",
        "priority": "high",
        "deploy_mode": "private",
        "progress_url": "http://gateway:8000",
        "progress_token": TOKEN,
        "bundle_token": BUNDLE_TOKEN,
        "image": "user/model:1",
        "card_type": "a100",
        "gpus": 2,
        "deadline_seconds": 3600,
    }
    values.update(overrides)
    return JobRequest(**values)


@pytest.fixture
async def fake() -> AsyncIterator[kmock.KubernetesEmulator]:
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator):
        emulator.resources[JOBS] = kmock.ResourceInfo(kind="Job", namespaced=True)
        emulator.resources[PODS] = kmock.ResourceInfo(kind="Pod", namespaced=True)
        yield emulator


@pytest.fixture
async def executor(fake: kmock.KubernetesEmulator) -> AsyncIterator[KubernetesExecutor]:
    ex = KubernetesExecutor(
        CONFIG, host=str(fake.url).rstrip("/"), watch_backoff=(0.01, 0.05), request_timeout=5
    )
    yield ex
    await ex.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("k8s-watch")]


def job_path(name: str) -> str:
    return f"/apis/batch/v1/namespaces/{NS}/jobs/{name}"


def stored_job(fake: kmock.KubernetesEmulator, name: str) -> dict[str, Any]:
    return fake.objects[JOBS, NS, name].raw


def pod(job: str, phase: str = "Running", **status: Any) -> dict[str, Any]:
    """A pod of ``job`` as the Job controller would create it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{job}-x7k2p",
            "namespace": NS,
            "labels": {
                "batch.kubernetes.io/job-name": job,
                "job-name": job,
                "flageval.io/role": "evaluation",
            },
        },
        "spec": {
            "nodeName": "gpu-node-1",
            "initContainers": [{"name": "fetch-bundle"}, {"name": "model"}],
            "containers": [{"name": "runner"}],
        },
        "status": {"phase": phase, **status},
    }


def terminated(name: str, reason: str, code: int) -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {"reason": reason, "exitCode": code}}}


def failed(reason: str, message: str = "") -> dict[str, Any]:
    return {
        "conditions": [{"type": "Failed", "status": "True", "reason": reason, "message": message}]
    }


async def next_event(
    events: AsyncIterator[ExecEvent], match: Callable[[ExecEvent], bool]
) -> ExecEvent:
    async def find() -> ExecEvent:
        async for event in events:
            if match(event):
                return event
        raise AssertionError("the event stream ended")

    return await asyncio.wait_for(find(), 5)


# -- submit ---------------------------------------------------------------------------------


async def test_submit_creates_the_job(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    job = request()
    handle = await executor.submit(job)
    name = job_name(job.run_id, 1)
    assert handle == f"{NS}/{name}"

    stored = stored_job(fake, name)
    labels = stored["metadata"]["labels"]
    assert labels["flageval.io/role"] == "evaluation"
    assert labels["flageval.io/run-id"] == str(job.run_id)
    assert labels["flageval.io/evaluation-id"] == str(job.evaluation_id)
    assert labels["flageval.io/attempt"] == "1"
    assert labels["flageval.io/priority"] == "high"
    assert labels["kueue.x-k8s.io/queue-name"] == "flageval"
    assert labels["kueue.x-k8s.io/priority-class"] == "wl-high"
    assert stored["spec"]["suspend"] is True
    spec = stored["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == "flageval-high"
    assert spec["nodeSelector"] == {"gpu": "a100"}
    model = next(c for c in spec["initContainers"] if c["name"] == "model")
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert model["image"] == "user/model:1"
    # What the API server stored: the user's container holds no token and runs locked down.
    assert TOKEN not in json.dumps(model) and BUNDLE_TOKEN not in json.dumps(model)
    assert model["securityContext"]["runAsNonRoot"] is True
    assert model["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["shareProcessNamespace"] is False and spec["enableServiceLinks"] is False


async def test_submit_again_adopts_the_existing_job(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    job = request()
    handle = await executor.submit(job)
    assert await executor.submit(job) == handle  # the API answered 409
    creates = fake["post", JOBS]
    assert len(creates) == 2
    assert len([key for key in fake.objects if key[0] == JOBS]) == 1


async def test_conflict_with_another_runs_job_is_an_error(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    job = request()
    name = job_name(job.run_id, 1)
    fake.objects[JOBS, NS, name] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"flageval.io/run-id": str(uuid.uuid4()), "flageval.io/attempt": "1"},
        },
    }
    with pytest.raises(ExecutorError, match="another run") as info:
        await executor.submit(job)
    assert TOKEN not in str(info.value)


async def test_api_errors_become_executor_errors_without_secrets(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    fake["post", JOBS] << 403 << {"kind": "Status", "code": 403, "message": f"echo {TOKEN}"}
    with pytest.raises(ExecutorError, match="HTTP 403") as info:
        await executor.submit(request())
    assert TOKEN not in str(info.value) and BUNDLE_TOKEN not in str(info.value)


# -- state ----------------------------------------------------------------------------------


STATES: dict[str, tuple[dict[str, Any], list[dict[str, Any]], ExecState, str, int | None]] = {
    "complete": (
        {"conditions": [{"type": "Complete", "status": "True"}]},
        [{"phase": "Succeeded", "containerStatuses": [terminated("runner", "Completed", 0)]}],
        ExecState.SUCCEEDED,
        "",
        0,
    ),
    "oom-killed": (
        failed("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        [
            {
                "phase": "Failed",
                "containerStatuses": [terminated("runner", "Error", 1)],
                "initContainerStatuses": [
                    terminated("fetch-bundle", "Completed", 0),
                    terminated("model", "OOMKilled", 137),
                ],
            }
        ],
        ExecState.FAILED,
        "container model terminated: OOMKilled (exit code 137)",
        1,
    ),
    "runner-crash": (
        failed("BackoffLimitExceeded"),
        [{"phase": "Failed", "containerStatuses": [terminated("runner", "Error", 2)]}],
        ExecState.FAILED,
        "container runner terminated: Error (exit code 2)",
        2,
    ),
    "deadline": (
        failed("DeadlineExceeded", "Job was active longer than specified deadline"),
        [],
        ExecState.FAILED,
        "deadline of 3600 s",
        None,
    ),
    "evicted": (
        failed("BackoffLimitExceeded"),
        [{"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."}],
        ExecState.PREEMPTED,
        "Evicted",
        None,
    ),
    "preempted-running": (
        {"active": 1},
        [
            {
                "conditions": [
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "PreemptionByScheduler",
                    }
                ]
            }
        ],
        ExecState.PREEMPTED,
        "PreemptionByScheduler",
        None,
    ),
    "preempted-pod-gone": (
        failed(
            "PodFailurePolicy",
            "Pod evals/J-x7k2p has condition DisruptionTarget matching FailJob rule at index 0",
        ),
        [],
        ExecState.PREEMPTED,
        "evicted or preempted",
        None,
    ),
    "running": ({"active": 1}, [{"phase": "Running"}], ExecState.RUNNING, "", None),
    "pending": (
        {"active": 1},
        [
            {
                "phase": "Pending",
                "initContainerStatuses": [
                    {"name": "fetch-bundle", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
                ],
            }
        ],
        ExecState.PENDING,
        "container fetch-bundle waiting: ImagePullBackOff",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(STATES))
async def test_state_maps_job_and_pods(
    case: str, fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    job_status, pods, expected, message, exit_code = STATES[case]
    job = request()
    handle = await executor.submit(job)
    name = handle.split("/")[1]
    fake.objects[JOBS, NS, name].patch({"spec": {"suspend": False}, "status": job_status})
    for status in pods:
        fake.objects[PODS, NS, f"{name}-x7k2p"] = pod(name, **status)
    # A pod of another Job in the namespace must not count (the fake ignores label selectors).
    other = pod("flageval-run-other-1", phase="Failed", reason="Evicted")
    fake.objects[PODS, NS, other["metadata"]["name"]] = other

    event = await executor.state(handle)
    assert (event.run_id, event.attempt, event.handle) == (job.run_id, 1, handle)
    assert event.state == expected
    assert message in event.message
    assert event.exit_code == exit_code
    if pods:
        assert event.details == {"pod": f"{name}-x7k2p", "node": "gpu-node-1"}


async def test_suspended_job_waits_for_admission(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    event = await executor.state(await executor.submit(request()))
    assert event.state == ExecState.PENDING and "admission" in event.message


async def test_a_deleted_job_has_vanished(executor: KubernetesExecutor) -> None:
    job = request(attempt=3)
    event = await executor.state(f"{NS}/{job_name(job.run_id, 3)}")
    assert event.state == ExecState.VANISHED
    assert (event.run_id, event.attempt) == (job.run_id, 3)
    with pytest.raises(ExecutorError):
        await executor.state("not-a-handle")


# -- stop -----------------------------------------------------------------------------------


async def test_stop_deletes_and_is_idempotent(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    handle = await executor.submit(request())
    name = handle.split("/")[1]
    await executor.stop(handle)
    assert fake.objects[JOBS, NS, name].deleted
    deletes = list(fake["delete", JOBS])
    assert deletes[0].params["propagationPolicy"] == "Background"
    await executor.stop(handle)  # 404: already gone
    assert (await executor.state(handle)).state == ExecState.VANISHED


# -- events ---------------------------------------------------------------------------------


async def test_watch_reports_changes(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    await executor.start()
    events = executor.events()
    job = request()
    handle = await executor.submit(job)
    name = handle.split("/")[1]
    first = await next_event(events, lambda e: e.handle == handle)
    assert first.state == ExecState.PENDING and first.run_id == job.run_id

    await fake.post(f"/api/v1/namespaces/{NS}/pods", json=pod(name))
    await next_event(events, lambda e: e.state == ExecState.RUNNING)

    status = {"conditions": [{"type": "Complete", "status": "True"}]}
    await fake.patch(job_path(name), json={"status": status})
    done = await next_event(events, lambda e: e.state != ExecState.RUNNING)
    assert (done.state, done.handle, done.attempt) == (ExecState.SUCCEEDED, handle, 1)

    await executor.stop(handle)
    gone = await next_event(events, lambda e: e.state != ExecState.SUCCEEDED)
    assert gone.state == ExecState.VANISHED and gone.run_id == job.run_id

    await executor.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(events), 1)


async def test_watch_reconnects_after_a_drop_from_the_last_resource_version(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    bookmark = {
        "type": "BOOKMARK",
        "object": {"kind": "Job", "metadata": {"resourceVersion": "42"}},
    }
    fake[kmock.action.WATCH, JOBS][:1] << (bookmark,)  # the first watch ends after a bookmark
    handle = await executor.submit(request())
    name = handle.split("/")[1]

    await executor.start()
    events = executor.events()
    await next_event(events, lambda e: e.handle == handle)
    status = {"conditions": [{"type": "Complete", "status": "True"}]}
    await fake.patch(job_path(name), json={"status": status})
    done = await next_event(events, lambda e: e.state == ExecState.SUCCEEDED)
    assert done.handle == handle

    watches = list(fake[kmock.action.WATCH, JOBS])
    assert len(watches) >= 2
    assert watches[1].params["resourceVersion"] == "42"
    assert len(fake[kmock.action.LIST, JOBS]) == 1  # resumed, not listed again


async def test_watch_lists_again_after_410_gone(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    gate = asyncio.Event()

    async def expired_later() -> dict[str, Any]:
        await gate.wait()
        return {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}

    fake[kmock.action.WATCH, JOBS][:1] << (expired_later(),)
    handle = await executor.submit(request())

    await executor.start()
    events = executor.events()
    await next_event(events, lambda e: e.handle == handle)
    # The Job goes while the watch is away (no event); then the watch expires: 410 Gone.
    fake.objects[JOBS, NS, handle.split("/")[1]].delete()
    gate.set()
    gone = await next_event(events, lambda e: e.handle == handle)
    assert gone.state == ExecState.VANISHED
    assert len(fake[kmock.action.LIST, JOBS]) == 2


# -- logs -----------------------------------------------------------------------------------


async def test_logs_of_every_container(
    fake: kmock.KubernetesEmulator, executor: KubernetesExecutor
) -> None:
    def serve_log(req: kmock.Request) -> bytes:
        tail = req.params.get("tailLines")
        return f"{req.params['container']} line 1\n{req.params['container']} line 2 (tail {tail})\n".encode()

    fake["get", PODS, kmock.subresource("log")] << serve_log
    handle = await executor.submit(request())
    name = handle.split("/")[1]
    assert await executor.logs(handle) == ""  # no pod yet
    fake.objects[PODS, NS, f"{name}-x7k2p"] = pod(name)

    text = await executor.logs(handle, tail_lines=50)
    assert text == (
        "[fetch-bundle] fetch-bundle line 1\n"
        "[fetch-bundle] fetch-bundle line 2 (tail 50)\n"
        "[model] model line 1\n"
        "[model] model line 2 (tail 50)\n"
        "[runner] runner line 1\n"
        "[runner] runner line 2 (tail 50)\n"
    )
    requested = {r.params["container"] for r in fake["get", PODS, kmock.subresource("log")]}
    assert requested == {"fetch-bundle", "model", "runner"}

    await executor.stop(handle)
    assert await executor.logs(handle) is not None  # the pod outlives the Job for a moment
    fake.objects[PODS, NS, f"{name}-x7k2p"].delete()
    assert await executor.logs(handle) is None


# -- configuration --------------------------------------------------------------------------


async def test_from_settings_reads_the_kubeconfig(
    fake: kmock.KubernetesEmulator, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": str(fake.url).rstrip("/")}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    settings = ServiceSettings(kubeconfig=str(kubeconfig), evaluation_namespace=NS)
    executor = KubernetesExecutor.from_settings(settings)
    try:
        handle = await executor.submit(request(card_type=None))
        assert (await executor.state(handle)).state == ExecState.PENDING
        assert next(iter(fake["post", JOBS])).headers["Authorization"] == "Bearer t"
    finally:
        await executor.close()


async def test_outside_a_cluster_without_kubeconfig_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    executor = KubernetesExecutor.from_settings(ServiceSettings(kubeconfig=None))
    with pytest.raises(ExecutorError, match="no Kubernetes configuration"):
        await executor.submit(request())
    await executor.close()


async def test_an_unreachable_api_is_an_executor_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    executor = KubernetesExecutor(CONFIG, host=f"http://127.0.0.1:{port}", request_timeout=2)
    try:
        with pytest.raises(ExecutorError, match="unreachable"):
            await executor.submit(request())
        with pytest.raises(ExecutorError, match="unreachable"):
            await executor.stop(f"{NS}/{job_name(uuid.uuid4(), 1)}")
    finally:
        await executor.close()
