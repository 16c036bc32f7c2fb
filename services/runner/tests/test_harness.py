"""``python -m flageval_runner evaluate``: the harness end to end on its own, against a bundle
served by the real flageval-serving CLI and against an OpenAI-style endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request

from flageval_platform.testing import served_in_thread

BUNDLE = Path(__file__).parent / "bundles" / "echo"


@pytest.fixture(scope="module")
def always_a() -> Iterator[str]:
    """An OpenAI-style chat endpoint that answers "A" to everything."""
    app = FastAPI()
    seen: list[dict] = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict:
        body = await request.json()
        seen.append({"auth": request.headers.get("authorization"), "model": body["model"]})
        return {"choices": [{"message": {"role": "assistant", "content": "The answer is A."}}]}

    with served_in_thread(app) as url:
        yield f"{url}/v1/chat/completions"


def harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flageval_runner", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_api_model_scores_exactly_what_its_answers_deserve(always_a: str, tmp_path: Path) -> None:
    import os

    env = {**os.environ, "MY_KEY": "sk-test-123"}
    run = harness(
        "evaluate", "--api-endpoint", always_a, "--model-name", "m1", "--api-key-env", "MY_KEY",
        "--dataset", "demo-en-choice", "--dataset", "demo-zh-choice", "--robustness",
        "--out", str(tmp_path), env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "results.json").read_text())
    by_name = {d["dataset"]: d for d in report["datasets"]}
    # Each demo choice set has exactly 5 of 20 answers "A": always answering A scores 0.25.
    assert by_name["demo-en-choice"]["score"] == 0.25
    assert by_name["demo-zh-choice"]["score"] == 0.25
    assert by_name["demo-en-choice"]["robustness"] == 0.25
    assert len(by_name["demo-en-choice"]["content_sha256"]) == 64
    lines = (tmp_path / "demo-en-choice.predictions.jsonl").read_text().splitlines()
    assert len(lines) == 20
    assert {"id", "prompt", "prediction", "gold", "score"} <= set(json.loads(lines[0]))
    assert "sk-test-123" not in run.stdout + run.stderr
    assert report["task_averages"]


def test_bundle_served_by_the_real_cli_is_evaluated(tmp_path: Path) -> None:
    run = harness(
        "evaluate", "--bundle", str(BUNDLE), "--dataset", "demo-en-math", "--out", str(tmp_path)
    )
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "results.json").read_text())
    (math,) = report["datasets"]
    assert math["dataset"] == "demo-en-math" and math["n_items"] == 15
    assert 0.0 <= math["score"] <= 1.0
    assert len((tmp_path / "demo-en-math.predictions.jsonl").read_text().splitlines()) == 15


def test_validation_samples_rows_with_a_recorded_seed(always_a: str, tmp_path: Path) -> None:
    args = ["evaluate", "--api-endpoint", always_a, "--model-name", "m", "--dataset",
            "demo-en-choice", "--validation", "3", "--seed", "7", "--out", str(tmp_path)]  # fmt: skip
    first = harness(*args)
    assert first.returncode == 0, first.stderr
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["kind"] == "validation" and report["seeds"] == {"demo-en-choice": 7}
    assert len(report["samples"]) == 3
    assert set(report["samples"][0]) == {"ID", "Dataset", "Sample", "Label", "Predict"}
    again = harness(*args)
    assert json.loads((tmp_path / "results.json").read_text())["samples"] == report["samples"]
    assert again.returncode == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--bundle", str(BUNDLE), "--dataset", "no-such-set"], 1, "no dataset folder"),
        (["--api-endpoint", "http://127.0.0.1:9/x", "--dataset", "demo-en-choice"], 2, "--model-name"),
        (["--bundle", str(BUNDLE), "--dataset", "demo-en-choice", "--concurrency", "0"], 2, "concurrency"),
        (["--bundle", str(BUNDLE), "--dataset", "demo-en-choice", "--validation", "4"], 2, "invalid choice"),
        (["--api-endpoint", "http://127.0.0.1:9/x", "--model-name", "m", "--dataset", "demo-en-choice",
          "--timeout", "2"], 1, "error"),
    ],
)  # fmt: skip
def test_bad_requests_fail_with_a_message(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    run = harness("evaluate", *args, "--out", str(tmp_path))
    assert run.returncode == code, run.stdout + run.stderr
    assert message in run.stderr
