"""Hostile bundles against the standalone platform (README "Security model").

``make up``'s platform (local executor, the real runner, bubblewrap) and the public
``flageval-serving`` CLI. A bundle that answers exactly like ``examples/demo-nlp-bundle`` first
tries, from ``global_init``, every way we know to forge its score or steal the platform's
secrets: the run token from its environment and from every ``/proc/*/environ``, the secret key,
the SQLite files and another run's folder under the data dir (their paths handed to it, as if
guessed), writing outside its scratch folder, reaching the platform's API and PostgreSQL, and
posting forged ``dataset_finished``/``finished`` events. Each attempt must fail, the run's
scores must equal the honest bundle's, and the run log shows the attempts as the model's own
output — without the token, the secret key or the server's paths.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from flageval_platform.testing import free_port, request_upload_token
from flageval_platform.testing import launched_platform as platform
from flageval_scheduler.jobs.service import progress_token

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-nlp-bundle"
DATASET = "demo-en-choice"
USER = {"email": "mallory@example.org", "username": "mallory", "password": "correct-horse-42"}

# Runs inside global_init; every line it prints goes to the run log. ``targets.json`` (written
# by the test into the bundle) stands for what an attacker would guess: the data dir, the
# platform's port, another run's id.
ATTACKS = r"""
import glob as _glob
import json as _json
import os as _os
import socket as _socket
import urllib.request as _request


def _attack(name, fn):
    try:
        found = fn()
    except Exception as exc:
        print(f"ATTACK {name}: blocked ({type(exc).__name__})", flush=True)
        return
    if found:
        print(f"ATTACK {name}: SUCCEEDED {str(found)[:200]}", flush=True)
    else:
        print(f"ATTACK {name}: blocked (nothing found)", flush=True)


def _env_token():
    return {k: v for k, v in _os.environ.items() if "TOKEN" in k or "SECRET" in k or "URL" in k}


def _proc_tokens():
    found = []
    for path in _glob.glob("/proc/[0-9]*/environ"):
        try:
            data = open(path, "rb").read()
        except OSError:
            continue
        if b"FLAGEVAL_RUN_TOKEN" in data or b"FLAGEVAL_SECRET" in data:
            found.append(path)
    return found


def _forge(targets, run_id, token):
    body = _json.dumps({"events": [
        {"type": "dataset_finished", "task": "knowledge", "dataset": "demo-en-choice",
         "status": "succeeded", "metrics": {"accuracy": 1.0}},
        {"type": "finished", "status": "succeeded"},
    ]}).encode()
    req = _request.Request(
        f"{targets['platform']}/api/runner/runs/{run_id}/events", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Run-Token": token or "rt_guess"},
    )
    return _request.urlopen(req, timeout=3).read()


def hostile(model_path):
    targets = _json.load(open(_os.path.join(model_path, "targets.json")))
    data = targets["data_dir"]
    _attack("environment", _env_token)
    _attack("proc-environ", _proc_tokens)
    _attack("secret-key", lambda: open(_os.path.join(data, "secret_key")).read())
    _attack("sqlite", lambda: [open(p, "rb").read(16) for p in _glob.glob(data + "/*.db")]
            or open(_os.path.join(data, "scheduler.db"), "rb").read(16))
    _attack("data-dir-listing", lambda: _os.listdir(data))
    _attack("other-run", lambda: _os.listdir(_os.path.join(data, "runs", targets["other_run"])))
    _attack("write-data-dir", lambda: open(_os.path.join(data, "pwned"), "w").write("x"))
    _attack("write-bundle", lambda: open(_os.path.join(model_path, "pwned"), "w").write("x"))
    _attack("write-root", lambda: open("/pwned", "w").write("x"))
    _attack("platform-api", lambda: _request.urlopen(targets["platform"] + "/api/health",
                                                     timeout=3).read())
    _attack("postgres", lambda: _socket.create_connection(("127.0.0.1", 5432), 3))
    _attack("forge-events", lambda: _forge(targets, targets["other_run"], None))
    _attack("kill-runner", lambda: [_os.kill(int(p), 9) for p in _os.listdir("/proc")
                                    if p.isdigit() and int(p) > 2 and int(p) != _os.getpid()
                                    and "runner" in open(f"/proc/{p}/cmdline").read()])
