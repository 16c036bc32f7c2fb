"""A media dataset as platform content, end to end (issue 14, docs/datasets.md).

``flageval up`` in a subprocess; an administrator asks for a dataset upload token, uploads a
≥ 200 MB VQA dataset (generated here: small PNGs plus a few large random-noise PNGs) with the
real ``flageval-serving upload`` CLI, kills it (SIGKILL) half-way and reruns the same command,
which resumes to the same sha256s; registers the upload (the manifest and every image checked
from the store); the catalog lists it; a run of a multimodal API evaluation fetches it into
the per-version cache with every size and sha256 verified (and fails only for want of a
multimodal harness, as this runner build has none). A second run reuses the verified copy.
Then one object in the store is overwritten and the cache dropped (a fresh machine): the next
run fails with cause ``platform`` naming that file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from flageval_platform.testing import free_port
from flageval_platform.testing import launched_platform as platform

pytestmark = pytest.mark.e2e

NAME = "e2e-vqa"
VERSION = "v1"
BIG_IMAGES = 4
BIG_SIDE = (4096, 4352)  # 53.5 MB of noise each, stored uncompressed: 214 MB in all
SMALL_IMAGES = 60


def login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def poll(what: str, fetch: Any, done: Any, within: float, every: float = 0.3) -> Any:
    deadline = time.monotonic() + within
    body = None
    while time.monotonic() < deadline:
        body = fetch()
        if done(body):
            return body
        time.sleep(every)
    raise AssertionError(f"{what} never got there: {body}")


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=0)
    return out.getvalue()


def make_dataset(root: Path) -> dict[str, str]:
    """The dataset folder as the CLI uploads it; returns path → sha256 of every file."""
    files = root / "files"
    files.mkdir(parents=True)
    lines = []
    for i in range(BIG_IMAGES):
        noise = Image.frombytes("RGB", BIG_SIDE, os.urandom(BIG_SIDE[0] * BIG_SIDE[1] * 3))
        (files / f"noise-{i}.png").write_bytes(png(noise))
        lines.append(
            {
                "id": f"big-{i}",
                "images": [f"noise-{i}.png"],
                "question": "Is this noise?",
                "question_type": "yes/no",
                "answer": "yes",
            }
        )
    for i in range(SMALL_IMAGES):
        (files / "small").mkdir(exist_ok=True)
        (files / "small" / f"{i}.png").write_bytes(png(Image.new("RGB", (32, 32), (i, 2 * i, 7))))
        lines.append(
            {
                "id": i,
                "images": [f"small/{i}.png"],
                "question": "What colour is it?",
                "question_type": "other",
                "answers": ["red", "reddish"],
            }
        )
    card = {"name": NAME, "kind": "vqa", "version": VERSION, "description": "e2e noise"}
    (root / "card.json").write_text(json.dumps(card))
    (root / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def run_and_wait(client: httpx.Client, evaluation: str, admin: dict[str, str]) -> dict[str, Any]:
    reply = client.post(
        f"/api/evaluations/{evaluation}/runs", json={"kind": "validation"}, headers=admin
    )
    assert reply.status_code == 201, reply.text
    run_id = reply.json()["id"]
    run = poll(
        "the run",
        lambda: client.get(f"/api/runs/{run_id}", headers=admin).json(),
        lambda r: r["status"] in ("succeeded", "failed", "stopped"),
        within=90,
    )
    logs = client.get(f"/api/runs/{run_id}/logs", headers=admin).text
    return {**run, "logs": logs}


def test_a_large_media_dataset_is_uploaded_resumed_registered_and_verified_by_runs(
    tmp_path: Path,
) -> None:
    cli = shutil.which("flageval-serving") or str(Path(sys.executable).parent / "flageval-serving")
    dataset = tmp_path / "my_dataset"
    sha256s = make_dataset(dataset)
    total = sum(p.stat().st_size for p in dataset.rglob("*") if p.is_file())
    assert total >= 200 * 1024 * 1024
    port = free_port()
    data_dir = tmp_path / "data"
    env = {
        "FLAGEVAL_PORT": str(port),
        "FLAGEVAL_DATA_DIR": str(data_dir),
        "FLAGEVAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # Small chunks: many requests, so the CLI can be killed half-way.
        "FLAGEVAL_UPLOAD_CHUNK_KB": "2048",
    }
    with (
        platform("up", env, tmp_path / "platform.log", port) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        creds = json.loads((data_dir / "admin-credentials.json").read_text())
        admin = login(client, creds["email"], creds["password"])

        # 1. the token and the command line
        reply = client.post(
            "/api/admin/datasets/uploads", json={"dataset": NAME, "version": VERSION}, headers=admin
        )
        assert reply.status_code == 201, reply.text
        upload_id = reply.json()["upload_id"]
        command = shlex.split(reply.json()["command"])
        assert command[:2] == ["flageval-serving", "upload"] and command[-1] == "./my_dataset"
        argv = [cli, *command[1:-1], str(dataset)]

        def progress() -> dict[str, Any]:
            reply = client.get(f"/api/admin/datasets/uploads/{upload_id}", headers=admin)
            assert reply.status_code == 200, reply.text
            return reply.json()

        # 2. killed half-way, then the same command again
        first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            poll(
                "a first file in",
                progress,
                lambda p: p["files_ready"] > 0 or first.poll() is not None,
                within=60,
                every=0.05,
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        interrupted = progress()
        assert interrupted["status"] == "uploading", interrupted
        assert 0 < interrupted["files_ready"] < len(sha256s)
        rerun = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        done = poll("the layout check", progress, lambda p: p["status"] != "uploading", 30)
        assert done["status"] == "valid", done
        assert {f["path"]: f["sha256"] for f in done["files"]} == sha256s

        # 3. registration (once eval-api has the upload's file table)
        register = f"/api/admin/datasets/uploads/{upload_id}/register"
        reply = poll(
            "registration",
            lambda: client.post(register, json={"catalog_task": "vqa"}, headers=admin),
            lambda r: r.status_code != 404,
            within=30,
        )
        assert reply.status_code == 201, reply.text
        registered = reply.json()
        assert (registered["id"], registered["version"], registered["size"]) == (
            NAME,
            VERSION,
            BIG_IMAGES + SMALL_IMAGES,
        )
        again = client.post(register, json={"catalog_task": "vqa"}, headers=admin)
        assert again.status_code == 409, again.text
        catalog = client.get("/api/catalog").json()
        entry = next(d for d in catalog["domains"]["multimodal"]["datasets"] if d["id"] == NAME)
        assert (entry["version"], entry["size"]) == (VERSION, BIG_IMAGES + SMALL_IMAGES)

        # 4. runs read it: every file verified into the per-version cache
        reply = client.post(
            "/api/evaluations",
            headers=admin,
            json={
                "domain": "multimodal",
                "name": "media-reader",
                "tasks": [{"task": "vqa", "datasets": [NAME]}],
                "deploy_mode": "api",
                "api": {"endpoint": "http://127.0.0.1:9/infer"},
            },
        )
        assert reply.status_code == 201, reply.text
        evaluation = reply.json()["id"]
        files = len(sha256s)
        run = run_and_wait(client, evaluation, admin)
        assert f"dataset {NAME}: {files} files verified" in run["logs"], run["logs"]
        assert run["failure"]["cause"] == "platform"
        assert "no multimodal harness yet" in run["failure"]["message"]
        cached = data_dir / "dataset-cache" / NAME
        assert any(p.name.endswith(".verified") for p in cached.iterdir())

        run = run_and_wait(client, evaluation, admin)
        assert f"dataset {NAME}: {files} files verified (cached copy" in run["logs"], run["logs"]

        # 5. a tampered object in the store, on a machine without the cached copy
        victim = (
            data_dir / "objects" / "bundles" / upload_id / "files" / "files" / "small" / "7.png"
        )
        assert victim.is_file()
        victim.write_bytes(png(Image.new("RGB", (32, 32), (255, 255, 255))))
        shutil.rmtree(data_dir / "dataset-cache")
        run = run_and_wait(client, evaluation, admin)
        assert run["status"] == "failed"
        assert run["failure"]["cause"] == "platform", run["failure"]
        assert "files/small/7.png" in run["failure"]["message"], run["failure"]
        assert "sha256" in run["failure"]["message"]
        assert not (data_dir / "dataset-cache" / NAME / registered["content_sha256"]).exists()
