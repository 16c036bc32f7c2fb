"""Upload benchmark: the real ``flageval-serving`` 0.2.5 CLI uploading over loopback (SPEC §10).

For each bundle size (100 MiB and 1 GiB by default) a fresh standalone platform is started as
its own process (``bench/_upload_server.py``), an approved user is made through the public API,
an evaluation is announced with the ``evaluation.created`` event, an upload token is issued, and
the ``command`` of the token reply is run as a person would paste it. Reported per size:

* CLI seconds and MB/s (10^6 bytes per second) — the client's wall time, start to exit;
* seconds until ``GET /api/evaluations/{id}/bundles`` lists the version as valid;
* the server process's RSS before the upload and its peak during the upload (``VmHWM``, reset
  through ``/proc/PID/clear_refs`` just before; a fresh process per size), so a memory use
  that grows with the file shows as a ratio above 1.

Every run checks that the stored sha256 of each file equals the source's. Uses the local store;
``--s3`` puts the objects on a moto S3 server instead (in this process; moto itself is slow, so
that figure measures moto more than the platform). The server chooses its default chunk size.

    .venv/bin/python bench/upload.py [--sizes 100M,1G] [--s3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform as host
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

HERE = Path(__file__).resolve().parent
SERVER = HERE / "_upload_server.py"
CLI = Path(sys.executable).with_name("flageval-serving")
ORIGINAL_MAX_MB_S = 12.5  # the original FlagEval platform documents uploads at up to 12.5 MB/s
TARGET_MB_S = 100.0  # SPEC §10
ADMIN_EMAIL = "bench-admin@example.org"
ADMIN_PASSWORD = "bench-Admin-pass-1"
PASSWORD = "bench-user-pass-1"
MiB = 1024 * 1024

SERVICE_PY = """\
from flageval.serving.service import NLPCompletion, NLPEvalRequest, NLPEvalResponse, NLPModelService


class Service(NLPModelService):
    def global_init(self, model_path: str):
        self.model_path = model_path

    def infer(self, req: NLPEvalRequest) -> NLPEvalResponse:
        return NLPEvalResponse(completions=[NLPCompletion(text="A", tokens="A")])
