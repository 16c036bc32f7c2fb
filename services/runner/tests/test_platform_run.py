"""``python -m flageval_runner run`` / ``fetch-bundle`` against a fake progress channel.

A small FastAPI app plays the platform (spec, events, predictions, presigned files) and another
plays an OpenAI-style model; the runner runs as a subprocess with only the documented
environment, exactly as an executor starts it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from flageval_datasets.loader import load_demo_dataset
from flageval_platform.testing import served_in_thread

RUN_ID = "11111111-2222-3333-4444-555555555555"
TOKEN = "run-token-secret-123"
BUNDLE_TOKEN = "bundle-token-secret-456"
API_KEY = "sk-platform-test-key-987"
BUNDLE = Path(__file__).parent / "bundles" / "echo"
DEMO = Path(__file__).parents[3] / "libs" / "datasets" / "src" / "flageval_datasets" / "demo_data"


def serve(app: FastAPI) -> Iterator[str]:
    with served_in_thread(app) as url:
        yield url


class FakePlatform:
    """The progress channel's server side, recording everything the runner sends."""

    def __init__(self) -> None:
        self.url = ""
        self.reset()

    def reset(self) -> None:
        self.spec: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.predictions: dict[str, bytes] = {}
        self.files: dict[str, bytes] = {}
        self.fail_posts = 0  # answer 503 to this many event posts first
        self.failed_posts = 0
        self.spec_status: int | None = None
        self.stop_on_heartbeat = False
        self.stop_sent_at: int | None = None  # len(events) when stop was first answered
        self.bad_tokens = 0
        self.bundle_requests: list[dict[str, str | None]] = []

    def file_url(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"{self.url}/files/{name}"

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def main_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] not in ("log", "heartbeat")]

    def app(self) -> FastAPI:
        app = FastAPI()
        base = "/api/runner/runs/{run_id}"

        def refused(request: Request, run_id: str) -> JSONResponse | None:
            if request.headers.get("x-run-token") != TOKEN or run_id != RUN_ID:
                self.bad_tokens += 1
                return JSONResponse({"detail": "bad token"}, status_code=401)
            return None

        @app.get(base + "/spec")
        async def spec(run_id: str, request: Request) -> Any:
            if (r := refused(request, run_id)) is not None:
                return r
            if self.spec_status is not None:
                return JSONResponse(
                    {"detail": {"code": "run_finished"}}, status_code=self.spec_status
                )
            return self.spec

        @app.get(base + "/bundle")
        async def bundle(run_id: str, request: Request) -> Any:
            # Like the platform: only the bundle token, never the run token, reads the bundle.
            headers = {k: request.headers.get(k) for k in ("x-run-token", "x-bundle-token")}
            self.bundle_requests.append(headers)
            if headers["x-bundle-token"] != BUNDLE_TOKEN or run_id != RUN_ID:
                self.bad_tokens += 1
                return JSONResponse({"detail": "bad token"}, status_code=401)
            if self.spec_status is not None:
                return JSONResponse(
                    {"detail": {"code": "run_finished"}}, status_code=self.spec_status
                )
            if not self.spec.get("bundle"):
                return JSONResponse({"detail": "This run has no bundle."}, status_code=404)
            return self.spec["bundle"]

        @app.post(base + "/events")
        async def events(run_id: str, request: Request) -> Any:
            if (r := refused(request, run_id)) is not None:
                return r
            if self.fail_posts > 0:
                self.fail_posts -= 1
                self.failed_posts += 1
                return JSONResponse({"detail": "restarting"}, status_code=503)
            batch = (await request.json())["events"]
            self.events.extend(batch)
            stop = self.stop_on_heartbeat and any(e["type"] == "heartbeat" for e in batch)
            if stop and self.stop_sent_at is None:
                self.stop_sent_at = len(self.events)
            return {"accepted": len(batch), "stop": stop or self.stop_sent_at is not None}

        @app.put(base + "/predictions/{dataset}")
        async def predictions(run_id: str, dataset: str, request: Request) -> Any:
            if (r := refused(request, run_id)) is not None:
                return r
            self.predictions[dataset] = await request.body()
            return {"stored": True}

        @app.get("/files/{name:path}")
        async def files(name: str, request: Request) -> Response:
            # Presigned URLs get no token.
            assert "x-run-token" not in request.headers
            assert "x-bundle-token" not in request.headers
            if name not in self.files:
                return Response(status_code=404)
            return Response(self.files[name], media_type="application/octet-stream")

        return app


