"""The sandbox user code runs in (flageval_runner.sandbox): a probe script run inside it reports
what it can see and do, and each escape it tries must fail."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flageval_runner.sandbox import Sandbox, SandboxError, SandboxSettings

PROBE = r"""
import json, os, socket, sys
out = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "cwd": os.getcwd()}
out["env"] = sorted(os.environ)
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
def attempt(name, fn):
    try:
        out[name] = "ok: " + str(fn())
    except Exception as exc:
        out[name] = "refused: " + type(exc).__name__
attempt("read_secret", lambda: open(sys.argv[1]).read())
attempt("list_data_dir", lambda: os.listdir(sys.argv[2]))
attempt("write_bundle", lambda: open("/bundle/pwned", "w").write("x"))
attempt("write_root", lambda: open("/pwned", "w").write("x"))
attempt("write_usr", lambda: open("/usr/pwned", "w").write("x"))
attempt("write_scratch", lambda: open("/scratch/ok", "w").write("x"))
attempt("write_output", lambda: open("/output/ok", "w").write("x"))
attempt("write_tmp", lambda: open("/tmp/ok", "w").write("x"))
attempt("read_bundle", lambda: open("/bundle/service.py").read()[:5])
attempt("connect_tcp", lambda: socket.create_connection(("127.0.0.1", int(sys.argv[3])), 2))
attempt("kill_parent", lambda: os.kill(int(sys.argv[4]), 0))
attempt("ptrace_proc", lambda: open(f"/proc/{sys.argv[4]}/environ").read())
out["oom_score_adj"] = open("/proc/self/oom_score_adj").read().strip()
print(json.dumps(out))
"""


def _bwrap_works() -> bool:
    try:
        Sandbox(SandboxSettings(), Path("/tmp")).check()
    except SandboxError:
        return False
    return True


# CI installs bubblewrap (.ci/run): there a missing sandbox fails these tests instead.
needs_bwrap = pytest.mark.skipif(
    not os.environ.get("CI") and not _bwrap_works(),
    reason="bubblewrap with user/PID namespaces is not available here",
)


def _run_probe(sandbox: Sandbox, bundle: Path, *args: str) -> dict[str, object]:
    argv, env, cwd = sandbox.command([sandbox.python, "-c", PROBE, *args], env={"EXTRA": "given"})
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@needs_bwrap
def test_user_code_sees_nothing_of_the_platform(tmp_path: Path, monkeypatch) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    secret = data_dir / "secret_key"
    secret.write_text("platform-secret-value")
    secret.chmod(0o600)
    bundle = tmp_path / "work" / "bundle"
    bundle.mkdir(parents=True)
    (bundle / "service.py").write_text("print('hello')\n")
    monkeypatch.setenv("FLAGEVAL_RUN_TOKEN", "rt_must_not_leak")
    monkeypatch.setenv("FLAGEVAL_SECRET_KEY", "must-not-leak")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    sandbox = Sandbox(SandboxSettings(), tmp_path / "work" / "sandbox")
    sandbox.prepare(bundle)
    try:
        out = _run_probe(sandbox, bundle, str(secret), str(data_dir), str(port), str(os.getpid()))
    finally:
        listener.close()
    if os.geteuid() == 0:
        assert (out["uid"], out["gid"], out["groups"]) == (65534, 65534, [])
    else:
        assert out["uid"] == 65534
    assert out["cwd"] == "/bundle"
    assert out["oom_score_adj"] == "1000"  # out of memory, user code goes first
    env = out["env"]
    assert isinstance(env, list)
    assert not [k for k in env if k.startswith("FLAGEVAL_") and k != "FLAGEVAL_OUTPUT_DIR"]
    assert "EXTRA" in env and "HOME" in env
    pids = out["pids"]
    assert isinstance(pids, list) and max(pids) < 100  # its own PID namespace
    for escape in (
        "read_secret",
        "list_data_dir",
        "write_bundle",
        "write_root",
        "write_usr",
        "connect_tcp",
        "kill_parent",
        "ptrace_proc",
    ):
        assert str(out[escape]).startswith("refused"), (escape, out[escape])
    for allowed in ("write_scratch", "write_output", "write_tmp", "read_bundle"):
        assert str(out[allowed]).startswith("ok"), (allowed, out[allowed])
    assert (sandbox.scratch / "ok").exists() and (sandbox.output / "ok").exists()
    assert not (bundle / "pwned").exists()


FORKS = r"""
import multiprocessing, os, sys, time
lock = multiprocessing.Lock()  # needs a writable /dev/shm
started, refused = 0, 0
for _ in range(int(sys.argv[1])):
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        continue
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    started += 1
print(started, refused)
"""


@needs_bwrap
def test_user_code_has_shared_memory_and_a_process_limit(tmp_path: Path) -> None:
    limit = 48
    if os.geteuid() == 0:  # the limit counts every process of the sandbox uid on the host
        limit += sum(
            1
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and _owner(p) == SandboxSettings().uid
        )
    sandbox = Sandbox(SandboxSettings(max_processes=limit), tmp_path / "sbx")
    bundle = tmp_path / "b"
    bundle.mkdir()
    sandbox.prepare(bundle)
    argv, env, cwd = sandbox.command([sandbox.python, "-c", FORKS, str(limit + 20)])
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    started, refused = map(int, done.stdout.split())
    assert 0 < started < limit and refused >= 20, (started, refused)


def _owner(proc: Path) -> int | None:
    try:
        return proc.stat().st_uid
    except OSError:
        return None


@needs_bwrap
def test_paths_inside_and_out(tmp_path: Path) -> None:
    sandbox = Sandbox(SandboxSettings(), tmp_path / "sbx")
    bundle = tmp_path / "b"
    bundle.mkdir()
    sandbox.prepare(bundle)
    assert sandbox.inside("model") == "/model"
    assert sandbox.host_path("/model/model.sock") == sandbox.model_io / "model.sock"
    text = f"File {bundle.resolve()}/service.py, {sandbox.scratch}/x, {sys.prefix}/lib"
    scrubbed = sandbox.scrub(text)
    assert str(tmp_path) not in scrubbed
    assert "/bundle/service.py" in scrubbed and "/scratch/x" in scrubbed


def test_missing_bubblewrap_is_a_clear_platform_error(tmp_path: Path) -> None:
    sandbox = Sandbox(SandboxSettings(bwrap="/nonexistent/bwrap"), tmp_path)
    with pytest.raises(SandboxError, match=r"bubblewrap .* not installed.*FLAGEVAL_SANDBOX=none"):
        sandbox.check()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FLAGEVAL_SANDBOX": "docker"}, "not one of bwrap, none"),
        ({"FLAGEVAL_SANDBOX_UID": "0"}, "unprivileged"),
        ({"FLAGEVAL_SANDBOX_GID": "x"}, "integers"),
        ({"FLAGEVAL_SANDBOX_MAX_PROCESSES": "8"}, "at least 16"),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        SandboxSettings.from_environ(env)


def test_opting_out_keeps_a_clean_environment_and_warns(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("FLAGEVAL_RUN_TOKEN", "rt_must_not_leak")
    sandbox = Sandbox(SandboxSettings(mode="none"), tmp_path / "sbx")
    bundle = tmp_path / "b"
    bundle.mkdir()
    sandbox.prepare(bundle)
    _argv, env, cwd = sandbox.command([sys.executable, "-c", "pass"])
    assert "FLAGEVAL_RUN_TOKEN" not in env
    assert cwd == str(bundle.resolve())
    assert "unconfined" in caplog.text
