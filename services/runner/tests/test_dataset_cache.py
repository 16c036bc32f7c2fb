"""The per-version media dataset cache (``flageval_runner.dataset_cache``) against a real HTTP
server on loopback: verification while streaming, reuse, tampering on either side, concurrent
runs of one version; and a runner run of a CV evaluation on a media dataset."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from PIL import Image

from flageval_datasets.media import FileInfo, parse_manifest
from flageval_platform.testing import served_in_thread
from flageval_runner.dataset_cache import DatasetCache, load_media_manifest
from flageval_runner.progress import DownloadError, ProgressClient

RUN_ID = "11111111-2222-3333-4444-555555555555"
TOKEN = "run-token-secret-123"


class Files:
    """Presigned-style file server: ``/files/{name}``, counting GETs per name."""

    def __init__(self) -> None:
        self.url = ""
        self.blobs: dict[str, bytes] = {}
        self.gets: Counter[str] = Counter()
        self.spec: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/files/{name:path}")
        async def get(name: str, request: Request) -> Response:
            assert "x-run-token" not in request.headers
            self.gets[name] += 1
            if name not in self.blobs:
                return Response(status_code=404)
            return Response(self.blobs[name], media_type="application/octet-stream")

        base = "/api/runner/runs/{run_id}"

        @app.get(base + "/spec")
        async def spec(run_id: str) -> Any:
            return self.spec

        @app.post(base + "/events")
        async def events(run_id: str, request: Request) -> Any:
            batch = (await request.json())["events"]
            self.events.extend(batch)
            return {"accepted": len(batch), "stop": False}

        return app


@pytest.fixture(scope="module")
def server() -> Iterator[Files]:
    files = Files()
    with served_in_thread(files.app()) as url:
        files.url = url
        yield files


@pytest.fixture
def files(server: Files) -> Files:
    server.blobs.clear()
    server.gets.clear()
    server.events.clear()
    return server


def png(color: tuple[int, int, int], size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="PNG")
    return out.getvalue()


def media_source(files: Files, name: str = "tiny-pets", count: int = 3) -> dict[str, Any]:
    """A small image-classification dataset served by ``files``, as the scheduler gives it."""
    card = json.dumps(
        {"name": name, "kind": "image_classification", "version": "v1", "classes": ["cat", "dog"]}
    ).encode()
    media = {f"files/img{i}.png": png((40 * i, 10, 200)) for i in range(count)}
    manifest = "".join(
        json.dumps({"id": i, "image": f"img{i}.png", "label": ["cat", "dog"][i % 2]}) + "\n"
        for i in range(count)
    ).encode()
    blobs = {"card.json": card, "manifest.jsonl": manifest, **media}
    table = {
        p[len("files/") :]: FileInfo(len(b), hashlib.sha256(b).hexdigest())
        for p, b in media.items()
    }
    content = parse_manifest(card, manifest, table).content_sha256
    entries = []
    for path, data in blobs.items():
        files.blobs[f"{name}/{path}"] = data
        entries.append(
            {
                "path": path,
                "size_bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "url": f"{files.url}/files/{name}/{path}",
            }
        )
    return {
        "type": "media",
        "version": "v1",
        "content_sha256": content,
        "card_url": f"{files.url}/files/{name}/card.json",
        "manifest_url": f"{files.url}/files/{name}/manifest.jsonl",
        "files": entries,
    }


def client(files: Files) -> ProgressClient:
    return ProgressClient(files.url, RUN_ID, TOKEN, retry_seconds=2, initial_backoff=0.01)


async def test_a_version_is_verified_made_read_only_and_reused(
    files: Files, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = media_source(files)
    cache = DatasetCache(tmp_path / "cache")
    progress = client(files)
    try:
        with caplog.at_level("INFO"):
            first = await cache.fetch(progress, "tiny-pets", source)
        assert not first.reused
        assert first.root == tmp_path / "cache" / "tiny-pets" / source["content_sha256"]
        assert "dataset tiny-pets: 5 files verified" in caplog.text
        for entry in source["files"]:
            path = first.path(entry["path"])
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
            assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        assert len(load_media_manifest(first).items) == 3
        assert sum(files.gets.values()) == 5

        second = await DatasetCache(tmp_path / "cache").fetch(progress, "tiny-pets", source)
        assert second.reused and second.root == first.root
        assert sum(files.gets.values()) == 5  # nothing downloaded again
    finally:
        await progress.aclose()


async def test_a_tampered_object_fails_naming_the_file_and_nothing_is_kept(
    files: Files, tmp_path: Path
) -> None:
    source = media_source(files)
    files.blobs["tiny-pets/files/img1.png"] = png((1, 2, 3))  # same path, other bytes
    cache_root = tmp_path / "cache"
    progress = client(files)
    try:
        with pytest.raises(DownloadError, match=r"dataset file files/img1\.png: .*sha256"):
            await DatasetCache(cache_root).fetch(progress, "tiny-pets", source)
    finally:
        await progress.aclose()
    left = sorted(p.name for p in (cache_root / "tiny-pets").iterdir())
    assert left == [f"{source['content_sha256']}.lock"]  # no copy, no stamp, no temp folder


async def test_a_file_longer_than_pinned_is_refused_while_streaming(
    files: Files, tmp_path: Path
) -> None:
    source = media_source(files)
    files.blobs["tiny-pets/manifest.jsonl"] += b"\n" * 10
    progress = client(files)
    try:
        with pytest.raises(DownloadError, match=r"dataset file manifest\.jsonl: more than"):
            await DatasetCache(tmp_path).fetch(progress, "tiny-pets", source)
    finally:
        await progress.aclose()


async def test_a_cached_copy_changed_after_verification_is_fetched_again(
    files: Files, tmp_path: Path
) -> None:
    source = media_source(files)
    progress = client(files)
    try:
        first = await DatasetCache(tmp_path).fetch(progress, "tiny-pets", source)
        victim = first.path("files/img2.png")
        victim.chmod(0o644)
        victim.write_bytes(png((9, 9, 9)))
        again = await DatasetCache(tmp_path).fetch(progress, "tiny-pets", source)
        assert not again.reused
        assert files.gets["tiny-pets/files/img2.png"] == 2
        assert hashlib.sha256(victim.read_bytes()).hexdigest() == next(
            f["sha256"] for f in source["files"] if f["path"] == "files/img2.png"
        )
    finally:
        await progress.aclose()


async def test_concurrent_runs_of_one_version_download_it_once(
    files: Files, tmp_path: Path
) -> None:
    source = media_source(files, count=20)
    progress = client(files)
    try:
        copies = await asyncio.gather(
            *(DatasetCache(tmp_path).fetch(progress, "tiny-pets", source) for _ in range(4))
        )
    finally:
        await progress.aclose()
    assert len({c.root for c in copies}) == 1
    assert sorted(c.reused for c in copies) == [False, True, True, True]
    assert set(files.gets.values()) == {1}  # every file fetched exactly once


@pytest.mark.parametrize(
    "bad",
    [
        {"content_sha256": "nope"},
        {"files": []},
        {"files": [{"path": "../x", "size_bytes": 1, "sha256": "0" * 64, "url": "u"}]},
        {"files": [{"path": "a", "size_bytes": -1, "sha256": "0" * 64, "url": "u"}]},
    ],
)
async def test_a_malformed_source_is_a_download_error(
    files: Files, tmp_path: Path, bad: dict[str, Any]
) -> None:
    source = {**media_source(files), **bad}
    progress = client(files)
    try:
        with pytest.raises(DownloadError):
            await DatasetCache(tmp_path).fetch(progress, "tiny-pets", source)
    finally:
        await progress.aclose()


def run_cv(files: Files, source: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    files.spec = {
        "run_id": RUN_ID,
        "attempt": 1,
        "kind": "formal",
        "domain": "cv",
        "deploy_mode": "private",
        "heartbeat_seconds": 5,
        "datasets": [{"task": "classification", "dataset": "tiny-pets", "source": source}],
        "done": [],
        "bundle": None,
        "api": None,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGEVAL_")}
    env.update(
        FLAGEVAL_PROGRESS_URL=files.url,
        FLAGEVAL_RUN_ID=RUN_ID,
        FLAGEVAL_RUN_ATTEMPT="1",
        FLAGEVAL_RUN_TOKEN=TOKEN,
        FLAGEVAL_WORK_DIR=str(tmp_path / "work"),
        FLAGEVAL_DATASET_CACHE=str(tmp_path / "cache"),
        FLAGEVAL_PROGRESS_RETRY_SECONDS="5",
    )
    run = subprocess.run(
        [sys.executable, "-m", "flageval_runner", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return list(files.events)


def test_a_cv_run_verifies_its_media_dataset_before_failing_for_want_of_a_harness(
    files: Files, tmp_path: Path
) -> None:
    events = run_cv(files, media_source(files), tmp_path)
    lines = [line for e in events if e["type"] == "log" for line in e["lines"]]
    assert any("dataset tiny-pets: 5 files verified" in line for line in lines), lines
    assert any("dataset tiny-pets: manifest loaded, 3 items" in line for line in lines)
    finished = next(e for e in events if e["type"] == "dataset_finished")
    assert finished["error"] == "this runner build has no cv harness yet"
    assert (events[-1]["status"], events[-1]["failure_cause"]) == ("failed", "platform")


def test_a_cv_run_on_a_tampered_media_dataset_fails_with_cause_platform_naming_the_file(
    files: Files, tmp_path: Path
) -> None:
    source = media_source(files)
    files.blobs["tiny-pets/files/img0.png"] = png((0, 0, 1))
    events = run_cv(files, source, tmp_path)
    finished = next(e for e in events if e["type"] == "dataset_finished")
    assert "files/img0.png" in finished["error"] and "sha256" in finished["error"]
    last = events[-1]
    assert (last["status"], last["failure_cause"]) == ("failed", "platform")
    assert "files/img0.png" in last["message"]
