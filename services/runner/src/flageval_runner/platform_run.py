"""Platform mode: ``python -m flageval_runner run`` and ``fetch-bundle`` (docs/runs.md).

Configuration comes only from the environment: ``FLAGEVAL_PROGRESS_URL``, ``FLAGEVAL_RUN_ID``,
``FLAGEVAL_RUN_ATTEMPT``, ``FLAGEVAL_RUN_TOKEN``; optionally ``FLAGEVAL_MODEL_URL`` (a model
server already running beside the runner), ``FLAGEVAL_WORK_DIR`` (default: a temporary folder),
``FLAGEVAL_PROGRESS_RETRY_SECONDS`` (default 600) and ``FLAGEVAL_MODEL_STARTUP_SECONDS``
(default 1800: how long the bundle or the model server may take to answer).

``run`` fetches the spec, reports ``started``, runs every dataset serially, heartbeats, ships
its log records as ``log`` events, and reports ``finished``. Exit codes: 0 after ``finished``
was accepted (or after a stop was requested), 3 when the platform answered 401/409, 2 for a
missing variable, 143 on SIGTERM, 1 otherwise (a crash: the scheduler blames the platform).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from flageval_datasets.loader import (
    Dataset,
    DatasetError,
    demo_dataset_names,
    load_dataset,
    load_demo_dataset,
)
from flageval_runner.dataset_cache import DatasetCache, default_root, load_media_manifest
from flageval_runner.harness import predictor
from flageval_runner.progress import (
    DownloadError,
    ProgressClient,
    ProgressError,
    RunRefused,
    download_bundle,
    new_event,
)
from flageval_runner.protocols import (
    BundleServer,
    ModelClient,
    ModelError,
    NLPFuncClient,
    OpenAIChatClient,
)
from flageval_runner.sandbox import Sandbox, SandboxError, SandboxSettings
from flageval_runner.tasks import EvaluationError, evaluate_dataset, run_validation

logger = logging.getLogger(__name__)

HARNESS_DOMAINS = frozenset({"nlp", "safety"})
MAX_MESSAGE = 4000  # the channel's limit on ``error`` and ``message``
MAX_SAMPLE_TEXT = 20000  # … and on each sample row field
MAX_BATCH = 500  # … and on events per post
EXIT_REFUSED = 3
EXIT_CONFIG = 2
EXIT_TERMINATED = 128 + signal.SIGTERM


class ConfigError(Exception):
    """A required environment variable is missing or malformed."""


class PlatformFault(Exception):
    """Something the platform gave the runner is unusable (no bundle, no API endpoint, …)."""


@dataclass(frozen=True)
class PlatformEnv:
    progress_url: str
    run_id: str
    attempt: int
    token: str
    model_url: str | None = None
    work_dir: Path | None = None
    retry_seconds: float = 600.0
    model_startup_seconds: float = 1800.0

    @classmethod
    def from_environ(
        cls,
        environ: dict[str, str] | None = None,
        *,
        token_variable: str = "FLAGEVAL_RUN_TOKEN",
    ) -> PlatformEnv:
        """``token`` comes from ``token_variable``: the run token, or ``FLAGEVAL_BUNDLE_TOKEN``
        for ``fetch-bundle`` (which is never given the run token)."""
        env = dict(os.environ if environ is None else environ)
        missing = [
            name
            for name in (
                "FLAGEVAL_PROGRESS_URL",
                "FLAGEVAL_RUN_ID",
                "FLAGEVAL_RUN_ATTEMPT",
                token_variable,
            )
            if not env.get(name)
        ]
        if missing:
            raise ConfigError(f"missing environment variables: {', '.join(missing)}")
        try:
            attempt = int(env["FLAGEVAL_RUN_ATTEMPT"])
            retry = float(env.get("FLAGEVAL_PROGRESS_RETRY_SECONDS") or 600)
            startup = float(env.get("FLAGEVAL_MODEL_STARTUP_SECONDS") or 1800)
        except ValueError as exc:
            raise ConfigError(f"malformed environment variable: {exc}") from exc
        work_dir = env.get("FLAGEVAL_WORK_DIR")
        return cls(
            progress_url=env["FLAGEVAL_PROGRESS_URL"],
            run_id=env["FLAGEVAL_RUN_ID"],
            attempt=attempt,
            token=env[token_variable],
            model_url=env.get("FLAGEVAL_MODEL_URL") or None,
            work_dir=Path(work_dir) if work_dir else None,
            retry_seconds=retry,
            model_startup_seconds=startup,
        )

    def client(self) -> ProgressClient:
        return ProgressClient(
            self.progress_url, self.run_id, self.token, retry_seconds=self.retry_seconds
        )


# ---------------------------------------------------------------- log shipping


class LogShipper(logging.Handler):
    """Buffers formatted log records (thread-safe); :meth:`flush_to` posts them as ``log``
    events with an increasing ``seq``. Records of the progress client itself are not shipped
    (they describe the channel's own trouble). At most ``max_lines`` wait; older ones are
    dropped and counted."""

    def __init__(self, *, max_lines: int = 20000, batch: int = 500, line_limit: int = 4000):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.max_lines = max_lines
        self.batch = batch
        self.line_limit = line_limit
        self.enabled = True
        self.seq = 0
        self.dropped = 0
        #: (host path, what the user reads instead): logs never show the runner's own paths.
        self.path_names: list[tuple[str, str]] = []
        self._lines: deque[str] = deque()
        self._guard = threading.Lock()
        self._posting = asyncio.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.enabled or record.name.startswith("flageval_runner.progress"):
            return
        try:
            text = self.format(record)
        except Exception:  # pragma: no cover - a broken record must not kill the run
            self.handleError(record)
            return
        for host, shown in self.path_names:
            text = text.replace(host, shown)
        with self._guard:
            for line in text.splitlines() or [""]:
                if len(line) > self.line_limit:
                    line = line[: self.line_limit] + "…"
                self._lines.append(line)
            while len(self._lines) > self.max_lines:
                self._lines.popleft()
                self.dropped += 1

    def _take(self) -> list[str]:
        with self._guard:
            lines: list[str] = []
            if self.dropped:
                lines.append(f"[{self.dropped} log lines dropped while the platform was away]")
                self.dropped = 0
            while self._lines and len(lines) < self.batch:
                lines.append(self._lines.popleft())
            return lines

    async def flush_to(self, client: ProgressClient) -> None:
        """Post everything buffered now, in batches."""
        async with self._posting:
            while True:
                lines = self._take()
                if not lines:
                    return
                self.seq += 1
                await client.post("log", seq=self.seq, lines=lines)


def setup_platform_logging(shipper: LogShipper) -> None:
    """Records go to ``shipper`` only (not stdout); the bundle's output lines (DEBUG records of
    the BundleServer) included; the progress client's own warnings go to stderr; httpx's
    per-request records (URLs with presigned signatures) are not recorded."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(shipper)
    root.setLevel(logging.INFO)
    logging.getLogger("flageval_runner.protocols.nlp_func").setLevel(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    progress_logger = logging.getLogger("flageval_runner.progress")
    progress_logger.propagate = False
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    progress_logger.addHandler(stderr)


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | failed
    failure_cause: str | None = None  # user | platform
    message: str = ""


async def wait_for_model(base_url: str, wait_seconds: float) -> None:
    """Wait until ``{base_url}/func`` answers HTTP at all (a model server beside the runner)."""
    deadline = time.monotonic() + wait_seconds
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        while True:
            try:
                await http.get(f"{base_url.rstrip('/')}/func")
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise ModelError(
                        f"the model server at {base_url} did not answer within {wait_seconds:g}s"
                    ) from None
                await asyncio.sleep(1.0)


class PlatformRun:
    """One attempt of one run, driven by its spec."""

    concurrency = 8
    model_timeout = 60.0

    def __init__(
        self, client: ProgressClient, spec: dict[str, Any], env: PlatformEnv, shipper: LogShipper
    ) -> None:
        self.client = client
        self.spec = spec
        self.env = env
        self.shipper = shipper
        self.work_dir = env.work_dir
        self._temp_work_dir = False
        self._model: ModelClient | None = None
        self._server: BundleServer | None = None
        generation = spec.get("generation") or {}
        self.max_new_tokens = int(generation.get("max_new_tokens") or 64)
        self.seed = int(generation.get("seed") or 0)
        self.heartbeat_seconds = max(0.1, float(spec.get("heartbeat_seconds") or 10))

    # -- the attempt ------------------------------------------------------------------------
    async def execute(self) -> int:
        """Report ``started``, run, report ``finished``; see the module docstring for codes."""
        loop = asyncio.get_running_loop()
        terminate = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, terminate.set)
        await self.client.post("started")
        work = asyncio.create_task(self.work(), name="work")
        watchers = [
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._flush_loop(), name="log-flush"),
            asyncio.create_task(self.client.stop_requested.wait(), name="stop"),
            asyncio.create_task(terminate.wait(), name="sigterm"),
        ]
        try:
            await asyncio.wait([work, *watchers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
        if self.client.stop_requested.is_set() or terminate.is_set():
            self.shipper.enabled = False
            await _cancel(work)
            logger.info("stop requested" if not terminate.is_set() else "terminated")
            return EXIT_TERMINATED if terminate.is_set() else 0
        for task in watchers:  # a heartbeat or log post that failed for good (401/409, …)
            error = None if task.cancelled() else task.exception()
            if error is not None:
                await _cancel(work)
                raise error
        outcome = work.result()  # re-raises RunRefused / ProgressError from the work's posts
        logger.info("run %s: %s %s", outcome.status, outcome.failure_cause or "", outcome.message)
        await self.shipper.flush_to(self.client)
        self.shipper.enabled = False
        await self.client.post(
            "finished",
            status=outcome.status,
            failure_cause=outcome.failure_cause,
            message=clip(outcome.message, MAX_MESSAGE),
        )
        return 0

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await self.client.post("heartbeat")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.shipper.flush_to(self.client)

    async def work(self) -> Outcome:
        """Every dataset of the spec, serially; the first failure skips the rest."""
        datasets: list[dict[str, Any]] = list(self.spec.get("datasets") or [])
        domain = str(self.spec.get("domain") or "nlp")
        logger.info(
            "run %s attempt %s: %s %s run, %d datasets",
            self.env.run_id,
            self.env.attempt,
            domain,
            self.spec.get("kind"),
            len(datasets),
        )
        if domain not in HARNESS_DOMAINS:
            error = f"this runner build has no {domain} harness yet"
            outcome = Outcome("failed", "platform", error)
            try:
                for entry in datasets:
                    await self.client.post("dataset_started", **_ids(entry))
                    # Media data is fetched and verified even so: what a harness would read.
                    problem = await self._verify_media(entry)
                    if problem is not None and outcome.message == error:
                        outcome = Outcome(
                            "failed", "platform", f"dataset {entry['dataset']}: {problem}"
                        )
                    await self._dataset_finished(entry, "failed", error=problem or error)
            finally:
                await self._close_model()  # also removes a temporary work folder
            return outcome
        try:
            for i, entry in enumerate(datasets):
                await self.client.post("dataset_started", **_ids(entry))
                failure = await self._one(entry)
                if failure is not None:
                    cause, error = failure
                    logger.error("dataset %s failed (%s): %s", entry["dataset"], cause, error)
                    await self._dataset_finished(entry, "failed", error=error)
                    rest = datasets[i + 1 :]
                    for start in range(0, len(rest), MAX_BATCH):
                        await self.client.post_events(
                            [
                                _event_finished(e, "skipped", error=None)
                                for e in rest[start : start + MAX_BATCH]
                            ]
                        )
                    return Outcome("failed", cause, f"dataset {entry['dataset']}: {error}")
            return Outcome("succeeded")
        finally:
            await self._close_model()

    async def _dataset_finished(
        self,
        entry: dict[str, Any],
        status: str,
        *,
        metrics: dict[str, float] | None = None,
        error: str | None = None,
        data: dict[str, str] | None = None,
    ) -> None:
        """Report one dataset's end; ``data`` names the data evaluated (card version and
        content sha256) for the reproducibility card."""
        event = _event_finished(entry, status, metrics, error)
        event.update({k: v for k, v in (data or {}).items() if v})
        await self.client.post_events([event])

    async def _one(self, entry: dict[str, Any]) -> tuple[str, str] | None:
        """Run one dataset and report its success; return ``(cause, error)`` on failure."""
        name = str(entry["dataset"])
        source = entry.get("source")
        if source is None:
            return "platform", f"the platform has no data for dataset {name}"
        try:
            dataset = await self._load(source, name)
        except (DatasetError, DownloadError, PlatformFault, OSError, KeyError) as exc:
            return "platform", f"could not load dataset {name}: {exc}"
        try:
            model = await self._model_client()
        except ModelError as exc:
            return "user", str(exc)
        except (DownloadError, PlatformFault, SandboxError) as exc:
            return "platform", str(exc)
        predict = predictor(model, dataset, self.max_new_tokens)
        try:
            if self.spec.get("kind") == "validation":
                k = min(3, max(1, int(self.spec.get("validation_samples") or 3)))
                _, rows = await run_validation(dataset, predict, k=k, concurrency=self.concurrency)
                await self.client.post(
                    "samples",
                    **_ids(entry),
                    rows=[
                        {
                            "id": r["ID"],
                            "sample": clip(r["Sample"], MAX_SAMPLE_TEXT),
                            "label": clip(r["Label"], MAX_SAMPLE_TEXT),
                            "predict": clip(r["Predict"], MAX_SAMPLE_TEXT),
                        }
                        for r in rows
                    ],
                )
                metrics: dict[str, float] = {}
            else:
                result = await evaluate_dataset(
                    dataset,
                    predict,
                    robustness=bool(self.spec.get("robustness")),
                    concurrency=self.concurrency,
                    seed=self.seed,
                )
                await self.client.put_predictions(name, result.predictions_jsonl())
                metrics = {k: float(v) for k, v in result.metrics.items()}
                logger.info("dataset %s: %s", name, metrics or "human evaluation")
        except ProgressError:
            raise
        except EvaluationError as exc:
            cause = "user" if isinstance(exc.__cause__, ModelError) else "platform"
            return cause, str(exc)
        except ModelError as exc:
            return "user", str(exc)
        except Exception as exc:  # a runner bug: the platform's fault, not the user's
            logger.exception("dataset %s: runner error", name)
            return "platform", f"runner error: {type(exc).__name__}: {exc}"
        await self._dataset_finished(
            entry,
            "succeeded",
            metrics=metrics,
            data={
                "dataset_version": dataset.card.version,
                "dataset_sha256": dataset.content_sha256,
            },
        )
        return None

    async def _load(self, source: dict[str, Any], name: str) -> Dataset:
        kind = source.get("type")
        if kind == "demo":
            demo = str(source.get("name") or name)
            if demo not in demo_dataset_names():
                raise PlatformFault(f"this runner build ships no demo dataset {demo!r}")
            return load_demo_dataset(demo)
        if kind == "url":
            card = await self.client.download(str(source["card_url"]), f"card of {name}")
            data = await self.client.download(str(source["data_url"]), f"data of {name}")
            return load_dataset(card, data)
        raise PlatformFault(f"unknown dataset source type {kind!r}")

    async def _verify_media(self, entry: dict[str, Any]) -> str | None:
        """Fetch a media dataset into the per-version cache, verifying every file, and load
        its manifest; the problem (naming the file) when that fails, else None."""
        source = entry.get("source")
        if not isinstance(source, dict) or source.get("type") != "media":
            return None
        name = str(entry["dataset"])
        cache = DatasetCache(default_root(self._work_dir()))
        try:
            cached = await cache.fetch(self.client, name, source)
            loaded = await asyncio.to_thread(load_media_manifest, cached)
        except (DownloadError, DatasetError, OSError) as exc:
            logger.error("dataset %s: %s", name, exc)
            return f"could not load dataset {name}: {exc}"
        if loaded.content_sha256 != cached.content_sha256:
            return (
                f"could not load dataset {name}: its content sha256 is "
                f"{loaded.content_sha256}, the spec pins {cached.content_sha256}"
            )
        logger.info("dataset %s: manifest loaded, %d items", name, len(loaded.items))
        return None

    async def _model_client(self) -> ModelClient:
        """The model under evaluation, started on first use."""
        if self._model is not None:
            return self._model
        mode = self.spec.get("deploy_mode") or "private"
        if mode == "api":
            api = self.spec.get("api") or {}
            if not api.get("endpoint"):
                raise PlatformFault("the spec of this API run has no endpoint")
            self._model = OpenAIChatClient(
                str(api["endpoint"]),
                model_name=str(api.get("model_name") or ""),
                api_key=api.get("api_key") or None,
                concurrency=self.concurrency,
                timeout=self.model_timeout,
            )
        elif self.env.model_url:
            logger.info("waiting for the model server at %s", self.env.model_url)
            await wait_for_model(self.env.model_url, self.env.model_startup_seconds)
            self._model = NLPFuncClient(
                self.env.model_url, concurrency=self.concurrency, timeout=self.model_timeout
            )
        else:
            bundle = self.spec.get("bundle")
            if not bundle:
                raise PlatformFault("the spec of this private run has no bundle")
            # Every file's sha256 is checked against the pinned list before the model starts.
            dest = await download_bundle(self.client, bundle, self._work_dir() / "bundle")
            sandbox = Sandbox(SandboxSettings.from_environ(), self._work_dir() / "sandbox")
            self._server = BundleServer(
                dest,
                startup_timeout=self.env.model_startup_seconds,
                stop_timeout=3.0,
                sandbox=sandbox,
            )
            base_url = await self._server.start()
            self._model = NLPFuncClient(
                base_url, concurrency=self.concurrency, timeout=self.model_timeout
            )
        return self._model

    def _work_dir(self) -> Path:
        if self.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="flageval-run-"))
            self._temp_work_dir = True
        self.work_dir.mkdir(parents=True, exist_ok=True)
        name = (str(self.work_dir.resolve()), "<work>")
        if name not in self.shipper.path_names:
            self.shipper.path_names.insert(0, name)
        return self.work_dir

    async def _close_model(self) -> None:
        model, server = self._model, self._server
        self._model = self._server = None
        try:
            if model is not None:
                await model.aclose()
        finally:
            if server is not None:
                await asyncio.shield(server.stop())
            if self._temp_work_dir and self.work_dir is not None:
                shutil.rmtree(self.work_dir, ignore_errors=True)


