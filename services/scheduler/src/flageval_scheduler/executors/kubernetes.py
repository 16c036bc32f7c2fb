"""The ``kubernetes`` executor: one ``batch/v1`` Job per run attempt (SPEC §7).

The handle is ``<namespace>/<job-name>``; the Job name encodes the run id and attempt
(:func:`~flageval_scheduler.executors.manifests.job_name`), so even a Job that is gone maps back
to its run. A background list+watch of the namespace's evaluation Jobs and pods (label
``flageval.io/role=evaluation``) feeds :meth:`KubernetesExecutor.events`; it resumes from the last
``resourceVersion`` after a drop and lists again after a ``410 Gone``.

Errors never carry the manifest or the API's response body: the Job spec holds the run's
progress and bundle tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors.base import (
    ExecEvent,
    ExecState,
    Executor,
    ExecutorError,
    JobRequest,
)
from flageval_scheduler.executors.manifests import (
    CONTAINER_FETCH,
    CONTAINER_MODEL,
    CONTAINER_RUNNER,
    LABEL_ATTEMPT,
    LABEL_ROLE,
    LABEL_RUN_ID,
    ROLE_EVALUATION,
    KubernetesConfig,
    build_job,
    parse_job_name,
)

log = logging.getLogger(__name__)

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
_CONTAINER_ORDER = {CONTAINER_RUNNER: 0, CONTAINER_FETCH: 1, CONTAINER_MODEL: 2}

Obj = Mapping[str, Any]


# -- state mapping (pure functions over the API's JSON) ---------------------------------------


def _conditions(obj: Obj) -> dict[str, Obj]:
    """The object's status conditions that are ``True``, by type."""
    return {
        c.get("type", ""): c
        for c in (obj.get("status") or {}).get("conditions") or []
        if c.get("status") == "True"
    }


