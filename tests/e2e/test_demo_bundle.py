"""The README walkthrough "from a bundle to scores", end to end, with the example bundle.

Standalone (``python -m flageval_launcher up`` in a subprocess, admin credentials generated into
the data dir), the public ``flageval-serving`` CLI uploading ``examples/demo-nlp-bundle``, a
validation run, a formal run with robustness, predictions and logs — and the same scores from
``python -m flageval_runner evaluate --bundle`` run locally. The expected scores are computed here
from the demo data and the example's keyword table, not written down.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flageval_datasets.loader import Item, load_demo_dataset
from flageval_platform.testing import free_port, request_upload_token
from flageval_platform.testing import launched_platform as platform
from flageval_runner.metrics import robustness as rb

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "examples" / "demo-nlp-bundle"
DATASETS = ("demo-en-choice", "demo-en-math")
USER = {"email": "ann@example.org", "username": "ann", "password": "correct-horse-42"}


def platform_env(tmp_path: Path, port: int) -> dict[str, str]:
    """Its own port and data dir; no admin variables, so the launcher generates the admin's
    credentials into ``<data dir>/admin-credentials.json`` as on a person's first ``make up``."""
    return {
        "FLAGEVAL_PORT": str(port),
        "FLAGEVAL_DATA_DIR": str(tmp_path / "data"),
        "FLAGEVAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


def login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def wait_for(client: httpx.Client, url: str, headers: dict[str, str], done, within: float):  # type: ignore[no-untyped-def]
    """Poll ``GET url`` until ``done(json)``; return that JSON."""
    deadline = time.monotonic() + within
    body = None
    while time.monotonic() < deadline:
        reply = client.get(url, headers=headers)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        if done(body):
            return body
        time.sleep(0.3)
    raise AssertionError(f"{url} never got there: {body}")


# ---------------------------------------------------------------- the expected scores


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _answer(rules: list[dict[str, str]], question: str) -> str | None:
    """The example's rule: the first keyword occurring in the question (case and spacing
    ignored) gives the answer."""
    for rule in rules:
        if _normalize(rule["keyword"]) in _normalize(question):
            return rule["answer"]
    return None


def _correct(item: Item, answer: str | None) -> float:
    if answer is None:
        return 0.0
    if item.choices is not None:
        return float(answer.strip() == item.label)
    final = answer.rsplit("####", 1)[-1].strip().replace(",", "")
    return float(final == item.label)


def expected_scores() -> dict[str, dict[str, float]]:
    """Per dataset, accuracy and robustness (worst case over the input and its perturbations
    with the platform's default seed 0) implied by ``model/keywords.json``."""
    rules = json.loads((BUNDLE / "model" / "keywords.json").read_text())["rules"]
    out: dict[str, dict[str, float]] = {}
    for name in DATASETS:
        items = load_demo_dataset(name).items
        plain, robust = [], []
        for item in items:
            score = _correct(item, _answer(rules, item.input))
            variants = [v for v in rb.perturbations(item.input, 0).values() if v != item.input]
            plain.append(score)
            robust.append(min([score, *(_correct(item, _answer(rules, v)) for v in variants)]))
        out[name] = {
            "accuracy": sum(plain) / len(items),
            "robustness": sum(robust) / len(items),
        }
    return out


def test_expected_scores_are_between_zero_and_one() -> None:
    """The table gets some questions right and some wrong, and perturbations cost something."""
    for name, scores in expected_scores().items():
        assert 0 < scores["robustness"] < scores["accuracy"] < 1, (name, scores)


# ---------------------------------------------------------------- the walkthrough


def test_walkthrough_from_a_bundle_to_scores(tmp_path: Path) -> None:
    cli = shutil.which("flageval-serving") or str(Path(sys.executable).parent / "flageval-serving")
    # A copy, so that serving it locally leaves no __pycache__ in examples/.
    bundle = tmp_path / "demo-nlp-bundle"
    shutil.copytree(BUNDLE, bundle)
    expected = expected_scores()
    port = free_port()
    env = platform_env(tmp_path, port)
    with (
        platform("up", env, tmp_path / "platform.log", port) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        # 1-2. register, profile, the admin (from admin-credentials.json) approves
        reply = client.post("/api/auth/register", json=USER)
        assert reply.status_code == 201, reply.text
        user_id = reply.json()["id"]
        ann = login(client, USER["email"], USER["password"])
        profile = {"real_name": "Ann Lee", "organization": "Example Lab", "purpose": "evaluate"}
        reply = client.put("/api/me/profile", json=profile, headers=ann)
        assert reply.json()["status"] == "pending_review", reply.text
        creds = json.loads((tmp_path / "data" / "admin-credentials.json").read_text())
        admin = login(client, creds["email"], creds["password"])
        pending = client.get("/api/admin/users", params={"status": "pending_review"}, headers=admin)
        assert user_id in [u["id"] for u in pending.json()]
        reply = client.post(
            f"/api/admin/users/{user_id}/review", json={"decision": "approve"}, headers=admin
        )
        assert reply.status_code == 200, reply.text
        ann = login(client, USER["email"], USER["password"])

        # 3. an NLP private evaluation on the two demo sets, with robustness
        images = client.get("/api/images", headers=ann).json()
        image = next(i for i in images["preset"] if i["domain"] == "nlp")["id"]
        reply = client.post(
            "/api/evaluations",
            headers=ann,
            json={
                "domain": "nlp",
                "name": "demo-keywords",
                "description": "the demo bundle",
                "datasets": list(DATASETS),
                "dimensions": {"robustness": True},
                "deploy_mode": "private",
                "private": {"image_id": image, "card_type": "a100-80g", "gpus": 1},
            },
        )
        assert reply.status_code == 201, reply.text
        evaluation = reply.json()["id"]

        # 4. upload with the command of the token reply, the folder replaced
        reply = request_upload_token(client, evaluation, ann)
        assert reply.status_code == 201, reply.text
        command = shlex.split(reply.json()["command"])
        assert command[:2] == ["flageval-serving", "upload"] and command[-1] == "./my_model"
        upload = subprocess.run(
            [cli, *command[1:-1], str(bundle)], capture_output=True, text=True, timeout=60
        )
        assert upload.returncode == 0, upload.stdout + upload.stderr
        versions = wait_for(
            client,
            f"/api/evaluations/{evaluation}/bundles",
            ann,
            lambda v: v and v[0]["status"] in ("valid", "invalid"),
            within=20,
        )
        assert versions[0]["status"] == "valid", versions

        def finished(run: dict) -> bool:
            return run["status"] in ("succeeded", "failed", "stopped")

        # 5. a validation run: sampled questions with the model's answers
        reply = client.post(
            f"/api/evaluations/{evaluation}/runs", json={"kind": "validation"}, headers=ann
        )
        assert reply.status_code == 201, reply.text
        run = wait_for(client, f"/api/runs/{reply.json()['id']}", ann, finished, within=60)
        assert run["status"] == "succeeded", run
        assert run["samples"] and {s["dataset"] for s in run["samples"]} == set(DATASETS)
        assert all(s["sample"] and s["label"] and s["predict"] for s in run["samples"])

        # 6. the formal run
        reply = client.post(
            f"/api/evaluations/{evaluation}/runs", json={"kind": "formal"}, headers=ann
        )
        assert reply.status_code == 201, reply.text
        run_id = reply.json()["id"]
        run = wait_for(client, f"/api/runs/{run_id}", ann, finished, within=60)
        assert run["status"] == "succeeded", run
        platform_metrics = {d["dataset"]: d["metrics"] for d in run["datasets"]}
        assert set(platform_metrics) == set(DATASETS)
        for name, scores in expected.items():
            got = platform_metrics[name]
            assert got["accuracy"] == pytest.approx(scores["accuracy"]), (name, got)
            assert got["robustness"] == pytest.approx(scores["robustness"]), (name, got)
        assert run["task_averages"]["knowledge"]["accuracy"] == pytest.approx(
            expected["demo-en-choice"]["accuracy"]
        )

        predictions = client.get(f"/api/runs/{run_id}/predictions/demo-en-choice", headers=ann)
        assert predictions.status_code == 200, predictions.text
        lines = predictions.text.splitlines()
        assert len(lines) == 20
        assert {"prediction", "gold", "score", "robust_score"} <= set(json.loads(lines[0]))
        logs = client.get(f"/api/runs/{run_id}/logs", params={"tail": 50}, headers=ann)
        assert logs.status_code == 200 and "run succeeded" in logs.text

    # The same scores from the harness alone, serving the same bundle locally.
    out = tmp_path / "local"
    local = subprocess.run(
        [sys.executable, "-m", "flageval_runner", "evaluate", "--bundle", str(bundle)]
        + [arg for name in DATASETS for arg in ("--dataset", name)]
        + ["--robustness", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert local.returncode == 0, local.stdout + local.stderr
    results = json.loads((out / "results.json").read_text())
    local_metrics = {d["dataset"]: d["metrics"] for d in results["datasets"]}
    for name in DATASETS:
        assert local_metrics[name]["accuracy"] == pytest.approx(platform_metrics[name]["accuracy"])
        assert local_metrics[name]["robustness"] == pytest.approx(
            platform_metrics[name]["robustness"]
        )
    assert len((out / "demo-en-choice.predictions.jsonl").read_text().splitlines()) == 20