GOLD = {
    item.input: item.label
    for name in ("demo-en-choice", "demo-zh-choice")
    for item in load_demo_dataset(name).items
}


class FakeModel:
    """An OpenAI-style endpoint that answers every demo choice question with its gold option."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.delay = 0.0
        self.auth: set[str | None] = set()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            body = await request.json()
            self.auth.add(request.headers.get("authorization"))
            if body["model"] == "broken":
                return JSONResponse({"error": {"message": "no such model"}}, status_code=400)
            if self.delay:
                await asyncio.sleep(self.delay)
            prompt = body["messages"][0]["content"]
            answer = next((gold for q, gold in GOLD.items() if q in prompt), "I do not know")
            return {"choices": [{"message": {"role": "assistant", "content": f"{answer}"}}]}

        @app.api_route("/func", methods=["GET", "POST"])
        async def func(request: Request) -> Any:  # a bundle's /func, served beside the runner
            if request.method == "GET":
                return JSONResponse({"detail": "POST only"}, status_code=405)
            prompt = (await request.json())["prompt"]
            answer = next((gold for q, gold in GOLD.items() if q in prompt), "?")
            return {"completions": [{"text": answer, "tokens": answer}]}

        return app


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakePlatform, FakeModel, str]]:
    platform, model = FakePlatform(), FakeModel()
    platform_serving = serve(platform.app())
    model_serving = serve(model.app())
    platform.url = next(platform_serving)
    model_url = next(model_serving)
    yield platform, model, f"{model_url}/v1/chat/completions"
    for gen in (platform_serving, model_serving):
        next(gen, None)


@pytest.fixture
def fake(servers: tuple[FakePlatform, FakeModel, str]) -> tuple[FakePlatform, FakeModel, str]:
    platform, model, endpoint = servers
    platform.reset()
    model.reset()
    return platform, model, endpoint


def runner_env(platform: FakePlatform, work_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGEVAL_")}
    env.update(
        FLAGEVAL_PROGRESS_URL=platform.url,
        FLAGEVAL_RUN_ID=RUN_ID,
        FLAGEVAL_RUN_ATTEMPT="1",
        FLAGEVAL_RUN_TOKEN=TOKEN,
        FLAGEVAL_WORK_DIR=str(work_dir),
        FLAGEVAL_PROGRESS_RETRY_SECONDS="30",
    )
    env.update(extra)
    return env


def private_math_spec(platform: FakePlatform, corrupt: str | None = None) -> dict[str, Any]:
    """A private run of the test bundle on demo-en-math (``corrupt``: a file whose pinned
    sha256 will not match what is downloaded)."""
    return api_spec(
        "",
        [demo("demo-en-math", "math")],
        deploy_mode="private",
        api=None,
        bundle=bundle_spec(platform, corrupt=corrupt),
    )


def run_runner(
    platform: FakePlatform, work_dir: Path, *args: str, timeout: float = 60, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flageval_runner", *(args or ("run",))],
        env=runner_env(platform, work_dir, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def api_spec(endpoint: str, datasets: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "run_id": RUN_ID,
        "attempt": 1,
        "kind": "formal",
        "domain": "nlp",
        "deploy_mode": "api",
        "robustness": False,
        "validation_samples": 3,
        "heartbeat_seconds": 0.2,
        "datasets": datasets,
        "done": [],
        "bundle": None,
        "api": {"endpoint": endpoint, "model_name": "gold-model", "api_key": API_KEY},
        "generation": {"max_new_tokens": 64, "seed": 0},
    }
    spec.update(over)
    return spec


def demo(name: str, task: str = "knowledge") -> dict[str, Any]:
    return {"task": task, "dataset": name, "source": {"type": "demo", "name": name}}


def by_url(platform: FakePlatform, name: str, task: str = "knowledge") -> dict[str, Any]:
    card = platform.file_url(f"data/{name}/card.json", (DEMO / name / "card.json").read_bytes())
    data = platform.file_url(f"data/{name}/data.jsonl", (DEMO / name / "data.jsonl").read_bytes())
    return {
        "task": task,
        "dataset": name,
        "source": {"type": "url", "card_url": card, "data_url": data},
    }


def bundle_spec(platform: FakePlatform, *, corrupt: str | None = None) -> dict[str, Any]:
    files = []
    for path in sorted(
        p for p in BUNDLE.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ):
        rel = path.relative_to(BUNDLE).as_posix()
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if rel == corrupt:
            sha = hashlib.sha256(b"something else").hexdigest()
        url = platform.file_url(f"bundle/{rel}", data)
        files.append({"path": rel, "size_bytes": len(data), "sha256": sha, "url": url})
    return {"version": 1, "sha256": "0" * 64, "files": files}


def dataset_events(platform: FakePlatform) -> list[tuple[str, str, str | None]]:
    return [
        (e["type"], e["dataset"], e.get("status"))
        for e in platform.events
        if e["type"] in ("dataset_started", "dataset_finished", "samples")
    ]


def log_lines(platform: FakePlatform) -> list[str]:
    return [line for e in platform.events if e["type"] == "log" for line in e["lines"]]


def assert_log_seqs_increase(platform: FakePlatform) -> None:
    seqs = [e["seq"] for e in platform.events if e["type"] == "log"]
    assert seqs and seqs == sorted(set(seqs)) and seqs[0] == 1


# ---------------------------------------------------------------- the happy paths


def test_formal_api_run_reports_every_step(fake: Any, tmp_path: Path) -> None:
    platform, model, endpoint = fake
    model.delay = 0.1  # long enough for a few heartbeats
    platform.spec = api_spec(endpoint, [demo("demo-en-choice"), by_url(platform, "demo-zh-choice")])
    run = run_runner(platform, tmp_path)
    assert run.returncode == 0, run.stderr
    assert platform.types()[0] == "started"
    assert dataset_events(platform) == [
        ("dataset_started", "demo-en-choice", None),
        ("dataset_finished", "demo-en-choice", "succeeded"),
        ("dataset_started", "demo-zh-choice", None),
        ("dataset_finished", "demo-zh-choice", "succeeded"),
    ]
    finished = [e for e in platform.events if e["type"] == "dataset_finished"]
    assert all(e["metrics"] == {"accuracy": 1.0} for e in finished)
    assert all(e["task"] == "knowledge" for e in finished)
    last = platform.events[-1]
    assert last["type"] == "finished" and last["status"] == "succeeded"
    assert last["failure_cause"] is None
    assert "heartbeat" in platform.types()
    assert len({e["id"] for e in platform.events}) == len(platform.events)  # uuid4 hex ids
    assert all(len(e["id"]) == 32 for e in platform.events)
    # Predictions: one JSONL record per item, each scored 1.0.
    assert set(platform.predictions) == {"demo-en-choice", "demo-zh-choice"}
    records = [json.loads(line) for line in platform.predictions["demo-zh-choice"].splitlines()]
    assert len(records) == 20 and all(r["score"] == 1.0 for r in records)
    assert {"id", "prompt", "prediction", "gold", "score"} <= set(records[0])
    # Logs travel as log events (not stdout), and never carry a secret.
    assert_log_seqs_increase(platform)
    lines = log_lines(platform)
    assert any("demo-zh-choice" in line for line in lines)
    assert run.stdout == ""
    everything = json.dumps(platform.events) + run.stdout + run.stderr
    assert API_KEY not in everything and TOKEN not in everything
    assert model.auth == {f"Bearer {API_KEY}"}
    assert platform.bad_tokens == 0


def test_validation_run_posts_samples(fake: Any, tmp_path: Path) -> None:
    platform, _, endpoint = fake
    platform.spec = api_spec(
        endpoint, [demo("demo-en-choice"), demo("demo-zh-choice")], kind="validation"
    )
    run = run_runner(platform, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [(t, d) for t, d, _ in dataset_events(platform)] == [
        ("dataset_started", "demo-en-choice"),
        ("samples", "demo-en-choice"),
        ("dataset_finished", "demo-en-choice"),
        ("dataset_started", "demo-zh-choice"),
        ("samples", "demo-zh-choice"),
        ("dataset_finished", "demo-zh-choice"),
    ]
    for event in platform.events:
        if event["type"] == "samples":
            assert 1 <= len(event["rows"]) <= 3
            for row in event["rows"]:
                assert set(row) == {"id", "sample", "label", "predict"}
                assert row["predict"] == row["label"]  # the gold model
                assert row["sample"].splitlines()[0] in GOLD
        if event["type"] == "dataset_finished":
            assert event["status"] == "succeeded" and event["metrics"] == {}
    assert platform.predictions == {}
    assert platform.events[-1]["status"] == "succeeded"


def test_resumed_attempt_runs_only_what_is_left(fake: Any, tmp_path: Path) -> None:
    platform, _, endpoint = fake
    platform.spec = api_spec(endpoint, [demo("demo-zh-choice")], done=["demo-en-choice"])
    run = run_runner(platform, tmp_path, FLAGEVAL_RUN_ATTEMPT="2")
    assert run.returncode == 0, run.stderr
    assert {d for _, d, _ in dataset_events(platform)} == {"demo-zh-choice"}
    assert set(platform.predictions) == {"demo-zh-choice"}
    assert platform.events[-1]["type"] == "finished"


def test_robustness_is_reported_as_a_metric(fake: Any, tmp_path: Path) -> None:
    platform, _, endpoint = fake
    platform.spec = api_spec(endpoint, [demo("demo-en-choice")], robustness=True)
    run = run_runner(platform, tmp_path)
    assert run.returncode == 0, run.stderr
    (done,) = [e for e in platform.events if e["type"] == "dataset_finished"]
    assert done["metrics"]["accuracy"] == 1.0 and "robustness" in done["metrics"]


# ---------------------------------------------------------------- the channel misbehaving


def test_a_platform_restart_does_not_kill_the_run(fake: Any, tmp_path: Path) -> None:
    platform, _, endpoint = fake
    platform.fail_posts = 4
    platform.spec = api_spec(endpoint, [demo("demo-en-choice")])
    run = run_runner(platform, tmp_path)
    assert run.returncode == 0, run.stderr
    assert platform.failed_posts == 4
    assert platform.types()[0] == "started"
    assert platform.events[-1]["type"] == "finished"
    assert platform.events[-1]["status"] == "succeeded"


def test_a_refused_spec_exits_3_without_posting(fake: Any, tmp_path: Path) -> None:
    platform, _, endpoint = fake
    platform.spec = api_spec(endpoint, [demo("demo-en-choice")])
    platform.spec_status = 409
    run = run_runner(platform, tmp_path)
    assert run.returncode == 3, run.stderr
    assert platform.events == []
    # A wrong token is refused the same way.
    platform.spec_status = None
    run = run_runner(platform, tmp_path, FLAGEVAL_RUN_TOKEN="wrong")
    assert run.returncode == 3 and platform.events == []


def test_stop_on_a_heartbeat_exits_promptly_without_finishing(fake: Any, tmp_path: Path) -> None:
    platform, model, endpoint = fake
    model.delay = 1.0  # 20 items at 8 at a time: ~3 s if it ran to the end
    platform.stop_on_heartbeat = True
    platform.spec = api_spec(endpoint, [demo("demo-en-choice"), demo("demo-zh-choice")])
    began = time.monotonic()
    run = run_runner(platform, tmp_path, timeout=30)
    took = time.monotonic() - began
    assert run.returncode == 0, run.stderr
    assert platform.stop_sent_at is not None
    assert "finished" not in platform.types()
    assert "dataset_finished" not in platform.types()
    assert took < 8


def test_missing_model_env_is_a_usage_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGEVAL_")}
    run = subprocess.run(
        [sys.executable, "-m", "flageval_runner", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2 and "FLAGEVAL_PROGRESS_URL" in run.stderr


# ---------------------------------------------------------------- failures and their causes


def test_a_dataset_without_data_fails_with_cause_platform(fake: Any, tmp_path: Path) -> None:
    platform, _, endpoint = fake
    platform.spec = api_spec(
        endpoint,
        [{"task": "knowledge", "dataset": "lost-set", "source": None}, demo("demo-en-choice")],
    )
    run = run_runner(platform, tmp_path)
    assert run.returncode == 0, run.stderr
    assert dataset_events(platform) == [
        ("dataset_started", "lost-set", None),
        ("dataset_finished", "lost-set", "failed"),
        ("dataset_finished", "demo-en-choice", "skipped"),
    ]
    failed = next(e for e in platform.events if e["type"] == "dataset_finished")
    assert failed["error"] == "the platform has no data for dataset lost-set"
    last = platform.events[-1]
    assert (last["type"], last["status"], last["failure_cause"]) == (
        "finished",
        "failed",
        "platform",
    )


def test_a_model_error_fails_with_cause_user(fake: Any, tmp_path: Path) -> None:
    platform, _, endpoint = fake
    spec = api_spec(endpoint, [demo("demo-en-choice"), demo("demo-zh-choice")])
    spec["api"]["model_name"] = "broken"
    platform.spec = spec
    run = run_runner(platform, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [(d, s) for t, d, s in dataset_events(platform) if t == "dataset_finished"] == [
        ("demo-en-choice", "failed"),
        ("demo-zh-choice", "skipped"),
    ]
    failed = next(e for e in platform.events if e["type"] == "dataset_finished")
    assert "HTTP 400" in failed["error"] and "no such model" in failed["error"]
    last = platform.events[-1]
    assert (last["status"], last["failure_cause"]) == ("failed", "user")


def test_a_domain_without_a_harness_fails_with_cause_platform(fake: Any, tmp_path: Path) -> None:
    platform, _, endpoint = fake
    platform.spec = api_spec(endpoint, [demo("demo-en-choice")], domain="multimodal")
    run = run_runner(platform, tmp_path)
    assert run.returncode == 0, run.stderr
    failed = next(e for e in platform.events if e["type"] == "dataset_finished")
    assert failed["error"] == "this runner build has no multimodal harness yet"
    assert (platform.events[-1]["status"], platform.events[-1]["failure_cause"]) == (
        "failed",
        "platform",
    )


def test_a_bundle_with_a_wrong_checksum_fails_with_cause_platform(
    fake: Any, tmp_path: Path
) -> None:
    platform, _, _ = fake
    platform.spec = private_math_spec(platform, corrupt="service.py")
    run = run_runner(platform, tmp_path)
    assert run.returncode == 0, run.stderr
    failed = next(e for e in platform.events if e["type"] == "dataset_finished")
    assert failed["status"] == "failed" and "service.py: sha256 mismatch" in failed["error"]
    assert (platform.events[-1]["status"], platform.events[-1]["failure_cause"]) == (
        "failed",
        "platform",
    )


def test_a_private_bundle_is_downloaded_served_and_scored(fake: Any, tmp_path: Path) -> None:
    platform, _, _ = fake
    platform.spec = private_math_spec(platform)
    run = run_runner(platform, tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "bundle" / "model" / "answers.json").is_file()
    (done,) = [e for e in platform.events if e["type"] == "dataset_finished"]
    assert done["status"] == "succeeded"
    assert 0.0 <= done["metrics"]["accuracy"] <= 1.0 and "exact_match" in done["metrics"]
    assert len(platform.predictions["demo-en-math"].splitlines()) == 15
    lines = log_lines(platform)
    assert any("echo bundle loaded" in line for line in lines)  # the bundle's own output
    assert_log_seqs_increase(platform)
    assert platform.events[-1]["status"] == "succeeded"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"FLAGEVAL_BWRAP": "/nonexistent/bwrap"}, "bubblewrap (bwrap) is not installed"),
        ({"FLAGEVAL_SANDBOX": "chroot"}, "FLAGEVAL_SANDBOX='chroot' is not one of"),
    ],
)
def test_a_sandbox_that_cannot_be_set_up_fails_the_run_with_cause_platform(
    fake: Any, tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    """The bundle never runs unconfined by accident: no sandbox, no model."""
    platform, _, _ = fake
    platform.spec = private_math_spec(platform)
    run = run_runner(platform, tmp_path, **extra)
    assert run.returncode == 0, run.stderr
    failed = next(e for e in platform.events if e["type"] == "dataset_finished")
    assert failed["status"] == "failed" and message in failed["error"], failed
    assert (platform.events[-1]["status"], platform.events[-1]["failure_cause"]) == (
        "failed",
        "platform",
    )
    assert not any("echo bundle loaded" in line for line in log_lines(platform))


def test_the_sandbox_opt_out_runs_the_bundle_and_says_so(fake: Any, tmp_path: Path) -> None:
    platform, _, _ = fake
    platform.spec = private_math_spec(platform)
    run = run_runner(platform, tmp_path, timeout=120, FLAGEVAL_SANDBOX="none")
    assert run.returncode == 0, run.stderr
    assert platform.events[-1]["status"] == "succeeded"
    lines = log_lines(platform)
    assert any("UNCONFINED (FLAGEVAL_SANDBOX=none)" in line for line in lines)
    assert any("user code runs unconfined" in line for line in lines)
    assert not any(str(tmp_path) in line for line in lines)  # host paths are not shown


def test_a_model_server_beside_the_runner_is_used_as_is(fake: Any, tmp_path: Path) -> None:
    """FLAGEVAL_MODEL_URL (the Kubernetes sidecar): no download, no bundle server."""
    platform, _, endpoint = fake
    platform.spec = api_spec(
        "",
        [demo("demo-en-choice")],
        deploy_mode="private",
        api=None,
        bundle=bundle_spec(platform, corrupt="service.py"),  # fails if it were downloaded
    )
    sidecar = endpoint.removesuffix("/v1/chat/completions")
    run = run_runner(platform, tmp_path, FLAGEVAL_MODEL_URL=sidecar)
    assert run.returncode == 0, run.stderr
    (done,) = [e for e in platform.events if e["type"] == "dataset_finished"]
    assert done["status"] == "succeeded" and done["metrics"] == {"accuracy": 1.0}
    assert not (tmp_path / "bundle").exists()


def fetch_bundle(
    platform: FakePlatform, work_dir: Path, dest: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``fetch-bundle`` as the Kubernetes init container runs it: the bundle token, no run token."""
    env = {"FLAGEVAL_RUN_TOKEN": "", "FLAGEVAL_BUNDLE_TOKEN": BUNDLE_TOKEN, **extra}
    return run_runner(platform, work_dir, "fetch-bundle", "--dest", str(dest), **env)


