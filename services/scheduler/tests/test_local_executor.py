"""The local executor with tiny fake runner commands (``python -c …``) instead of the runner."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flageval_scheduler.executors.base import ExecEvent, ExecState, JobRequest
from flageval_scheduler.executors.local import LocalExecutor, _parse_handle, process_start_time

EXIT_WITH = (
    "import sys; print('hello from the runner'); print('second line'); sys.exit(int(sys.argv[1]))"
)
SLEEP_THEN_EXIT = "import sys, time; print('working', flush=True); time.sleep(float(sys.argv[1])); sys.exit(int(sys.argv[2]))"
DUMP_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
WITH_GRANDCHILD = (
    "import subprocess, sys, time, pathlib\n"
    "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "pathlib.Path(sys.argv[1]).write_text(str(p.pid))\n"
    "time.sleep(60)\n"
)


def job(attempt: int = 1, run_id: uuid.UUID | None = None) -> JobRequest:
    return JobRequest(
        run_id=run_id or uuid.uuid4(),
        attempt=attempt,
        evaluation_id=uuid.uuid4(),
        evaluation_name="e",
        owner_id=uuid.uuid4(),
        domain="nlp",
        kind="formal",
        priority="medium",
        deploy_mode="api",
        progress_url="http://127.0.0.1:9/gateway",
        progress_token="tok-123",
    )


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator:
    """Executors on ``tmp_path``; every handle they started is stopped at the end."""
    made: list[tuple[LocalExecutor, list[str]]] = []

    def factory(*code: str, **kwargs: float) -> tuple[LocalExecutor, list[str]]:
        command = [sys.executable, "-c", *code] if code else None
        ex = LocalExecutor(tmp_path, command, poll_seconds=0.1, **kwargs)
        handles: list[str] = []
        made.append((ex, handles))
        return ex, handles

    yield factory
    for ex, handles in made:
        for handle in handles:
            await ex.stop(handle)
        await ex.close()


_streams: dict[LocalExecutor, AsyncIterator[ExecEvent]] = {}


async def next_event(ex: LocalExecutor, wait: float = 10.0) -> ExecEvent:
    """The next event of ``ex`` (one ``events()`` iterator per executor, as the scheduler)."""
    it = _streams.setdefault(ex, ex.events())
    return await asyncio.wait_for(anext(it), wait)


async def test_running_then_succeeded_with_logs_captured(make, tmp_path: Path) -> None:
    ex, handles = make(EXIT_WITH, "0")
    j = job()
    handle = await ex.submit(j)
    handles.append(handle)
    assert handle == f"runs/{j.run_id}/attempt-1.json"
    first = await next_event(ex)
    assert (first.state, first.run_id, first.attempt, first.handle) == (
        ExecState.RUNNING,
        j.run_id,
        1,
        handle,
    )
    done = await next_event(ex)
    assert (done.state, done.exit_code) == (ExecState.SUCCEEDED, 0)
    assert (await ex.state(handle)).state == ExecState.SUCCEEDED
    assert await ex.logs(handle) == "hello from the runner\nsecond line\n"
    assert await ex.logs(handle, tail_lines=1) == "second line\n"
    record = json.loads((tmp_path / handle).read_text())
    assert record["run_id"] == str(j.run_id) and record["attempt"] == 1
    assert isinstance(record["pid"], int) and isinstance(record["start_time"], int)
    assert (tmp_path / "runs" / str(j.run_id) / "attempt-1.exit").read_text().strip() == "0"
    assert await ex.logs(f"runs/{uuid.uuid4()}/attempt-1.json") is None


async def test_a_crash_traceback_in_the_logs_names_no_server_path(make, tmp_path: Path) -> None:
    """What a runner prints when it crashes is shown to the user: the data directory, the
    Python environment and the platform's source tree are named, not spelled out."""
    from flageval_scheduler.executors import local

    source = Path(local.__file__).resolve().parents[5]  # noqa: ASYNC240 - no I/O worth a thread
    code = (
        "import sys, os; "
        f"print('File \"{source}/services/runner/src/x.py\", line 1'); "
        "print('work', os.environ['FLAGEVAL_WORK_DIR']); "
        f"print('env', {sys.prefix!r} + '/lib/python3.11/site-packages/y.py')"
    )
    ex, handles = make(code)
    handle = await ex.submit(job())
    handles.append(handle)
    await next_event(ex)
    done = await next_event(ex)
    assert done.state == ExecState.SUCCEEDED
    text = await ex.logs(handle)
    assert text is not None
    assert str(tmp_path) not in text and sys.prefix not in text and str(source) not in text
    assert "<platform>/services/runner/src/x.py" in text
    assert "work <data>/runs/" in text and "<python>/lib/python3.11" in text