def _labels(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def pod_disrupted(pod: Obj) -> bool:
    """Whether the cluster evicted or preempted the pod (not the code failing)."""
    status = pod.get("status") or {}
    return status.get("reason") in {"Evicted", "Preempting"} or "DisruptionTarget" in _conditions(
        pod
    )


def _container_statuses(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    statuses = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    return sorted(statuses, key=lambda s: _CONTAINER_ORDER.get(s.get("name", ""), 9))


def _termination(pods: Iterable[Obj]) -> tuple[str, int | None]:
    """A short account of the most telling abnormal container end (an OOM kill first, then the
    runner, the bundle fetch, the model), and the runner's exit code when it ended."""
    runner_exit: int | None = None
    found: list[tuple[int, str]] = []
    for pod in pods:
        for cs in _container_statuses(pod):
            name = cs.get("name", "?")
            rank = _CONTAINER_ORDER.get(name, 9)
            for key in ("state", "lastState"):
                terminated = (cs.get(key) or {}).get("terminated")
                if not terminated:
                    continue
                code = terminated.get("exitCode")
                reason = terminated.get("reason") or "Error"
                if name == CONTAINER_RUNNER and key == "state":
                    runner_exit = code
                if code != 0 or reason == "OOMKilled":
                    found.append(
                        (
                            -1 if reason == "OOMKilled" else rank,
                            f"container {name} terminated: {reason} (exit code {code})",
                        )
                    )
                break
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") not in (None, "PodInitializing", "ContainerCreating"):
                found.append((10 + rank, f"container {name} waiting: {waiting['reason']}"))
    return (min(found)[1] if found else ""), runner_exit


def job_state(job: Obj, pods: Iterable[Obj]) -> tuple[ExecState, str, int | None]:
    """What a Job and its pods mean for the attempt: state, message, runner exit code."""
    pods = list(pods)
    conditions = _conditions(job)
    spec = job.get("spec") or {}
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        _, code = _termination(pods)
        return ExecState.SUCCEEDED, "", code if code is not None else 0
    failed = conditions.get("Failed") or conditions.get("FailureTarget")
    disrupted = [p for p in pods if pod_disrupted(p)]
    if failed is not None:
        reason = failed.get("reason") or ""
        message = failed.get("message") or ""
        if reason == "DeadlineExceeded":
            deadline = spec.get("activeDeadlineSeconds")
            return ExecState.FAILED, f"the run exceeded its deadline of {deadline} s", None
        if disrupted or (reason == "PodFailurePolicy" and "DisruptionTarget" in message):
            return ExecState.PREEMPTED, _disruption_message(disrupted), None
        detail, code = _termination(pods)
        return ExecState.FAILED, detail or f"job failed: {reason or 'unknown reason'}", code
    if disrupted:
        return ExecState.PREEMPTED, _disruption_message(disrupted), None
    if any((p.get("status") or {}).get("phase") == "Running" for p in pods):
        return ExecState.RUNNING, "", None
    detail, _ = _termination(pods)
    if not detail and spec.get("suspend"):
        detail = "waiting for admission"
    return ExecState.PENDING, detail, None


def _disruption_message(pods: Sequence[Obj]) -> str:
    for pod in pods:
        status = pod.get("status") or {}
        condition = _conditions(pod).get("DisruptionTarget") or {}
        reason = status.get("reason") or condition.get("reason")
        if reason:
            return f"pod {pod.get('metadata', {}).get('name', '?')} was disrupted: {reason}"
    return "the pod was evicted or preempted"


def _job_name_of_pod(pod: Obj) -> str | None:
    labels = _labels(pod)
    for key in JOB_NAME_LABELS:
        if labels.get(key):
            return labels[key]
    for owner in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("kind") == "Job":
            return str(owner.get("name"))
    return None


def _run_of(obj: Obj) -> tuple[uuid.UUID, int] | None:
    labels = _labels(obj)
    try:
        return uuid.UUID(labels[LABEL_RUN_ID]), int(labels[LABEL_ATTEMPT])
    except (KeyError, ValueError):
        return parse_job_name((obj.get("metadata") or {}).get("name", ""))


def _short(exc: ApiException) -> str:
    """An API error without its body (which may echo the manifest and its token)."""
    return f"HTTP {exc.status} {exc.reason or ''}".strip()


# -- the executor -----------------------------------------------------------------------------


class KubernetesExecutor(Executor):
    """Run attempts as ``batch/v1`` Jobs through the Kubernetes API (kubernetes-asyncio)."""

    name = "kubernetes"

    def __init__(
        self,
        config: KubernetesConfig,
        *,
        api_client: k8s.ApiClient | None = None,
        kubeconfig: str | None = None,
        host: str | None = None,
        watch_timeout_seconds: int = 300,
        watch_backoff: tuple[float, float] = (0.5, 15.0),
        request_timeout: float = 30.0,
        log_limit_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        """``api_client`` (kept open by its owner), else ``host`` (an unauthenticated API
        server, for tests), else ``kubeconfig``, else the in-cluster service account."""
        self.config = config
        self._api: k8s.ApiClient | None = api_client
        self._owns_api = api_client is None
        self._kubeconfig = kubeconfig
        self._host = host
        self._api_lock = asyncio.Lock()
        self._watch_timeout = watch_timeout_seconds
        self._backoff = watch_backoff
        self._request_timeout = request_timeout
        self._log_limit = log_limit_bytes
        self._queue: asyncio.Queue[ExecEvent | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._jobs: dict[str, dict[str, Any]] = {}
        self._pods: dict[str, dict[str, Any]] = {}
        self._last: dict[str, tuple[ExecState, str]] = {}

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KubernetesExecutor:
        """From ``FLAGEVAL_KUBECONFIG`` when set, else the in-cluster service account."""
        return cls(KubernetesConfig.from_settings(settings), kubeconfig=settings.kubeconfig)

    # -- connection ----------------------------------------------------------------------------

    async def _client(self) -> k8s.ApiClient:
        if self._api is not None:
            return self._api
        async with self._api_lock:
            if self._api is None:
                configuration = type.__call__(k8s.Configuration)
                try:
                    if self._host is not None:
                        configuration.host = self._host
                    elif self._kubeconfig is not None:
                        await k8s_config.load_kube_config(
                            config_file=self._kubeconfig,
                            client_configuration=configuration,
                            persist_config=False,
                        )
                    else:
                        k8s_config.load_incluster_config(client_configuration=configuration)
                except (k8s_config.ConfigException, OSError) as exc:
                    raise ExecutorError(
                        f"no Kubernetes configuration: {type(exc).__name__}"
                    ) from None
                self._api = k8s.ApiClient(configuration)
            return self._api

    async def _batch(self) -> k8s.BatchV1Api:
        return k8s.BatchV1Api(await self._client())

    async def _core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(await self._client())

    async def _call(
        self, method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> bytes:
        """Call an API method and return the raw body: the JSON is read as is, not through the
        client's models (which reject fields they do not know or miss)."""
        try:
            response = await method(
                *args, _preload_content=False, _request_timeout=self._request_timeout, **kwargs
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ExecutorError(
                f"the Kubernetes API is unreachable: {type(exc).__name__}"
            ) from None
        try:
            body: bytes = await response.read()
            if not 200 <= response.status <= 299:
                raise ApiException(status=response.status, reason=response.reason)
            return body
        finally:
            response.release()

    async def _json(self, method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        body = await self._call(method, *args, **kwargs)
        try:
            return json.loads(body)
        except ValueError:
            raise ExecutorError("the Kubernetes API answered something other than JSON") from None

    def _split(self, handle: str) -> tuple[str, str, uuid.UUID, int]:
        namespace, _, name = handle.partition("/")
        parsed = parse_job_name(name)
        if not namespace or parsed is None:
            raise ExecutorError(f"not a kubernetes job handle: {handle!r}")
        return namespace, name, parsed[0], parsed[1]

    # -- Executor ------------------------------------------------------------------------------

    async def submit(self, job: JobRequest) -> str:
        manifest = build_job(job, self.config)
        namespace = manifest["metadata"]["namespace"]
        name = manifest["metadata"]["name"]
        handle = f"{namespace}/{name}"
        batch = await self._batch()
        try:
            await self._call(batch.create_namespaced_job, namespace, manifest)
            log.info("created job %s (run %s attempt %d)", handle, job.run_id, job.attempt)
            return handle
        except ApiException as exc:
            if exc.status != 409:
                raise ExecutorError(f"creating job {handle} failed: {_short(exc)}") from None
        try:
            existing = await self._json(batch.read_namespaced_job, name, namespace)
        except ApiException as exc:
            raise ExecutorError(
                f"job {handle} exists but could not be read: {_short(exc)}"
            ) from None
        labels = _labels(existing)
        if labels.get(LABEL_RUN_ID) != str(job.run_id) or labels.get(LABEL_ATTEMPT) != str(
            job.attempt
        ):
            raise ExecutorError(f"job {handle} exists and belongs to another run attempt")
        log.info("job %s exists already; adopted", handle)
        return handle

    async def stop(self, handle: str) -> None:
        namespace, name, _, _ = self._split(handle)
        batch = await self._batch()
        try:
            await self._call(
                batch.delete_namespaced_job, name, namespace, propagation_policy="Background"
            )
            log.info("deleted job %s", handle)
        except ApiException as exc:
            if exc.status != 404:
                raise ExecutorError(f"deleting job {handle} failed: {_short(exc)}") from None

    async def state(self, handle: str) -> ExecEvent:
        namespace, name, run_id, attempt = self._split(handle)
        batch = await self._batch()
        try:
            job = await self._json(batch.read_namespaced_job, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return ExecEvent(run_id, attempt, handle, ExecState.VANISHED, "the job is gone")
            raise ExecutorError(f"reading job {handle} failed: {_short(exc)}") from None
        pods = await self._job_pods(namespace, name)
        state, message, code = job_state(job, pods)
        return ExecEvent(run_id, attempt, handle, state, message, code, _details(pods))

    async def logs(self, handle: str, *, tail_lines: int | None = None) -> str | None:
        namespace, name, _, _ = self._split(handle)
        pods = await self._job_pods(namespace, name)
        if not pods:
            try:
                await self._call((await self._batch()).read_namespaced_job, name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise ExecutorError(f"reading job {handle} failed: {_short(exc)}") from None
            return ""
        core = await self._core()
        out: list[str] = []
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            spec = pod.get("spec") or {}
            containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
            for container in containers:
                cname = container.get("name", "?")
                kwargs: dict[str, Any] = {"container": cname, "limit_bytes": self._log_limit}
                if tail_lines is not None:
                    kwargs["tail_lines"] = tail_lines
                try:
                    raw = await self._call(
                        core.read_namespaced_pod_log, pod_name, namespace, **kwargs
                    )
                except ApiException as exc:
                    if exc.status in (400, 404):  # not started yet, or gone meanwhile
                        continue
                    raise ExecutorError(f"reading logs of {handle} failed: {_short(exc)}") from None
                text = raw.decode("utf-8", errors="replace")
                out.extend(f"[{cname}] {line}" for line in text.splitlines())
        return "\n".join(out) + ("\n" if out else "")

    async def _job_pods(self, namespace: str, name: str) -> list[dict[str, Any]]:
        core = await self._core()
        try:
            listing = await self._json(
                core.list_namespaced_pod, namespace, label_selector=f"job-name={name}"
            )
        except ApiException as exc:
            raise ExecutorError(
                f"listing pods of {namespace}/{name} failed: {_short(exc)}"
            ) from None
        # Filtered here as well: the selector is a hint some API servers (and fakes) ignore.
        pods = [p for p in listing.get("items") or [] if _job_name_of_pod(p) == name]
        return sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")

    # -- events --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._watch_loop("jobs"), name="k8s-watch-jobs"),
            asyncio.create_task(self._watch_loop("pods"), name="k8s-watch-pods"),
        ]

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._queue.put_nowait(None)
        if self._owns_api and self._api is not None:
            await self._api.close()
            self._api = None

    async def events(self) -> AsyncIterator[ExecEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def _lister(self, kind: str) -> Callable[..., Awaitable[Any]]:
        if kind == "jobs":
            return (await self._batch()).list_namespaced_job
        return (await self._core()).list_namespaced_pod

    async def _watch_loop(self, kind: str) -> None:
        """List, then watch from the list's resourceVersion; resume after a drop, list again
        after 410 Gone, back off after errors."""
        namespace = self.config.namespace
        selector = f"{LABEL_ROLE}={ROLE_EVALUATION}"
        version: str | None = None
        delay = self._backoff[0]
        while True:
            try:
                lister = await self._lister(kind)
                if version is None:
                    listing = await self._json(lister, namespace, label_selector=selector)
                    version = (listing.get("metadata") or {}).get("resourceVersion") or ""
                    self._relisted(kind, listing.get("items") or [])
                response = await lister(
                    namespace,
                    label_selector=selector,
                    watch="true",  # lowercase: what the API (and its fakes) expect
                    allow_watch_bookmarks="true",
                    resource_version=version or None,
                    timeout_seconds=self._watch_timeout,
                    _preload_content=False,
                    _request_timeout=self._watch_timeout + 30,
                )
                try:
                    if response.status == 410:
                        version = None
                        continue
                    if response.status != 200:
                        raise ApiException(status=response.status, reason=response.reason)
                    async for event in _json_lines(response.content):
                        kind_of_event = event.get("type")
                        obj = event.get("object") or {}
                        if kind_of_event == "ERROR":
                            if obj.get("code") == 410:
                                version = None
                                break
                            raise ApiException(status=obj.get("code"), reason=obj.get("reason"))
                        version = (obj.get("metadata") or {}).get("resourceVersion") or version
                        if kind_of_event in ("ADDED", "MODIFIED", "DELETED"):
                            self._observed(kind, kind_of_event, obj)
                        delay = self._backoff[0]
                    else:
                        # The server ended the watch (its timeout): resume after a breath.
                        await asyncio.sleep(self._backoff[0])
                finally:
                    response.release()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API or the connection failed: retry after a pause
                reason = _short(exc) if isinstance(exc, ApiException) else type(exc).__name__
                log.warning("watching %s in %s failed (%s); retrying", kind, namespace, reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])

    def _relisted(self, kind: str, items: list[dict[str, Any]]) -> None:
        """A fresh list replaces what the watch knew; Jobs missing from it are gone."""
        fresh = {item["metadata"]["name"]: item for item in items if item.get("metadata")}
        if kind == "jobs":
            for name, job in list(self._jobs.items()):
                if name not in fresh:
                    self._observed("jobs", "DELETED", job)
            for job in fresh.values():
                self._observed("jobs", "ADDED", job)
        else:
            self._pods = {}
            for pod in fresh.values():
                self._observed("pods", "ADDED", pod)

    def _observed(self, kind: str, change: str, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            return
        if kind == "pods":
            if change == "DELETED":
                self._pods.pop(name, None)
            else:
                self._pods[name] = obj
            job_name = _job_name_of_pod(obj)
            if job_name and job_name in self._jobs:
                self._emit(self._jobs[job_name])
            return
        if change == "DELETED":
            self._jobs.pop(name, None)
            self._emit(obj, vanished=True)
        else:
            self._jobs[name] = obj
            self._emit(obj)

    def _emit(self, job: Obj, *, vanished: bool = False) -> None:
        meta = job.get("metadata") or {}
        name = meta.get("name", "")
        run = _run_of(job)
        if run is None:
            return
        handle = f"{meta.get('namespace') or self.config.namespace}/{name}"
        pods = [p for p in self._pods.values() if _job_name_of_pod(p) == name]
        if vanished:
            state, message, code = ExecState.VANISHED, "the job was deleted", None
            self._last.pop(handle, None)
        else:
            state, message, code = job_state(job, pods)
            if self._last.get(handle) == (state, message):
                return
            self._last[handle] = (state, message)
        self._queue.put_nowait(
            ExecEvent(run[0], run[1], handle, state, message, code, _details(pods))
        )


def _details(pods: Sequence[Obj]) -> dict[str, str]:
    if not pods:
        return {}
    pod = pods[-1]
    details = {"pod": str((pod.get("metadata") or {}).get("name", ""))}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        details["node"] = str(node)
    return details


async def _json_lines(stream: Any) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of a watch stream, one per line (lines of any length)."""
    buffer = b""
    async for chunk in stream.iter_any():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)
