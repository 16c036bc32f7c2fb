"""An honest catalog (issue 14): every dataset says whether it has data; evaluations refuse the
ones without (422 naming each); administrators attach data to built-in ids (new versions
replace the current one, old ones stay), list every dataset's data state, and import a
dataset's public files through the dataset library's importers — with file+line 422s and
nothing stored on error."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from flageval_contracts.enums import Role, UserStatus
from flageval_datasets import load_dataset
from flageval_eval_api.datasets import service as datasets_service
from flageval_eval_api.datasets.models import RegisteredDataset
from flageval_eval_api.main import definition
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.service import ServiceContext
from flageval_platform.settings import Settings
from flageval_platform.testing import running_service

SECRET = "h" * 48
ADMIN = Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED)
USER = Identity(uuid.uuid4(), "alice", Role.USER, UserStatus.APPROVED)
API = {"endpoint": "https://llm.example.org/v1", "model_name": "m"}

MMLU_CARD: dict[str, Any] = {
    "name": "mmlu",
    "domain": "nlp",
    "task": "choice_qa",
    "language": "en",
    "metric": "accuracy",
    "few_shot": 0,
    "version": "2021",
}
MMLU_LINES = [
    {"id": "q1", "input": "2 + 2 = ?", "choices": ["3", "4", "5", "6"], "label": "B"},
    {"id": "q2", "input": "3 + 3 = ?", "choices": ["6", "4", "5", "7"], "label": "A"},
]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def mmlu_archive(files: dict[str, str]) -> bytes:
    """A .tar.gz laid out like MMLU's public ``data.tar`` (``data/<split>/<subject>_<split>.csv``)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, text in files.items():
            raw = text.encode()
            info = tarfile.TarInfo(f"data/{path}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return out.getvalue()


MMLU_FILES = {
    "dev/anatomy_dev.csv": "Which organ pumps blood?,Heart,Lung,Liver,Skin,A\n",
    "dev/virology_dev.csv": "A virus needs a?,Host,Sun,Rock,Wind,A\n",
    "test/anatomy_test.csv": (
        "How many chambers has the heart?,Two,Three,Four,Five,C\n"
        "Which bone forms the forehead?,Parietal,Occipital,Frontal,Temporal,C\n"
    ),
    "test/virology_test.csv": "Which is a virus?,HIV,E. coli,Yeast,Amoeba,A\n",
}


def headers(ctx: ServiceContext, who: Identity = ADMIN) -> dict[str, str]:
    return {IDENTITY_HEADER: sign_identity(who, ctx.secret_key)}


@pytest.fixture
async def service(database, tmp_path: Path):
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    async with running_service(definition, settings, database=database) as running:
        yield running.ctx, running.client


async def entry(client: httpx.AsyncClient, domain: str, dataset: str) -> dict[str, Any]:
    doc = (await client.get("/api/catalog")).json()
    return next(d for d in doc["domains"][domain]["datasets"] if d["id"] == dataset)


async def register(
    client: httpx.AsyncClient,
    ctx: ServiceContext,
    card: dict[str, Any],
    data: bytes,
    catalog_task: str | None = None,
) -> httpx.Response:
    return await client.post(
        "/api/admin/datasets",
        files={
            "card": ("card.json", json.dumps(card).encode(), "application/json"),
            "data": ("data.jsonl", data, "application/x-ndjson"),
        },
        data={} if catalog_task is None else {"catalog_task": catalog_task},
        headers=headers(ctx),
    )


async def import_(
    client: httpx.AsyncClient,
    ctx: ServiceContext,
    payload: bytes | None,
    who: Identity = ADMIN,
    **fields: str,
) -> httpx.Response:
    form = {"format": "mmlu", "dataset": "mmlu", "language": "en", "few_shot": "1", **fields}
    files = {"data": ("data.tar.gz", payload, "application/gzip")} if payload is not None else {}
    return await client.post(
        "/api/admin/datasets/import",
        data={k: v for k, v in form.items() if v != ""},
        files=files or {"nothing": ("x", b"", "text/plain")},
        headers=headers(ctx, who),
    )


async def stored_versions(ctx: ServiceContext) -> int:
    async with ctx.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(RegisteredDataset)) or 0)


# -- evaluations refuse datasets without data ----------------------------------------------------


