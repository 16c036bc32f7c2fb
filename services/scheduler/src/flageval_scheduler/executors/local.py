"""The ``local`` executor: each run attempt is a runner subprocess on this machine.

Layout under ``data_dir/runs/<run_id>/``: ``attempt-N.json`` (pid, process start time, run id,
attempt), ``attempt-N.log`` (stdout+stderr), ``attempt-N.exit`` (the exit code, written by a
small ``sh`` wrapper so it survives the platform's death) and ``attempt-N/`` (the runner's
work folder). The handle is ``runs/<run_id>/attempt-N.json``: a restarted platform finds the
process again by pid *and* start time (``/proc/<pid>/stat`` field 22), so a recycled pid is
never mistaken for the runner. Each runner gets its own session/process group: ``stop`` kills
the whole group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors.base import (
    ExecEvent,
    ExecState,
    Executor,
    ExecutorError,
    JobRequest,
)

# Runs the command, then records its exit code atomically. TERM is trapped (a trap with a
# command is reset in the child), so on ``stop`` the wrapper outlives the runner long enough
# to record the runner's code.
WRAPPER = (
    'exit_file=$1; shift; trap : TERM; "$@"; code=$?; '
    'echo $code > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"; exit $code'
)
# Only these of the platform's variables reach the runner (never database, broker, S3, SMTP
# credentials or the platform secret).
PASSED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
)
EXIT_REFUSED = 3
log = logging.getLogger(__name__)
_HANDLE = re.compile(r"^runs/([0-9a-fA-F-]{36})/attempt-([0-9]+)\.json$")


def process_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a live, non-zombie ``pid``; ``None`` otherwise."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # after "pid (comm) ": field 3 onwards
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # field 22


def _alive(record: dict[str, Any]) -> bool:
    start = process_start_time(int(record["pid"]))
    return start is not None and start == record.get("start_time")


def _parse_handle(handle: str) -> tuple[uuid.UUID, int] | None:
    m = _HANDLE.fullmatch(handle)
    if not m:
        return None
    try:
        return uuid.UUID(m.group(1)), int(m.group(2))
    except ValueError:
        return None


class LocalExecutor(Executor):
    """Runner subprocesses in their own process groups, output captured under ``data_dir``."""

    name = "local"

    def __init__(
        self,
        data_dir: Path,
        command: list[str] | None = None,
        *,
        poll_seconds: float = 1.0,
        stop_timeout: float = 5.0,
        sandbox_env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.command = list(command or [sys.executable, "-m", "flageval_runner", "run"])
        #: FLAGEVAL_SANDBOX* for the runner, which confines the user code it starts.
        self.sandbox_env = dict(sandbox_env or {})
        self.poll_seconds = poll_seconds
        self.stop_timeout = stop_timeout
        self._queue: asyncio.Queue[ExecEvent] = asyncio.Queue()
        self._watchers: dict[str, asyncio.Task[None]] = {}

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> LocalExecutor:
        if settings.sandbox == "none":
            log.warning(
                "FLAGEVAL_SANDBOX=none: uploaded code will run unconfined, as the platform's "
                "user, with the platform's files in reach"
            )
        elif shutil.which("bwrap") is None:
            log.warning(
                "bubblewrap (bwrap) is not installed: runs of uploaded bundles will fail until "
                "it is (apt-get install bubblewrap) — see README 'Security model'"
            )
        return cls(
            Path(settings.data_dir),
            settings.runner_command,
            sandbox_env={
                "FLAGEVAL_SANDBOX": settings.sandbox,
                "FLAGEVAL_SANDBOX_UID": str(settings.sandbox_uid),
                "FLAGEVAL_SANDBOX_GID": str(settings.sandbox_gid),
                "FLAGEVAL_SANDBOX_MAX_PROCESSES": str(settings.sandbox_max_processes),
            },
        )

    # -- paths ------------------------------------------------------------------------------
    def _paths(self, run_id: uuid.UUID, attempt: int) -> tuple[str, Path, Path, Path, Path]:
        """handle, json, log, exit file, work dir of one attempt."""
        handle = f"runs/{run_id}/attempt-{attempt}.json"
        run_dir = self.data_dir / "runs" / str(run_id)
        stem = f"attempt-{attempt}"
        return (
            handle,
            run_dir / f"{stem}.json",
            run_dir / f"{stem}.log",
            run_dir / f"{stem}.exit",
            run_dir / stem,
        )

    def _read_record(self, handle: str) -> dict[str, Any] | None:
        if _parse_handle(handle) is None:
            return None
        try:
            record = json.loads((self.data_dir / handle).read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and "pid" in record else None

    # -- executor interface -----------------------------------------------------------------
    async def submit(self, job: JobRequest) -> str:
        handle, record_path, log_path, exit_path, work_dir = self._paths(job.run_id, job.attempt)
        if self._read_record(handle) is not None:
            # Started already (a retried submit, or a platform restart): never start twice.
            self._watch(handle)
            return handle
        work_dir.mkdir(parents=True, exist_ok=True)
        env = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
        env.update(self.sandbox_env)
        env.update(
            PYTHONUNBUFFERED="1",
            FLAGEVAL_PROGRESS_URL=job.progress_url,
            FLAGEVAL_RUN_ID=str(job.run_id),
            FLAGEVAL_RUN_ATTEMPT=str(job.attempt),
            FLAGEVAL_RUN_TOKEN=job.progress_token,
            FLAGEVAL_WORK_DIR=str(work_dir),
            # Media datasets are cached per version for every run on this machine.
            FLAGEVAL_DATASET_CACHE=str(self.data_dir / "dataset-cache"),
        )
        try:
            with _open_log(log_path) as log:
                proc = await asyncio.create_subprocess_exec(
                    "sh",
                    "-c",
                    WRAPPER,
                    "sh",
                    str(exit_path),
                    *self.command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    cwd=str(work_dir),
                    start_new_session=True,
                )
        except OSError as exc:
            raise ExecutorError(f"could not start the runner: {exc}") from exc
        record = {
            "pid": proc.pid,
            "start_time": process_start_time(proc.pid),
            "run_id": str(job.run_id),
            "attempt": job.attempt,
            "started_at": time.time(),
        }
        tmp = record_path.with_name(record_path.name + ".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(record_path)
        self._emit(handle, ExecState.RUNNING, f"runner started (pid {proc.pid})")
        self._watchers[handle] = asyncio.create_task(self._await_child(handle, proc, exit_path))
        return handle

    async def state(self, handle: str) -> ExecEvent:
        record = self._read_record(handle)
        if record is None:
            return self._event(handle, ExecState.VANISHED, "no such runner")
        if _alive(record):
            return self._event(handle, ExecState.RUNNING, f"runner alive (pid {record['pid']})")
        return self._terminal(handle)

    async def stop(self, handle: str) -> None:
        record = self._read_record(handle)
        if record is None:
            return
        pid = int(record["pid"])
        start = process_start_time(pid)
        if start is not None and start != record.get("start_time"):
            return  # the pid now names another process (and group): not ours any more
        if not _signal_group(pid, signal.SIGTERM):
            return
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline:
            if not _group_exists(pid):
                return
            await asyncio.sleep(0.05)
        _signal_group(pid, signal.SIGKILL)

    async def logs(self, handle: str, *, tail_lines: int | None = None) -> str | None:
        if _parse_handle(handle) is None:
            return None
        path = (self.data_dir / handle).with_suffix(".log")
        text = await asyncio.to_thread(_read_tail, path, tail_lines)
        return None if text is None else self._scrub(text)

    def _scrub(self, text: str) -> str:
        """The runner's own output (a crash's traceback) without the server's paths: the data
        directory, the Python environment and the platform's source tree."""
        for host, shown in self._path_names():
            text = text.replace(host, shown)
        return text

    def _path_names(self) -> list[tuple[str, str]]:
        names = [(str(self.data_dir.resolve()), "<data>"), (sys.prefix, "<python>")]
        source = Path(__file__).resolve().parents[5]  # an editable checkout: <root>/services/…
        if (source / "services").is_dir() and (source / "libs").is_dir():
            names.append((str(source), "<platform>"))
        return names

    async def events(self) -> AsyncIterator[ExecEvent]:
        while True:
            yield await self._queue.get()

    def adopt(self, handle: str) -> None:
        """Watch a runner started by an earlier process of the platform (poll every
        ``poll_seconds``) and report its terminal state once it ends. Call from the event
        loop; a handle watched already is left alone."""
        self._watch(handle)

    async def close(self) -> None:
        watchers = list(self._watchers.values())
        self._watchers.clear()
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    # -- internals --------------------------------------------------------------------------
    def _watch(self, handle: str) -> None:
        task = self._watchers.get(handle)
        if task is None or task.done():
            self._watchers[handle] = asyncio.create_task(self._poll(handle))

    async def _await_child(
        self, handle: str, proc: asyncio.subprocess.Process, exit_path: Path
    ) -> None:
        code = await proc.wait()
        _record_exit(exit_path, code)
        self._queue.put_nowait(self._terminal(handle))

    async def _poll(self, handle: str) -> None:
        while True:
            event = await self.state(handle)
            if event.state != ExecState.RUNNING:
                self._queue.put_nowait(event)
                return
            await asyncio.sleep(self.poll_seconds)

    def _terminal(self, handle: str) -> ExecEvent:
        """The state of an attempt whose process has ended, from its exit file."""
        try:
            code = int((self.data_dir / handle).with_suffix(".exit").read_text().strip())
        except (OSError, ValueError):
            return self._event(handle, ExecState.VANISHED, "the runner process disappeared")
        if code == 0:
            return self._event(handle, ExecState.SUCCEEDED, "runner exited 0", exit_code=0)
        if code == EXIT_REFUSED:
            message = (
                "the platform refused the runner (exit code 3: its token was rejected or "
                "the run had already ended)"
            )
        elif code > 128:
            message = f"the runner exited with code {code} (signal {code - 128})"
        else:
            message = f"the runner exited with code {code}"
        return self._event(handle, ExecState.FAILED, message, exit_code=code)

    def _event(
        self, handle: str, state: ExecState, message: str, *, exit_code: int | None = None
    ) -> ExecEvent:
        parsed = _parse_handle(handle)
        run_id, attempt = parsed if parsed else (uuid.UUID(int=0), 0)
        return ExecEvent(
            run_id=run_id,
            attempt=attempt,
            handle=handle,
            state=state,
            message=message,
            exit_code=exit_code,
        )

    def _emit(self, handle: str, state: ExecState, message: str) -> None:
        self._queue.put_nowait(self._event(handle, state, message))


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to the process group; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _group_exists(pgid: int) -> bool:
    """Whether any process of the group is still alive (zombies do not count)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        try:
            os.killpg(pgid, 0)
        except OSError:
            return False
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _open_log(path: Path) -> BinaryIO:
    return open(path, "ab")  # the caller closes it (with)


def _record_exit(exit_path: Path, code: int) -> None:
    """When the wrapper itself was killed (no exit file), record the code it died with."""
    if exit_path.exists():
        return
    with contextlib.suppress(OSError):
        exit_path.write_text(f"{128 - code if code < 0 else code}\n")


def _read_tail(path: Path, tail_lines: int | None) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            if tail_lines is None:
                return fh.read()
            return "".join(deque(fh, maxlen=max(0, tail_lines)))
    except FileNotFoundError:
        return None