"""


@dataclass
class Result:
    size: int
    cli_seconds: float
    valid_seconds: float
    chunk_kb: int
    chunks: int
    idle_rss: int
    peak_rss: int
    peak_reset: bool

    @property
    def mb_s(self) -> float:
        return self.size / 1e6 / self.cli_seconds


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": MiB, "G": 1024 * MiB}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text[-1:] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def human(size: int) -> str:
    for unit, n in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= n:
            return f"{size / n:g} {unit}"
    return f"{size} B"


def make_bundle(root: Path, size: int) -> dict[str, str]:
    """A valid NLP bundle of ``size`` bytes, mostly one random weights file; path → sha256."""
    small = {
        "service.py": SERVICE_PY.encode(),
        "meta.json": json.dumps({"parameter_scale_billion": 0.1}).encode(),
        "model/config.json": b'{"hidden_size": 8}',
    }
    sums = {}
    for rel, data in small.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        sums[rel] = hashlib.sha256(data).hexdigest()
    remaining = size - sum(len(d) for d in small.values())
    rng = random.Random(size)
    digest = hashlib.sha256()
    with open(root / "model/weights.bin", "wb") as f:
        while remaining > 0:
            block = rng.randbytes(min(8 * MiB, remaining))
            f.write(block)
            digest.update(block)
            remaining -= len(block)
    sums["model/weights.bin"] = digest.hexdigest()
    return sums


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reset_peak_rss(pid: int) -> bool:
    """Start ``VmHWM`` afresh from the current RSS (Linux ≥ 4.0), so that the peak measured is
    the upload's, not start-up's (argon2 hashing the admin password alone takes 64 MiB)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def proc_status(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` memory field in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


@contextmanager
def server_process(workdir: Path, storage: dict[str, str]) -> Iterator[tuple[Any, str, IO[str]]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGEVAL_")}
    env.update(
        FLAGEVAL_PORT=str(port),
        FLAGEVAL_DATA_DIR=str(workdir / "data"),
        FLAGEVAL_PUBLIC_URL=base,
        FLAGEVAL_SECRET_KEY="bench-secret-" + uuid.uuid4().hex,
        FLAGEVAL_ADMIN_EMAIL=ADMIN_EMAIL,
        FLAGEVAL_ADMIN_PASSWORD=ADMIN_PASSWORD,
        FLAGEVAL_LOG_LEVEL="WARNING",
        # The limit must not be what is measured.
        FLAGEVAL_UPLOAD_MAX_BUNDLE_BYTES=str(64 * 1024 * MiB),
        **storage,
    )
    log = open(workdir / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(SERVER)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited:\n{(workdir / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server never became healthy")
            time.sleep(0.2)
        yield proc, base, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def login(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    reply = http.post("/api/auth/login", json={"email": email, "password": password})
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def approved_user(http: httpx.Client) -> tuple[str, dict[str, str]]:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.org"
    reply = http.post(
        "/api/auth/register",
        json={
            "email": email,
            "username": email.split("@")[0].replace("-", "_"),
            "password": PASSWORD,
        },
    )
    reply.raise_for_status()
    user_id = reply.json()["id"]
    user = login(http, email, PASSWORD)
    profile = {"real_name": "Bench Mark", "organization": "Bench", "purpose": "benchmark"}
    http.put("/api/me/profile", json=profile, headers=user).raise_for_status()
    admin = login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    http.post(
        f"/api/admin/users/{user_id}/review", json={"decision": "approve"}, headers=admin
    ).raise_for_status()
    return user_id, login(http, email, PASSWORD)


def announce_evaluation(proc: Any, user_id: str) -> str:
    """Have the server publish ``evaluation.created`` (retried until the upload service listens)."""
    evaluation_id = str(uuid.uuid4())
    payload = {
        "evaluation_id": evaluation_id,
        "owner_id": user_id,
        "domain": "nlp",
        "name": f"bench-{evaluation_id[:8]}",
    }
    deadline = time.monotonic() + 30
    while True:
        proc.stdin.write(json.dumps(payload) + "\n")
        proc.stdin.flush()
        answer = proc.stdout.readline().strip()
        if answer == "published":
            return evaluation_id
        if time.monotonic() > deadline:
            raise SystemExit(f"could not announce the evaluation: {answer}")
        time.sleep(0.2)


def upload_token(http: httpx.Client, user: dict[str, str], evaluation_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        reply = http.post(f"/api/evaluations/{evaluation_id}/upload-tokens", headers=user)
        if reply.status_code == 201:
            return reply.json()
        if time.monotonic() > deadline:
            raise SystemExit(f"no upload token: {reply.status_code} {reply.text}")
        time.sleep(0.1)


def run_one(size: int, workroot: Path, storage: dict[str, str]) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="flageval-bench-upload-", dir=workroot))
    try:
        bundle = workdir / "bundle"
        print(f"  generating a {human(size)} bundle …", flush=True)
        sums = make_bundle(bundle, size)
        with (
            server_process(workdir, storage) as (proc, base, _log),
            httpx.Client(base_url=base, timeout=60, trust_env=False) as http,
        ):
            user_id, user = approved_user(http)
            evaluation_id = announce_evaluation(proc, user_id)
            reply = upload_token(http, user, evaluation_id)
            argv = [*shlex.split(reply["command"])[:-1], str(bundle)]  # DIR → the bundle
            env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGEVAL")}
            env["PATH"] = f"{CLI.parent}{os.pathsep}{env.get('PATH', '')}"
            env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
            idle_rss = proc_status(proc.pid, "VmRSS")
            reset = reset_peak_rss(proc.pid)
            print(f"  uploading with: {shlex.join(argv[:2])} …", flush=True)
            with open(workdir / "cli.log", "w") as cli_log:
                started = time.perf_counter()
                done = subprocess.run(argv, cwd=workdir, env=env, stdout=cli_log, stderr=cli_log)
                cli_seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"CLI failed:\n{(workdir / 'cli.log').read_text()[-3000:]}")
            while True:
                versions = http.get(
                    f"/api/evaluations/{evaluation_id}/bundles", headers=user
                ).json()
                mine = [v for v in versions if v["version"] == reply["bundle_version"]]
                if mine and mine[0]["status"] in ("valid", "invalid"):
                    break
                if time.perf_counter() - started > cli_seconds + 600:
                    raise SystemExit(f"bundle never checked: {mine}")
                time.sleep(0.05)
            valid_seconds = time.perf_counter() - started
            if mine[0]["status"] != "valid":
                raise SystemExit(f"bundle not valid: {mine[0]['problems']}")
            stored = {f["path"]: f["sha256"] for f in mine[0]["files"]}
            if stored != sums:
                raise SystemExit(f"sha256 mismatch: stored {stored} != source {sums}")
            # ``ls``: the CLI's listing answers 409 once the version is complete (sealed).
            files = http.post(
                "/api/evaluations/manage/op_file",
                data={"command": "ls", "token": reply["token"]},
            )
            big = next(f for f in files.json()["results"] if f["filename"] == "model/weights.bin")
            chunk_kb, chunks = big["chunks"][0]["sizeKb"], len(big["chunks"])
            peak_rss = proc_status(proc.pid, "VmHWM")
        return Result(size, cli_seconds, valid_seconds, chunk_kb, chunks, idle_rss, peak_rss, reset)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100M,1G", help="bundle sizes (default 100M,1G)")
    parser.add_argument("--s3", action="store_true", help="store objects on a moto S3 server")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]

    storage: dict[str, str] = {}
    moto = None
    if args.s3:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per S3 request

        port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        storage = {
            "FLAGEVAL_STORAGE_URL": f"s3://bench-{uuid.uuid4().hex[:8]}",
            "FLAGEVAL_S3_ENDPOINT": f"http://127.0.0.1:{port}",
            "FLAGEVAL_S3_ACCESS_KEY": "bench",
            "FLAGEVAL_S3_SECRET_KEY": "bench-secret",
        }
    store = "S3 (moto)" if args.s3 else "local store"
    print(
        f"upload benchmark: flageval-serving 0.2.5 → standalone platform over loopback, {store}; "
        f"{os.cpu_count()} CPUs, Python {host.python_version()}",
        flush=True,
    )
    results = []
    try:
        for size in sizes:
            results.append(run_one(size, args.workdir, storage))
    finally:
        if moto is not None:
            moto.stop()

    reset = all(r.peak_reset for r in results)
    peak = "peak RSS in upload" if reset else "peak RSS (VmHWM)"
    print()
    print(
        f"{'bundle':>9}  {'chunks':>14}  {'CLI s':>7}  {'MB/s':>7}  {'valid after s':>13}  "
        f"{'server RSS idle':>15}  {peak:>18}"
    )
    for r in results:
        plan = f"{r.chunks} x {r.chunk_kb} KB"
        print(
            f"{human(r.size):>9}  {plan:>14}  {r.cli_seconds:>7.2f}  {r.mb_s:>7.1f}  "
            f"{r.valid_seconds:>13.2f}  {r.idle_rss / MiB:>11.0f} MiB  {r.peak_rss / MiB:>14.0f} MiB"
        )
    if not reset:
        print("(VmHWM could not be reset: the peak includes start-up, e.g. argon2's 64 MiB)")
    print()
    largest = max(results, key=lambda r: r.size)
    for r in results:
        print(
            f"{human(r.size)}: {r.mb_s:.1f} MB/s = {r.mb_s / ORIGINAL_MAX_MB_S:.1f}x the "
            f"{ORIGINAL_MAX_MB_S} MB/s the original platform documents as its maximum"
        )
    met = "met" if largest.mb_s >= TARGET_MB_S else "NOT met"
    print(
        f"SPEC §10 target >={TARGET_MB_S:.0f} MB/s per client: {met} "
        f"({largest.mb_s:.1f} MB/s at {human(largest.size)})"
    )
    if len(results) > 1:
        smallest = min(results, key=lambda r: r.size)
        ratio = largest.peak_rss / smallest.peak_rss
        print(
            f"server peak RSS {human(largest.size)} / {human(smallest.size)}: {ratio:.2f} "
            f"({'flat' if ratio < 1.25 else 'GROWS with the file'}); "
            f"{(largest.peak_rss - largest.idle_rss) / MiB:.0f} MiB above idle at "
            f"{human(largest.size)}, {(smallest.peak_rss - smallest.idle_rss) / MiB:.0f} MiB "
            f"at {human(smallest.size)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