async def test_evaluations_refuse_each_dataset_without_data(service) -> None:
    ctx, client = service
    mmlu = await entry(client, "nlp", "mmlu")
    assert mmlu["has_data"] is False and mmlu["version"] is None and mmlu["item_count"] is None
    assert mmlu["versions"] == 0 and "MIT" in mmlu["source_note"]

    reply = await client.post(
        "/api/evaluations",
        json={
            "domain": "nlp",
            "name": "no-data",
            "datasets": ["demo-en-choice", "mmlu", "gsm8k"],
            "deploy_mode": "api",
            "api": API,
        },
        headers=headers(ctx, USER),
    )
    assert reply.status_code == 422, reply.text
    problems = [(p["loc"], p["msg"]) for p in reply.json()["detail"]]
    assert problems == [
        (["body", "datasets", 1], "dataset 'mmlu' has no data yet"),
        (["body", "datasets", 2], "dataset 'gsm8k' has no data yet"),
    ]

    # Task-based domains: a task none of whose datasets has data, and a chosen dataset without.
    cv = await client.post(
        "/api/evaluations",
        json={
            "domain": "cv",
            "name": "cv-no-data",
            "tasks": [
                {"task": "classification", "adaptation_method": "linear-probe"},
                {"task": "segmentation", "adaptation_method": "upernet", "datasets": ["ade20k"]},
            ],
            "private": {"image_id": str(uuid.uuid4()), "card_type": "v100-32g"},
        },
        headers=headers(ctx, USER),
    )
    assert cv.status_code == 422
    by_loc = {tuple(p["loc"]): p["msg"] for p in cv.json()["detail"]}
    classification = by_loc[("body", "tasks", 0, "task")]
    assert "no dataset with data yet" in classification
    assert "'imagenet-1k' has no data yet" in classification
    assert "'cifar-100' has no data yet" in classification
    assert by_loc[("body", "tasks", 1, "datasets", 0)] == "dataset 'ade20k' has no data yet"


async def test_patch_refuses_a_dataset_without_data(service) -> None:
    ctx, client = service
    created = await client.post(
        "/api/evaluations",
        json={
            "domain": "nlp",
            "name": "patchy",
            "datasets": ["demo-en-choice"],
            "deploy_mode": "api",
            "api": API,
        },
        headers=headers(ctx, USER),
    )
    assert created.status_code == 201, created.text
    url = f"/api/evaluations/{created.json()['id']}"
    reply = await client.patch(
        url, json={"datasets": ["boolq", "demo-en-math"]}, headers=headers(ctx, USER)
    )
    assert reply.status_code == 422
    assert [(p["loc"], p["msg"]) for p in reply.json()["detail"]] == [
        (["body", "datasets", 0], "dataset 'boolq' has no data yet")
    ]
    unchanged = await client.get(url, headers=headers(ctx, USER))
    assert unchanged.json()["datasets"] == ["demo-en-choice"]


async def test_a_task_takes_only_its_datasets_with_data(service, attach_data) -> None:
    ctx, client = service
    await attach_data(ctx.db, "cifar-100")
    reply = await client.post(
        "/api/evaluations",
        json={
            "domain": "cv",
            "name": "cv-some-data",
            "tasks": [{"task": "classification", "adaptation_method": "linear-probe"}],
            "private": {"image_id": str(uuid.uuid4()), "card_type": "v100-32g"},
        },
        headers=headers(ctx, USER),
    )
    # The image is unknown here: only that problem remains, the task itself is fine.
    assert reply.status_code == 422
    assert [p["loc"][:2] for p in reply.json()["detail"]] == [["body", "private"]]


# -- administrators attach data to built-in entries ----------------------------------------------


async def test_admin_attaches_data_to_a_built_in_and_new_versions_replace_it(service) -> None:
    ctx, client = service
    v1 = await register(client, ctx, MMLU_CARD, jsonl(MMLU_LINES))
    assert v1.status_code == 201, v1.text
    assert v1.json()["task"] == "knowledge"  # the built-in's task, without a catalog_task
    mmlu = await entry(client, "nlp", "mmlu")
    expected_sha = load_dataset(json.dumps(MMLU_CARD), jsonl(MMLU_LINES)).content_sha256
    assert mmlu["has_data"] is True and mmlu["registered"] is False
    assert (mmlu["version"], mmlu["item_count"], mmlu["size"], mmlu["versions"]) == (
        "2021",
        2,
        2,
        1,
    )
    assert mmlu["content_sha256"] == expected_sha
    assert mmlu["name"] == "MMLU" and mmlu["metric"] == "accuracy"  # the built-in's entry

    v2_lines = [*MMLU_LINES, {**MMLU_LINES[0], "id": "q3"}]
    v2 = await register(client, ctx, {**MMLU_CARD, "version": "2021.2"}, jsonl(v2_lines))
    assert v2.status_code == 201, v2.text
    mmlu = await entry(client, "nlp", "mmlu")
    assert (mmlu["version"], mmlu["item_count"], mmlu["versions"]) == ("2021.2", 3, 2)
    # The old version stays readable (reproducibility cards, resumed runs).
    assert await ctx.store.read("datasets/mmlu/2021/data.jsonl") == jsonl(MMLU_LINES)

    listing = await client.get("/api/admin/datasets", headers=headers(ctx))
    assert listing.status_code == 200
    states = {d["id"]: d for d in listing.json()["datasets"]}
    assert len(states) == sum(
        len(d["datasets"]) for d in (await client.get("/api/catalog")).json()["domains"].values()
    )
    assert [v["version"] for v in states["mmlu"]["versions"]] == ["2021.2", "2021"]
    assert [v["item_count"] for v in states["mmlu"]["versions"]] == [3, 2]
    assert states["mmlu"]["versions"][1]["content_sha256"] == expected_sha
    assert states["mmlu"]["versions"][0]["registered_by"] == str(ADMIN.user_id)
    assert states["mmlu"]["has_data"] and states["mmlu"]["builtin"]
    assert states["gsm8k"]["has_data"] is False and states["gsm8k"]["versions"] == []
    assert states["demo-en-choice"]["demo"] and states["demo-en-choice"]["has_data"]

    created = await client.post(
        "/api/evaluations",
        json={
            "domain": "nlp",
            "name": "on-mmlu",
            "datasets": ["mmlu"],
            "deploy_mode": "api",
            "api": API,
        },
        headers=headers(ctx, USER),
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    ("card", "catalog_task", "field"),
    [
        ({"domain": "safety"}, None, "domain"),
        ({"task": "generative_qa", "metric": "f1"}, None, "metric"),
        ({}, "math-reasoning", "catalog_task"),
        ({"name": "demo-en-choice"}, None, "name"),
    ],
)
async def test_data_for_a_built_in_must_fit_its_entry(service, card, catalog_task, field) -> None:
    ctx, client = service
    reply = await register(client, ctx, {**MMLU_CARD, **card}, jsonl(MMLU_LINES), catalog_task)
    assert reply.status_code == 422, reply.text
    assert field in [p.get("field") for p in reply.json()["detail"]], reply.text
    assert await stored_versions(ctx) == 0 and await ctx.store.list("datasets/") == []