"""


def _hostile_bundle(tmp_path: Path, targets: dict[str, Any]) -> Path:
    bundle = tmp_path / "hostile-bundle"
    shutil.copytree(DEMO, bundle)
    service = (bundle / "service.py").read_text()
    service = service.replace(
        "    def global_init(self, model_path: str) -> None:\n",
        "    def global_init(self, model_path: str) -> None:\n        hostile(model_path)\n",
    )
    assert "hostile(model_path)" in service
    marker = "class Service(NLPModelService):"
    service = service.replace(marker, ATTACKS + "\n\n" + marker)
    (bundle / "service.py").write_text(service)
    (bundle / "model" / "targets.json").write_text(json.dumps(targets))
    return bundle


def _login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def _wait_run(client: httpx.Client, run_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        run = client.get(f"/api/runs/{run_id}", headers=headers).json()
        if run["status"] in ("succeeded", "failed", "stopped"):
            return dict(run)
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} never finished: {run}")


class Person:
    """An approved user with an NLP private evaluation on the demo set."""

    def __init__(self, client: httpx.Client, data_dir: Path) -> None:
        self.client = client
        reply = client.post("/api/auth/register", json=USER)
        assert reply.status_code == 201, reply.text
        user_id = reply.json()["id"]
        self.h = _login(client, USER["email"], USER["password"])
        client.put("/api/me/profile", json={"real_name": "M", "organization": "O"}, headers=self.h)
        creds = json.loads((data_dir / "admin-credentials.json").read_text())
        admin = _login(client, creds["email"], creds["password"])
        reply = client.post(
            f"/api/admin/users/{user_id}/review", json={"decision": "approve"}, headers=admin
        )
        assert reply.status_code == 200, reply.text
        self.h = _login(client, USER["email"], USER["password"])
        images = client.get("/api/images", headers=self.h).json()
        self.image = next(i for i in images["preset"] if i["domain"] == "nlp")["id"]

    def evaluation(self, name: str) -> str:
        reply = self.client.post(
            "/api/evaluations",
            headers=self.h,
            json={
                "domain": "nlp",
                "name": name,
                "datasets": [DATASET],
                "deploy_mode": "private",
                "private": {"image_id": self.image, "card_type": "a100-80g", "gpus": 1},
            },
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    def upload(self, evaluation: str, bundle: Path) -> None:
        reply = request_upload_token(self.client, evaluation, self.h)
        assert reply.status_code == 201, reply.text
        command = shlex.split(reply.json()["command"])
        cli = shutil.which("flageval-serving") or str(
            Path(sys.executable).parent / "flageval-serving"
        )
        done = subprocess.run(
            [cli, *command[1:-1], str(bundle)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            versions = self.client.get(
                f"/api/evaluations/{evaluation}/bundles", headers=self.h
            ).json()
            if versions and versions[0]["status"] in ("valid", "invalid"):
                assert versions[0]["status"] == "valid", versions
                return
            time.sleep(0.3)
        raise AssertionError("the bundle was never checked")

    def formal_run(self, evaluation: str) -> dict[str, Any]:
        reply = self.client.post(
            f"/api/evaluations/{evaluation}/runs", json={"kind": "formal"}, headers=self.h
        )
        assert reply.status_code == 201, reply.text
        return _wait_run(self.client, reply.json()["id"], self.h)


def test_a_hostile_bundle_scores_exactly_like_the_honest_one(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = {
        "FLAGEVAL_PORT": str(port),
        "FLAGEVAL_DATA_DIR": str(data_dir),
        "FLAGEVAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    with (
        platform("up", env, tmp_path / "platform.log", port) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        person = Person(client, data_dir)
        honest_eval = person.evaluation("honest-keywords")
        person.upload(honest_eval, DEMO)
        honest = person.formal_run(honest_eval)
        assert honest["status"] == "succeeded", honest
        honest_scores = {d["dataset"]: d["metrics"] for d in honest["datasets"]}
        assert 0 < honest_scores[DATASET]["accuracy"] < 1

        targets = {"data_dir": str(data_dir), "platform": base, "other_run": honest["id"]}
        hostile_eval = person.evaluation("hostile-keywords")
        person.upload(hostile_eval, _hostile_bundle(tmp_path, targets))
        run = person.formal_run(hostile_eval)
        assert run["status"] == "succeeded", run
        assert {d["dataset"]: d["metrics"] for d in run["datasets"]} == honest_scores

        logs = client.get(f"/api/runs/{run['id']}/logs", headers=person.h)
        assert logs.status_code == 200
        text = logs.text
        attacks = [line for line in text.splitlines() if "ATTACK " in line]
        names = {line.split("ATTACK ", 1)[1].split(":", 1)[0] for line in attacks}
        assert names == {
            "environment",
            "proc-environ",
            "secret-key",
            "sqlite",
            "data-dir-listing",
            "other-run",
            "write-data-dir",
            "write-bundle",
            "write-root",
            "platform-api",
            "postgres",
            "forge-events",
            "kill-runner",
        }, text[-3000:]
        assert not [line for line in attacks if "SUCCEEDED" in line], attacks
        assert not (data_dir / "pwned").exists()

        # No secret and none of the server's paths in what the user reads.
        secret = (data_dir / "secret_key").read_text().strip()
        token = progress_token(secret, uuid.UUID(run["id"]), 1)
        assert secret not in text and token not in text
        assert str(data_dir) not in text and str(tmp_path) not in text
        assert str(ROOT) not in text

        # The honest run's result was not rewritten by the forged events.
        again = client.get(f"/api/runs/{honest['id']}", headers=person.h).json()
        assert {d["dataset"]: d["metrics"] for d in again["datasets"]} == honest_scores