def test_fetch_bundle_downloads_and_verifies_with_the_bundle_token(
    fake: Any, tmp_path: Path
) -> None:
    platform, _, _ = fake
    platform.spec = api_spec("", [], deploy_mode="private", bundle=bundle_spec(platform))
    dest = tmp_path / "bundle"
    ok = fetch_bundle(platform, tmp_path, dest)
    assert ok.returncode == 0, ok.stderr
    assert (dest / "service.py").read_bytes() == (BUNDLE / "service.py").read_bytes()
    assert (dest / "model" / "answers.json").is_file()
    # It asked for the bundle only, with the bundle token only.
    assert platform.bundle_requests == [{"x-run-token": None, "x-bundle-token": BUNDLE_TOKEN}]
    assert platform.bad_tokens == 0
    assert BUNDLE_TOKEN not in ok.stdout + ok.stderr
    platform.spec["bundle"] = bundle_spec(platform, corrupt="model/answers.json")
    bad = fetch_bundle(platform, tmp_path, tmp_path / "other")
    assert bad.returncode == 1 and "sha256 mismatch" in bad.stderr
    platform.spec_status = 409
    refused = fetch_bundle(platform, tmp_path, dest)
    assert refused.returncode == 3
    assert platform.events == []


def test_fetch_bundle_needs_the_bundle_token(fake: Any, tmp_path: Path) -> None:
    platform, _, _ = fake
    platform.spec = api_spec("", [], deploy_mode="private", bundle=bundle_spec(platform))
    # The run token alone is not enough: the variable is missing (a usage error) …
    missing = run_runner(platform, tmp_path, "fetch-bundle", "--dest", str(tmp_path / "a"))
    assert missing.returncode == 2 and "FLAGEVAL_BUNDLE_TOKEN" in missing.stderr
    assert platform.bundle_requests == []
    # … and a wrong bundle token is refused by the platform (exit 3, nothing written).
    wrong = fetch_bundle(platform, tmp_path, tmp_path / "b", FLAGEVAL_BUNDLE_TOKEN=TOKEN)
    assert wrong.returncode == 3 and "HTTP 401" in wrong.stderr
    assert not (tmp_path / "b").exists()
    # An API run has no bundle: a clear error, not a crash.
    platform.spec["bundle"] = None
    none = fetch_bundle(platform, tmp_path, tmp_path / "c")
    assert none.returncode == 1 and "no bundle" in none.stderr


def test_sigterm_ends_the_run_quietly(fake: Any, tmp_path: Path) -> None:
    """What the local executor's stop sends: the runner cancels its work and exits 143."""
    platform, model, endpoint = fake
    model.delay = 1.0
    platform.spec = api_spec(endpoint, [demo("demo-en-choice")], heartbeat_seconds=10)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flageval_runner", "run"],
        env=runner_env(platform, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(200):
            if "dataset_started" in platform.types():
                break
            time.sleep(0.05)
        assert "dataset_started" in platform.types()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "finished" not in platform.types() and "dataset_finished" not in platform.types()