@pytest.mark.parametrize(("code", "words"), [(7, "code 7"), (3, "refused")])
async def test_a_nonzero_exit_is_failed_with_its_code(make, code: int, words: str) -> None:
    ex, handles = make(EXIT_WITH, str(code))
    handles.append(await ex.submit(job()))
    assert (await next_event(ex)).state == ExecState.RUNNING
    done = await next_event(ex)
    assert (done.state, done.exit_code) == (ExecState.FAILED, code)
    assert words in done.message
    assert (await ex.state(handles[0])).exit_code == code


async def test_stop_kills_the_whole_process_group(make, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    ex, handles = make(WITH_GRANDCHILD, str(pid_file))
    handle = await ex.submit(job())
    handles.append(handle)
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.05)
    grandchild = int(pid_file.read_text())
    assert process_start_time(grandchild) is not None
    assert (await ex.state(handle)).state == ExecState.RUNNING
    await ex.stop(handle)
    for _ in range(40):  # the init process may take a moment to reap it
        if process_start_time(grandchild) is None:
            break
        await asyncio.sleep(0.05)
    assert process_start_time(grandchild) is None
    assert (await next_event(ex)).state == ExecState.RUNNING
    done = await next_event(ex)
    assert done.state == ExecState.FAILED and done.exit_code == 143  # SIGTERM, recorded by sh
    await ex.stop(handle)  # already gone: fine


async def test_submit_is_idempotent(make, tmp_path: Path) -> None:
    ex, handles = make(SLEEP_THEN_EXIT, "0.5", "0")
    j = job(attempt=2)
    handle = await ex.submit(j)
    handles.append(handle)
    pid = json.loads((tmp_path / handle).read_text())["pid"]
    assert await ex.submit(j) == handle
    assert json.loads((tmp_path / handle).read_text())["pid"] == pid
    events = [await next_event(ex), await next_event(ex)]
    assert [e.state for e in events] == [ExecState.RUNNING, ExecState.SUCCEEDED]
    assert (await ex.logs(handle)) == "working\n"  # one process, one line
    # A new executor (restart) submitting the finished attempt again starts nothing either.
    again, _ = make(SLEEP_THEN_EXIT, "0.5", "0")
    assert await again.submit(j) == handle
    assert (await next_event(again)).state == ExecState.SUCCEEDED
    assert (await ex.logs(handle)) == "working\n"


async def test_a_restarted_platform_adopts_a_running_runner(make) -> None:
    first, handles = make(SLEEP_THEN_EXIT, "1.0", "5")
    handle = await first.submit(job())
    handles.append(handle)
    await first.close()  # the old platform stops watching; the runner keeps running
    second, _ = make()
    now = await second.state(handle)
    assert now.state == ExecState.RUNNING
    second.adopt(handle)
    second.adopt(handle)  # adopting twice watches once
    done = await next_event(second)
    assert (done.state, done.exit_code) == (ExecState.FAILED, 5)  # read from the exit file
    assert (await second.state(handle)).exit_code == 5