def _ids(entry: dict[str, Any]) -> dict[str, str]:
    return {"task": str(entry["task"]), "dataset": str(entry["dataset"])}


def _event_finished(
    entry: dict[str, Any],
    status: str,
    metrics: dict[str, float] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    return new_event(
        "dataset_finished",
        **_ids(entry),
        status=status,
        metrics=metrics or {},
        error=None if error is None else clip(error, MAX_MESSAGE),
    )


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (marked with an ellipsis)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


# ---------------------------------------------------------------- entry points


async def _run(env: PlatformEnv, shipper: LogShipper) -> int:
    client = env.client()
    try:
        spec = await client.spec()
        return await PlatformRun(client, spec, env, shipper).execute()
    except RunRefused as exc:
        shipper.enabled = False
        print(f"runner: {exc}; exiting", file=sys.stderr)
        return EXIT_REFUSED
    except ProgressError as exc:
        shipper.enabled = False
        print(f"runner: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()


def run_command() -> int:
    """``python -m flageval_runner run``."""
    try:
        env = PlatformEnv.from_environ()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # Only this process holds the token: nothing it starts inherits it (user code runs in the
    # sandbox with an environment of its own anyway).
    os.environ.pop("FLAGEVAL_RUN_TOKEN", None)
    shipper = LogShipper()
    shipper.path_names.append((sys.prefix, "<runner>"))
    setup_platform_logging(shipper)
    return asyncio.run(_run(env, shipper))


async def _fetch(env: PlatformEnv, dest: Path) -> int:
    # The bundle token reads the bundle's file list and nothing else (no spec, no reports).
    client = ProgressClient.for_bundle(
        env.progress_url, env.run_id, env.token, retry_seconds=env.retry_seconds
    )
    try:
        bundle = await client.bundle()
        await download_bundle(client, bundle, dest)
        return 0
    except RunRefused as exc:
        print(f"fetch-bundle: {exc}; exiting", file=sys.stderr)
        return EXIT_REFUSED
    except (DownloadError, ProgressError) as exc:
        print(f"fetch-bundle: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()


def fetch_bundle_command(dest: str) -> int:
    """``python -m flageval_runner fetch-bundle --dest DIR`` (the Kubernetes init step), with
    ``FLAGEVAL_BUNDLE_TOKEN`` in place of the run token."""
    try:
        env = PlatformEnv.from_environ(token_variable="FLAGEVAL_BUNDLE_TOKEN")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return asyncio.run(_fetch(env, Path(dest)))