async def test_only_admins_list_datasets(service) -> None:
    ctx, client = service
    assert (await client.get("/api/admin/datasets")).status_code == 401
    assert (await client.get("/api/admin/datasets", headers=headers(ctx, USER))).status_code == 403


# -- the import endpoint ---------------------------------------------------------------------------


async def test_import_mmlu_from_its_public_folder_layout(service) -> None:
    ctx, client = service
    reply = await import_(client, ctx, mmlu_archive(MMLU_FILES))
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["id"] == "mmlu" and body["version"] == "1" and body["format"] == "mmlu"
    assert body["task"] == "knowledge" and body["size"] == 3 and body["dev_size"] == 2
    assert body["card"]["few_shot"] == 1

    mmlu = await entry(client, "nlp", "mmlu")
    assert mmlu["has_data"] and mmlu["item_count"] == 3 and mmlu["version"] == "1"
    stored = await ctx.store.read("datasets/mmlu/1/data.jsonl")
    subjects = [json.loads(line).get("meta", {}).get("subject") for line in stored.splitlines()]
    assert sorted(subjects) == ["anatomy", "anatomy", "anatomy", "virology", "virology"]

    # Without a version, the next import is version 2 and becomes the current one.
    again = await import_(client, ctx, mmlu_archive(MMLU_FILES))
    assert again.status_code == 201, again.text
    assert again.json()["version"] == "2"
    assert (await entry(client, "nlp", "mmlu"))["versions"] == 2


async def test_a_broken_import_names_file_and_line_and_stores_nothing(service) -> None:
    ctx, client = service
    broken = {
        **MMLU_FILES,
        "test/virology_test.csv": "Which is a virus?,HIV,E. coli,Yeast,Amoeba,A\nBad row,1,2,3,4,Z\n",
    }
    reply = await import_(client, ctx, mmlu_archive(broken))
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert any(
        p["source"] == "data" and p["line"] == 2 and "virology_test.csv" in p.get("file", "")
        for p in detail
    ), detail
    assert await stored_versions(ctx) == 0 and await ctx.store.list("datasets/") == []


@pytest.mark.parametrize(
    ("fields", "payload", "field"),
    [
        ({"format": "nope"}, True, "format"),
        ({"format": ""}, True, "format"),
        ({"dataset": ""}, True, "dataset"),
        ({"dataset": "MMLU!"}, True, "dataset"),
        ({"language": "fr"}, True, "language"),
        ({"version": "../x"}, True, "version"),
        ({"few_shot": "many"}, True, "few_shot"),
        ({"few_shot": "26"}, True, "few_shot"),
        ({"split": "train"}, True, "split"),
        ({}, False, "data"),
        ({"dataset": "gsm8k"}, True, "metric"),  # an MMLU import cannot become GSM8K
    ],
)
async def test_bad_import_forms_are_422_naming_the_field(service, fields, payload, field) -> None:
    ctx, client = service
    reply = await import_(client, ctx, mmlu_archive(MMLU_FILES) if payload else None, **fields)
    assert reply.status_code == 422, reply.text
    assert field in [p.get("field") for p in reply.json()["detail"]], reply.text
    assert await stored_versions(ctx) == 0 and await ctx.store.list("datasets/") == []


async def test_import_is_bounded_and_admin_only(service, monkeypatch) -> None:
    ctx, client = service
    payload = mmlu_archive(MMLU_FILES)
    assert (await import_(client, ctx, payload, who=USER)).status_code == 403
    monkeypatch.setattr(datasets_service, "MAX_IMPORT_BYTES", len(payload) - 1)
    too_big = await import_(client, ctx, payload)
    assert too_big.status_code == 413, too_big.text
    assert await stored_versions(ctx) == 0