async def test_unknown_or_lost_handles_are_vanished(make, tmp_path: Path) -> None:
    ex, _ = make()
    for handle in (f"runs/{uuid.uuid4()}/attempt-1.json", "nonsense", "../etc/passwd"):
        event = await ex.state(handle)
        assert event.state == ExecState.VANISHED
        await ex.stop(handle)
    # A record whose process is gone without an exit file: the runner disappeared.
    run_id = uuid.uuid4()
    handle = f"runs/{run_id}/attempt-1.json"
    (tmp_path / "runs" / str(run_id)).mkdir(parents=True)
    (tmp_path / handle).write_text(json.dumps({"pid": 1, "start_time": -1, "attempt": 1}))
    event = await ex.state(handle)
    assert event.state == ExecState.VANISHED and "disappeared" in event.message
    assert event.run_id == run_id and event.attempt == 1
    await ex.stop(handle)  # pid 1 is not ours (start time differs): nothing is signalled


async def test_the_runner_gets_a_minimal_environment(
    make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLAGEVAL_SECRET_KEY", "platform-secret")
    monkeypatch.setenv("FLAGEVAL_DATABASE_URL", "postgresql://u:p@db/flageval")
    monkeypatch.setenv("FLAGEVAL_BROKER_URL", "amqp://u:p@mq/")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-secret")
    monkeypatch.setenv("FLAGEVAL_SMTP_PASSWORD", "smtp-secret")
    ex, handles = make(DUMP_ENV)
    j = job()
    handle = await ex.submit(j)
    handles.append(handle)
    await next_event(ex)
    assert (await next_event(ex)).state == ExecState.SUCCEEDED
    env = json.loads(await ex.logs(handle) or "{}")
    for secret in (
        "FLAGEVAL_SECRET_KEY",
        "FLAGEVAL_DATABASE_URL",
        "FLAGEVAL_BROKER_URL",
        "AWS_SECRET_ACCESS_KEY",
        "FLAGEVAL_SMTP_PASSWORD",
    ):
        assert secret not in env
    assert "secret" not in json.dumps(env)
    assert env["FLAGEVAL_PROGRESS_URL"] == "http://127.0.0.1:9/gateway"
    assert env["FLAGEVAL_RUN_ID"] == str(j.run_id)
    assert env["FLAGEVAL_RUN_ATTEMPT"] == "1"
    assert env["FLAGEVAL_RUN_TOKEN"] == "tok-123"
    # (The log names the data directory "<data>": it is shown to the run's owner.)
    assert env["FLAGEVAL_WORK_DIR"] == f"<data>/runs/{j.run_id}/attempt-1"
    assert env["PYTHONUNBUFFERED"] == "1"
    # Media datasets are cached per version for every run of this platform.
    assert env["FLAGEVAL_DATASET_CACHE"] == "<data>/dataset-cache"
    assert {k for k in env if k.startswith("FLAGEVAL_")} == {
        "FLAGEVAL_PROGRESS_URL",
        "FLAGEVAL_RUN_ID",
        "FLAGEVAL_RUN_ATTEMPT",
        "FLAGEVAL_RUN_TOKEN",
        "FLAGEVAL_WORK_DIR",
        "FLAGEVAL_DATASET_CACHE",
    }


def test_from_settings_and_the_default_command(tmp_path: Path) -> None:
    from flageval_scheduler.config import ServiceSettings

    settings = ServiceSettings(data_dir=tmp_path, runner_command='["my-runner", "run"]')
    ex = LocalExecutor.from_settings(settings)
    assert ex.data_dir == tmp_path and ex.command == ["my-runner", "run"]
    default = LocalExecutor(tmp_path)
    assert default.command == [sys.executable, "-m", "flageval_runner", "run"]


def test_handles_are_parsed_whole() -> None:
    run_id = uuid.uuid4()
    assert _parse_handle(f"runs/{run_id}/attempt-2.json") == (run_id, 2)
    # `$` alone would match before a trailing newline.
    assert _parse_handle(f"runs/{run_id}/attempt-2.json\n") is None
    assert _parse_handle(f"x/runs/{run_id}/attempt-2.json") is None
