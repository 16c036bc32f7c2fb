"""The catalog: every domain with what it offers (SPEC §2/§3), card types seeded by the migration,
and administrators adding card types — with 401/403/409/422 for everyone and everything else."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from flageval_contracts.enums import Domain, Role, UserStatus
from flageval_eval_api.api.catalog import router as catalog_router
from flageval_eval_api.catalog import seed
from flageval_eval_api.catalog.service import add_card_type, catalog_document, load_catalog
from flageval_eval_api.main import definition
from flageval_eval_api.models import metadata
from flageval_platform import migrations
from flageval_platform.errors import Conflict
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.service import ServiceContext, ServiceDefinition
from flageval_platform.settings import Settings
from flageval_platform.testing import running_service

SECRET = "c" * 48

# The catalog alone, on the service's own metadata and migrations (main.py wires the rest).
CATALOG_ONLY = ServiceDefinition(
    name=definition.name,
    metadata=definition.metadata,
    messaging=definition.messaging,
    migrations=definition.migrations,
    routers=lambda ctx: [catalog_router(ctx)],
)


@pytest.fixture
async def service(database, tmp_path: Path):
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    async with running_service(CATALOG_ONLY, settings, database=database) as running:
        yield running.ctx, running.client


def _headers(ctx: ServiceContext, role: Role = Role.ADMIN) -> dict[str, str]:
    identity = Identity(uuid.uuid4(), "someone", role, UserStatus.APPROVED)
    return {IDENTITY_HEADER: sign_identity(identity, ctx.secret_key)}


GOOD = {"id": "a10-24g", "name": "NVIDIA A10 24GB", "gpu_memory_gib": 24, "max_gpus": 4}


async def test_document_has_the_shape_of_spec_section_3(service) -> None:
    _ctx, client = service
    response = await client.get("/api/catalog")  # public: no identity
    assert response.status_code == 200
    doc = response.json()
    assert set(doc) == {"domains", "card_types", "model_types"}
    assert set(doc["domains"]) == {d.value for d in Domain}

    for name, domain in doc["domains"].items():
        assert {"datasets", "tasks", "dimensions", "deploy_modes"} <= set(domain), name
        assert domain["datasets"] and domain["tasks"], name
        assert "accuracy" in domain["dimensions"]
        assert domain["model_types"] and set(domain["model_types"]) <= set(doc["model_types"])
        ids = {d["id"] for d in domain["datasets"]}
        task_ids = {t["id"] for t in domain["tasks"]}
        for dataset in domain["datasets"]:
            assert {"id", "name", "task", "language", "metric", "size", "version"} <= set(dataset)
            assert dataset["task"] in task_ids
            # Honest: size, version and hash come from the data, and only where there is some.
            assert {"has_data", "item_count", "versions", "content_sha256", "source_note"} <= set(
                dataset
            )
            assert dataset["source_note"], dataset["id"]
            if dataset["has_data"]:
                assert isinstance(dataset["size"], int) and dataset["size"] > 0
                assert dataset["item_count"] == dataset["size"] and dataset["version"]
                assert len(dataset["content_sha256"]) == 64
            else:
                assert dataset["size"] is dataset["item_count"] is dataset["version"] is None
                assert dataset["content_sha256"] is None
        for task in domain["tasks"]:
            assert set(task) == {"id", "name", "adaptation_methods", "datasets"}
            assert task["datasets"] and set(task["datasets"]) <= ids, task["id"]
            for dataset_id in task["datasets"]:
                assert (
                    next(d for d in domain["datasets"] if d["id"] == dataset_id)["task"]
                    == (task["id"])
                )

    domains = doc["domains"]
    assert domains["nlp"]["deploy_modes"] == ["private", "api"]
    assert domains["cv"]["deploy_modes"] == ["private"]
    assert domains["multimodal"]["deploy_modes"] == ["private", "api"]
    assert domains["audio"]["deploy_modes"] == ["private"]
    assert domains["safety"]["deploy_modes"] == ["api"]
    for name in ("nlp", "cv", "multimodal"):
        assert domains[name]["dimensions"] == ["accuracy", "robustness"]
        assert domains[name]["has_validation"] is True
    for name in ("audio", "safety"):
        assert domains[name]["dimensions"] == ["accuracy"]
        assert domains[name]["has_validation"] is False
    assert domains["cv"]["model_types"] == ["backbone"]

    # CV tasks carry their adaptation methods; nothing else has any to pick.
    cv_tasks = {t["id"]: t for t in domains["cv"]["tasks"]}
    assert cv_tasks["classification"]["adaptation_methods"] == ["linear-probe"]
    assert cv_tasks["segmentation"]["adaptation_methods"] == ["upernet", "setr"]
    assert "imagenet-1k" in cv_tasks["classification"]["datasets"]
    assert {"kitti-eigen", "nyu-depth-v2"} <= set(cv_tasks["depth-estimation"]["datasets"])
    assert all(t["adaptation_methods"] for t in cv_tasks.values())
    for name in ("nlp", "multimodal", "audio", "safety"):
        assert all(t["adaptation_methods"] == [] for t in domains[name]["tasks"]), name
    assert {t["id"] for t in domains["multimodal"]["tasks"]} == {"vqa", "retrieval", "t2i"}
    assert {"mmlu", "c-eval", "gsm8k", "boolq", "hellaswag", "truthfulqa"} <= {
        d["id"] for d in domains["nlp"]["datasets"]
    }

    # Out of the box only the demo datasets have data (README "Datasets").
    with_data = {d["id"] for dom in domains.values() for d in dom["datasets"] if d["has_data"]}
    assert with_data == set(seed.DEMO_DATASETS)
    demo = next(d for d in domains["nlp"]["datasets"] if d["id"] == "demo-en-choice")
    assert (demo["size"], demo["version"]) == (20, "1")

    # Safety: every dataset in one of the five TC260-003 categories, none of them empty.
    safety = domains["safety"]
    assert [c["id"] for c in safety["categories"]] == ["A1", "A2", "A3", "A4", "A5"]
    for category in safety["categories"]:
        assert category["datasets"], category["id"]
    for dataset in safety["datasets"]:
        assert dataset["category"] in {"A1", "A2", "A3", "A4", "A5"}
    for name in ("nlp", "cv", "multimodal", "audio"):
        assert all("category" not in d for d in domains[name]["datasets"])

    # Dataset ids are unique across the whole platform.
    all_ids = [d["id"] for domain in domains.values() for d in domain["datasets"]]
    assert len(all_ids) == len(set(all_ids))

    assert {c["id"] for c in doc["card_types"]} == {c[0] for c in seed.CARD_TYPES}
    a100 = next(c for c in doc["card_types"] if c["id"] == "a100-80g")
    assert a100 == {
        "id": "a100-80g",
        "name": "NVIDIA A100 80GB",
        "gpu_memory_gib": 80,
        "max_gpus": 8,
    }


async def test_load_catalog_matches_the_document(service) -> None:
    ctx, client = service
    async with ctx.db.transaction() as session:
        catalog = await load_catalog(session=session)
    assert catalog_document(catalog) == (await client.get("/api/catalog")).json()
    nlp = catalog.domains["nlp"]
    assert nlp.task_of("gsm8k").id == "math-reasoning"
    assert nlp.datasets["chinese-open-qa"].subjective and not nlp.datasets["mmlu"].subjective
    assert catalog.domains["safety"].datasets["cbbq"].category == "A2"
    assert catalog.card_types["v100-32g"].gpu_memory_gib == 32
    # Each call hands out its own dicts.
    catalog.domains["nlp"].datasets.clear()
    async with ctx.db.transaction() as session:
        assert (await load_catalog(session=session)).domains["nlp"].datasets


async def test_admin_adds_a_card_type(service) -> None:
    ctx, client = service
    response = await client.post("/api/admin/card-types", json=GOOD, headers=_headers(ctx))
    assert response.status_code == 201
    assert response.json() == GOOD
    listed = (await client.get("/api/catalog")).json()["card_types"]
    assert GOOD in listed
    async with ctx.db.transaction() as session:
        catalog = await load_catalog(session=session)
    assert catalog.card_types["a10-24g"].max_gpus == 4

    again = await client.post(
        "/api/admin/card-types", json={**GOOD, "name": "other"}, headers=_headers(ctx)
    )
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "card_type_exists"
    builtin = await client.post(
        "/api/admin/card-types", json={**GOOD, "id": "a100-80g"}, headers=_headers(ctx)
    )
    assert builtin.status_code == 409


async def test_concurrent_adds_of_one_id_accept_exactly_one(service) -> None:
    ctx, _client = service

    async def add() -> str:
        try:
            async with ctx.db.transaction() as session:
                await add_card_type(
                    session=session, id="l40s-48g", name="L40S", gpu_memory_gib=48, max_gpus=8
                )
            return "ok"
        except Conflict:
            return "conflict"

    results = await asyncio.gather(*(add() for _ in range(5)))
    assert sorted(results) == ["conflict"] * 4 + ["ok"]


@pytest.mark.parametrize(
    "body",
    [
        {**GOOD, "id": "A10"},
        {**GOOD, "id": "a"},
        {**GOOD, "id": "-a10"},
        {**GOOD, "id": "a10_24g"},
        {**GOOD, "id": "a" * 33},
        {**GOOD, "id": 10},
        {**GOOD, "name": ""},
        {**GOOD, "name": "   "},
        {**GOOD, "name": "n" * 65},
        {**GOOD, "gpu_memory_gib": 0},
        {**GOOD, "gpu_memory_gib": 1025},
        {**GOOD, "gpu_memory_gib": "24"},
        {**GOOD, "gpu_memory_gib": 24.5},
        {**GOOD, "gpu_memory_gib": True},
        {**GOOD, "max_gpus": 0},
        {**GOOD, "max_gpus": 65},
        {**GOOD, "max_gpus": None},
        {k: v for k, v in GOOD.items() if k != "name"},
        {**GOOD, "extra": 1},
        [],
    ],
)
async def test_bad_values_are_422(service, body) -> None:
    ctx, client = service
    response = await client.post("/api/admin/card-types", json=body, headers=_headers(ctx))
    assert response.status_code == 422, body
    assert "detail" in response.json()
    ids = {c["id"] for c in (await client.get("/api/catalog")).json()["card_types"]}
    assert "a10-24g" not in ids


async def test_only_admins_add_card_types(service) -> None:
    ctx, client = service
    user = await client.post("/api/admin/card-types", json=GOOD, headers=_headers(ctx, Role.USER))
    assert user.status_code == 403
    anonymous = await client.post("/api/admin/card-types", json=GOOD)
    assert anonymous.status_code == 401
    forged = await client.post("/api/admin/card-types", json=GOOD, headers={IDENTITY_HEADER: "x.y"})
    assert forged.status_code == 401
    # Refused before the body is even looked at.
    assert (
        await client.post("/api/admin/card-types", json={}, headers=_headers(ctx, Role.USER))
    ).status_code == 403
    ids = {c["id"] for c in (await client.get("/api/catalog")).json()["card_types"]}
    assert "a10-24g" not in ids


async def test_migration_matches_the_card_types_model_and_downgrades(database) -> None:
    scripts = definition.migrations
    await migrations.upgrade(database, scripts, "20261127_0002")
    diff = await migrations.schema_drift(database, metadata)
    # Only look at our table: later revisions of other parts of the service are not applied.
    assert [d for d in diff if "card_types" in repr(d)] == []
    await migrations.downgrade(database, scripts, "20261127_0001")
    await migrations.upgrade(database, scripts)
