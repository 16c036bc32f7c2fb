"""Issue 14 end to end (eval-api + scheduler in-process, the memory executor, the test playing
the runner with the runner's own scoring): attaching data to the built-in ``mmlu`` through the
import endpoint makes it selectable, and a run on it reports per-subject and overall scores
equal to values computed by hand; a run never starts, nor charges, on a dataset without data."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from flageval_contracts.enums import Role, UserStatus
from flageval_datasets import Item, load_dataset
from flageval_eval_api.datasets.models import RegisteredDataset
from flageval_eval_api.main import definition as eval_api
from flageval_platform.identity import Identity
from flageval_platform.storage.local import presigned_router
from flageval_platform.testing import RunningPlatform, eventually, running_platform
from flageval_runner.tasks import evaluate_dataset
from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors.memory import MemoryExecutor
from flageval_scheduler.jobs.service import progress_token
from flageval_scheduler.main import definition as scheduler

SECRET = "m" * 48
ALICE = Identity(uuid.uuid4(), "alice", Role.USER, UserStatus.APPROVED)
ADMIN = Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED)

# Three subjects of unequal size (MMLU's public layout: data/<split>/<subject>_<split>.csv).
MMLU_FILES = {
    "dev/anatomy_dev.csv": "Which organ pumps blood?,Heart,Lung,Liver,Skin,A\n",
    "dev/astronomy_dev.csv": "Which is a planet?,Mars,Sirius,Vega,Moon,A\n",
    "dev/virology_dev.csv": "A virus needs a?,Host,Sun,Rock,Wind,A\n",
    "test/anatomy_test.csv": (
        "How many chambers has the heart?,Two,Three,Four,Five,C\n"
        "Which bone forms the forehead?,Parietal,Occipital,Frontal,Temporal,C\n"
        "Which organ produces bile?,Liver,Pancreas,Spleen,Kidney,A\n"
        "The femur is found in the,arm,leg,skull,chest,B\n"
    ),
    "test/astronomy_test.csv": (
        "Which planet is largest?,Mars,Jupiter,Venus,Earth,B\n"
        "What is the Sun?,A planet,A star,A moon,A comet,B\n"
    ),
    "test/virology_test.csv": (
        "Which is a virus?,HIV,E. coli,Yeast,Amoeba,A\n"
        "Vaccines train the?,Immune system,Liver,Skin,Bones,A\n"
        "Influenza is caused by a?,Bacterium,Virus,Fungus,Parasite,B\n"
    ),
}
#: The fake model answers these questions right (and every other one with a wrong letter).
RIGHT = {"How many chambers", "Which bone forms", "Which planet is largest", "What is the Sun"}


def mmlu_archive() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, text in MMLU_FILES.items():
            raw = text.encode()
            info = tarfile.TarInfo(f"data/{path}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return out.getvalue()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[RunningPlatform, MemoryExecutor]]:
    executor = MemoryExecutor()
    settings = ServiceSettings(
        data_dir=tmp_path,
        secret_key=SECRET,
        dispatch_interval_seconds=0.05,
        outbox_poll_seconds=0.05,
    )
    async with running_platform(
        {"eval-api": eval_api, "scheduler": scheduler},
        settings,
        backend=request.param,
        state={"scheduler": {"executor": executor}},
    ) as running:
        yield running, executor


async def import_mmlu(platform: RunningPlatform) -> dict[str, Any]:
    api = platform["eval-api"]
    reply = await api.client.post(
        "/api/admin/datasets/import",
        data={"format": "mmlu", "dataset": "mmlu", "language": "en", "few_shot": "1"},
        files={"data": ("data.tar.gz", mmlu_archive(), "application/gzip")},
        headers=api.headers_for(ADMIN),
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


async def create_evaluation(platform: RunningPlatform, datasets: list[str]) -> httpx.Response:
    api = platform["eval-api"]
    return await api.client.post(
        "/api/evaluations",
        json={
            "domain": "nlp",
            "name": f"m-{uuid.uuid4().hex[:8]}",
            "datasets": datasets,
            "deploy_mode": "api",
            "api": {"endpoint": "https://llm.example.org/v1", "model_name": "m"},
        },
        headers=api.headers_for(ALICE),
    )


async def formal_runs_used(platform: RunningPlatform) -> int:
    sched = platform["scheduler"]
    quota = await sched.client.get("/api/me/quota", headers=sched.headers_for(ALICE))
    assert quota.status_code == 200, quota.text
    return int(quota.json()["formal_runs"]["used"])


async def test_an_imported_mmlu_runs_to_per_subject_and_overall_scores(platform) -> None:
    running, executor = platform
    api, sched = running["eval-api"], running["scheduler"]
    refused = await create_evaluation(running, ["mmlu"])
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == "dataset 'mmlu' has no data yet"

    imported = await import_mmlu(running)
    catalog = (await api.client.get("/api/catalog")).json()
    mmlu = next(d for d in catalog["domains"]["nlp"]["datasets"] if d["id"] == "mmlu")
    assert mmlu["has_data"] and mmlu["item_count"] == 9 and mmlu["version"] == imported["version"]

    created = await create_evaluation(running, ["mmlu"])
    assert created.status_code == 201, created.text
    started = await api.client.post(
        f"/api/evaluations/{created.json()['id']}/runs",
        json={"kind": "formal"},
        headers=api.headers_for(ALICE),
    )
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    await eventually(lambda: f"memory/{run_id}/1" in executor.requests, within=30)

    # Playing the runner: read the spec, download the registered version through its URLs,
    # score a fake model with the runner's own evaluate_dataset, and report.
    token = {"X-Run-Token": progress_token(SECRET, uuid.UUID(run_id), 1)}
    spec = await sched.client.get(f"/api/runner/runs/{run_id}/spec", headers=token)
    assert spec.status_code == 200, spec.text
    (step,) = spec.json()["datasets"]
    assert step["dataset"] == "mmlu" and step["source"]["type"] == "url"
    app = FastAPI()
    app.include_router(presigned_router(running.store))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://store"
    ) as store:

        async def download(url: str) -> bytes:
            parts = urlsplit(url)
            reply = await store.get(f"{parts.path}?{parts.query}")
            assert reply.status_code == 200
            return reply.content

        dataset = load_dataset(
            await download(step["source"]["card_url"]), await download(step["source"]["data_url"])
        )
    assert dataset.content_sha256 == imported["content_sha256"]

    async def fake_model(prompt: str, item: Item) -> str:
        assert item.label is not None
        right = any(item.input.startswith(q) for q in RIGHT)
        wrong = "D" if item.label != "D" else "A"
        return f"Answer: {item.label if right else wrong}"

    result = await evaluate_dataset(dataset, fake_model)
    events = [
        {"type": "started"},
        {"type": "dataset_started", "task": step["task"], "dataset": "mmlu"},
        {
            "type": "dataset_finished",
            "task": step["task"],
            "dataset": "mmlu",
            "status": "succeeded",
            "metrics": result.metrics,
            "dataset_version": dataset.card.version,
            "dataset_sha256": dataset.content_sha256,
        },
        {"type": "finished", "status": "succeeded"},
    ]
    posted = await sched.client.post(
        f"/api/runner/runs/{run_id}/events", json={"events": events}, headers=token
    )
    assert posted.status_code == 200, posted.text

    async def done() -> dict[str, Any] | None:
        detail = (
            await api.client.get(f"/api/runs/{run_id}", headers=api.headers_for(ALICE))
        ).json()
        return detail if detail["status"] == "succeeded" else None

    detail = await eventually(done, within=30)
    (row,) = detail["datasets"]
    # By hand: anatomy 2/4, astronomy 2/2, virology 0/3; micro 4/9; macro (0.5 + 1 + 0) / 3.
    expected = {
        "accuracy": 4 / 9,
        "accuracy_micro": 4 / 9,
        "accuracy_macro": 0.5,
        "accuracy/anatomy": 0.5,
        "accuracy/astronomy": 1.0,
        "accuracy/virology": 0.0,
    }
    assert row["metrics"] == pytest.approx(expected)
    assert row["dataset_version"] == imported["version"]
    # Task averages keep the card metric and its averages, not the per-subject breakdown.
    assert detail["task_averages"] == {
        "knowledge": pytest.approx(
            {"accuracy": 4 / 9, "accuracy_micro": 4 / 9, "accuracy_macro": 0.5}
        )
    }


async def test_a_run_is_refused_uncharged_on_a_dataset_that_has_no_data(platform) -> None:
    running, executor = platform
    api = running["eval-api"]
    await import_mmlu(running)
    created = await create_evaluation(running, ["demo-en-choice", "mmlu"])
    assert created.status_code == 201, created.text
    evaluation_id = created.json()["id"]
    # The data goes away (as for an evaluation saved before this check existed).
    async with api.ctx.db.transaction() as session:
        await session.execute(delete(RegisteredDataset))

    for kind in ("formal", "validation"):
        reply = await api.client.post(
            f"/api/evaluations/{evaluation_id}/runs",
            json={"kind": kind},
            headers=api.headers_for(ALICE),
        )
        assert reply.status_code == 422, reply.text
        detail = reply.json()["detail"]
        assert detail["code"] == "dataset_without_data" and detail["datasets"] == ["mmlu"]
        assert "dataset 'mmlu'" in detail["message"]
    assert await formal_runs_used(running) == 0
    history = await api.client.get(
        f"/api/evaluations/{evaluation_id}/runs", headers=api.headers_for(ALICE)
    )
    assert history.json() == [] and executor.requests == {}
