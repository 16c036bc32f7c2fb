"""Administrators register datasets (SPEC §6): card + JSONL validated by the runner's parser,
objects in the store with the data's sha256 recorded, merged into the catalog, chosen by
evaluations and handed to runs as presigned URLs — and every bad card field, form part and
data line rejected with a 422 naming it, with nothing stored."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from flageval_contracts.enums import Role, UserStatus
from flageval_datasets import load_dataset
from flageval_eval_api.datasets import service as datasets_service
from flageval_eval_api.datasets.models import RegisteredDataset
from flageval_eval_api.main import definition
from flageval_eval_api.models import metadata
from flageval_platform import migrations
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.service import ServiceContext
from flageval_platform.settings import Settings
from flageval_platform.storage.local import presigned_router
from flageval_platform.testing import eventually, running_platform, running_service

SECRET = "d" * 48
ADMIN = Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED)
USER = Identity(uuid.uuid4(), "alice", Role.USER, UserStatus.APPROVED)

CARD: dict[str, Any] = {
    "name": "team-quiz",
    "domain": "nlp",
    "task": "choice_qa",
    "language": "en",
    "metric": "accuracy",
    "few_shot": 0,
    "version": "1",
    "description": "A tiny quiz.",
}
LINES: list[dict[str, Any]] = [
    {"id": "q1", "input": "2 + 2 = ?", "choices": ["3", "4"], "label": "B"},
    {"id": "q2", "input": "Capital of France?", "choices": ["Paris", "Rome", "Oslo"], "label": "A"},
    {"id": "q3", "input": "Largest planet?", "choices": ["Mars", "Jupiter"], "label": "B"},
]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


DATA = jsonl(LINES)


def card_bytes(**overrides: Any) -> bytes:
    card = {**CARD, **overrides}
    return json.dumps({k: v for k, v in card.items() if v is not ...}).encode()


def headers(ctx: ServiceContext, who: Identity = ADMIN) -> dict[str, str]:
    return {IDENTITY_HEADER: sign_identity(who, ctx.secret_key)}


async def register(
    client: httpx.AsyncClient,
    ctx: ServiceContext,
    *,
    card: bytes | None = None,
    data: bytes | None = DATA,
    catalog_task: str | None = "knowledge",
    who: Identity | None = ADMIN,
) -> httpx.Response:
    files: dict[str, Any] = {}
    if card is not None:
        files["card"] = ("card.json", card, "application/json")
    if data is not None:
        files["data"] = ("data.jsonl", data, "application/x-ndjson")
    form = {} if catalog_task is None else {"catalog_task": catalog_task}
    return await client.post(
        "/api/admin/datasets",
        files=files or {"nothing": ("x", b"", "text/plain")},
        data=form,
        headers=headers(ctx, who) if who is not None else {},
    )


@pytest.fixture
async def service(database, tmp_path: Path):
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    async with running_service(definition, settings, database=database) as running:
        yield running.ctx, running.client


async def nothing_stored(ctx: ServiceContext, client: httpx.AsyncClient) -> None:
    assert await ctx.store.list("datasets/") == []
    async with ctx.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(RegisteredDataset)) == 0
    nlp = (await client.get("/api/catalog")).json()["domains"]["nlp"]
    assert not [d for d in nlp["datasets"] if d["registered"]]


def catalog_entry(doc: dict[str, Any], domain: str, dataset: str) -> dict[str, Any] | None:
    return next((d for d in doc["domains"][domain]["datasets"] if d["id"] == dataset), None)


# -- the happy path ------------------------------------------------------------------------------


async def test_admin_registers_a_dataset_and_an_evaluation_chooses_it(service) -> None:
    ctx, client = service
    card = card_bytes()
    reply = await register(client, ctx, card=card)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    sha = hashlib.sha256(DATA).hexdigest()
    assert body["id"] == "team-quiz" and body["version"] == "1"
    assert body["domain"] == "nlp" and body["task"] == "knowledge"
    assert body["size"] == 3 and body["dev_size"] == 0 and body["data_bytes"] == len(DATA)
    assert body["sha256"] == sha
    assert body["content_sha256"] == load_dataset(card, DATA).content_sha256
    assert body["source"] == "datasets/team-quiz/1"
    assert body["card"]["task"] == "choice_qa"

    # The objects hold exactly the uploaded bytes.
    assert await ctx.store.read("datasets/team-quiz/1/data.jsonl") == DATA
    assert await ctx.store.read("datasets/team-quiz/1/card.json") == card
    async with ctx.db.transaction() as session:
        row = await session.scalar(select(RegisteredDataset))
    assert row is not None and row.sha256 == sha and row.registered_by == ADMIN.user_id

    doc = (await client.get("/api/catalog")).json()
    entry = catalog_entry(doc, "nlp", "team-quiz")
    assert entry == {
        "id": "team-quiz",
        "name": "team-quiz",
        "task": "knowledge",
        "language": "en",
        "metric": "accuracy",
        "has_data": True,
        "size": 3,
        "item_count": 3,
        "version": "1",
        "versions": 1,
        "source_note": "A tiny quiz.",
        "subjective": False,
        "registered": True,
        "sha256": sha,
        "content_sha256": body["content_sha256"],
    }
    knowledge = next(t for t in doc["domains"]["nlp"]["tasks"] if t["id"] == "knowledge")
    assert knowledge["datasets"][-1] == "team-quiz"
    assert catalog_entry(doc, "nlp", "mmlu")["registered"] is False  # type: ignore[index]

    evaluation = await client.post(
        "/api/evaluations",
        json={
            "domain": "nlp",
            "name": "quiz-taker",
            "datasets": ["team-quiz", "demo-en-choice"],
            "deploy_mode": "api",
            "api": {"endpoint": "https://api.example.com/v1", "model_name": "m", "api_key": "k"},
        },
        headers=headers(ctx, USER),
    )
    assert evaluation.status_code == 201, evaluation.text
    assert evaluation.json()["datasets"] == ["team-quiz", "demo-en-choice"]


async def test_safety_and_open_qa_datasets_take_their_category_and_human_rating(service) -> None:
    ctx, client = service
    card = card_bytes(
        name="rights-probe", domain="safety", task="open_qa", language="zh", metric="none"
    )
    data = jsonl([{"id": "1", "input": "问题一"}, {"id": "2", "input": "问题二"}])
    reply = await register(client, ctx, card=card, data=data, catalog_task="a4-rights-infringement")
    assert reply.status_code == 201, reply.text
    doc = (await client.get("/api/catalog")).json()
    entry = catalog_entry(doc, "safety", "rights-probe")
    assert entry is not None
    assert entry["category"] == "A4" and entry["metric"] == "human-rating" and entry["subjective"]
    a4 = next(c for c in doc["domains"]["safety"]["categories"] if c["id"] == "A4")
    assert "rights-probe" in a4["datasets"]


async def test_a_new_version_becomes_current_and_the_old_objects_stay(service) -> None:
    ctx, client = service
    assert (await register(client, ctx, card=card_bytes())).status_code == 201

    again = await register(client, ctx, card=card_bytes(description="changed"))
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "dataset_version_exists"

    data_v2 = jsonl([*LINES, {"id": "q4", "input": "1 + 1?", "choices": ["2", "3"], "label": "A"}])
    v2 = await register(client, ctx, card=card_bytes(version="2024.2"), data=data_v2)
    assert v2.status_code == 201, v2.text
    entry = catalog_entry((await client.get("/api/catalog")).json(), "nlp", "team-quiz")
    assert entry is not None
    assert entry["version"] == "2024.2" and entry["size"] == 4
    assert entry["sha256"] == hashlib.sha256(data_v2).hexdigest()
    assert await ctx.store.read("datasets/team-quiz/1/data.jsonl") == DATA
    assert await ctx.store.read("datasets/team-quiz/2024.2/data.jsonl") == data_v2
    # Still listed once.
    nlp = (await client.get("/api/catalog")).json()["domains"]["nlp"]
    assert [d["id"] for d in nlp["datasets"]].count("team-quiz") == 1

    # A later version must stay in its domain and task.
    moved = await register(
        client, ctx, card=card_bytes(version="3"), catalog_task="commonsense-reasoning"
    )
    assert moved.status_code == 409
    assert moved.json()["detail"]["code"] == "dataset_task_mismatch"
    other_domain = await register(
        client, ctx, card=card_bytes(version="3", domain="safety"), catalog_task="a2-discrimination"
    )
    assert other_domain.status_code == 409
    assert await ctx.store.list("datasets/team-quiz/3/") == []


# -- who may register ----------------------------------------------------------------------------


async def test_only_admins_register_datasets(service) -> None:
    ctx, client = service
    user = await register(client, ctx, card=card_bytes(), who=USER)
    assert user.status_code == 403
    anonymous = await register(client, ctx, card=card_bytes(), who=None)
    assert anonymous.status_code == 401
    forged = await client.post("/api/admin/datasets", headers={IDENTITY_HEADER: "x.y"})
    assert forged.status_code == 401
    # Refused before the body is looked at.
    empty = await client.post("/api/admin/datasets", headers=headers(ctx, USER))
    assert empty.status_code == 403
    await nothing_stored(ctx, client)


# -- bad cards, forms and data -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ...}, "name"),
        ({"name": "Team-Quiz"}, "name"),
        ({"name": "team_quiz"}, "name"),
        ({"name": "-quiz"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "q" * 65}, "name"),
        ({"name": 7}, "name"),
        ({"name": "team-quiz\n"}, "name"),  # `$` alone would match before the newline
        ({"name": "demo-en-choice"}, "name"),  # a demo dataset (ships its own data)
        ({"name": "gsm8k"}, "metric"),  # a built-in dataset scored by exact-match
        ({"name": "demo-en-choice"}, "name"),
        ({"domain": ...}, "domain"),
        ({"domain": "music"}, "domain"),
        ({"domain": None}, "domain"),
        ({"task": ...}, "task"),
        ({"task": "knowledge"}, "task"),
        ({"task": 1}, "task"),
        ({"language": ...}, "language"),
        ({"language": "fr"}, "language"),
        ({"metric": ...}, "metric"),
        ({"metric": "bleu"}, "metric"),
        ({"metric": "f1"}, "metric"),  # does not fit choice_qa
        ({"few_shot": ...}, "few_shot"),
        ({"few_shot": -1}, "few_shot"),
        ({"few_shot": 26}, "few_shot"),
        ({"few_shot": "2"}, "few_shot"),
        ({"few_shot": 1.5}, "few_shot"),
        ({"few_shot": True}, "few_shot"),
        ({"few_shot": 2}, None),  # more than the data's dev items (whole-data problem)
        ({"version": ...}, "version"),
        ({"version": ""}, "version"),
        ({"version": 1}, "version"),
        ({"version": "../x"}, "version"),
        ({"version": "v1\n"}, "version"),
        ({"version": "v" * 65}, "version"),
        ({"prompt_template": "no placeholder"}, "prompt_template"),
        ({"prompt_template": "{input} {answer}"}, "prompt_template"),
        ({"prompt_template": 3}, "prompt_template"),
        ({"description": "d" * 1025}, "description"),
        ({"description": 5}, "description"),
        ({"extra": True}, "extra"),
    ],
)
async def test_every_bad_card_field_is_a_422_naming_it(service, overrides, field) -> None:
    ctx, client = service
    reply = await register(client, ctx, card=card_bytes(**overrides))
    assert reply.status_code == 422, (overrides, reply.text)
    detail = reply.json()["detail"]
    if field is None:
        assert any(d["source"] == "data" and d["line"] is None for d in detail), detail
    else:
        assert {"source": "card", "field": field} in [
            {"source": d["source"], "field": d.get("field")} for d in detail
        ], detail
    assert all(d["message"] for d in detail)
    await nothing_stored(ctx, client)


@pytest.mark.parametrize(
    ("card", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"", "not valid JSON"),
        (b'{"name": "x", "description": "\\ud800"}', "lone surrogate"),
        (b'{"\\udfff": 1}', "lone surrogate"),
    ],
)
async def test_a_card_that_is_not_a_json_object_is_a_422(service, card, message) -> None:
    ctx, client = service
    reply = await register(client, ctx, card=card)
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    assert detail[0]["source"] == "card" and detail[0]["field"] is None
    assert message in detail[0]["message"]
    await nothing_stored(ctx, client)


BAD_LINES: list[tuple[str, bytes, list[int]]] = [
    ("bad JSON", DATA + b'{"id": "q9", "input": \n', [4]),
    ("not an object", DATA + b'["q9"]\n', [4]),
    ("missing id", jsonl([LINES[0], {k: v for k, v in LINES[1].items() if k != "id"}]), [2]),
    ("missing input", jsonl([{"id": "x", "choices": ["a", "b"], "label": "A"}, LINES[0]]), [1]),
    ("duplicate id", jsonl([*LINES, {**LINES[0], "input": "again?"}]), [4]),
    ("choices not a list", jsonl([LINES[0], {**LINES[1], "choices": "Paris"}]), [2]),
    ("one choice", jsonl([{**LINES[0], "choices": ["4"]}, LINES[1]]), [1]),
    ("label not a choice", jsonl([LINES[0], LINES[1], {**LINES[2], "label": "C"}]), [3]),
    ("label missing", jsonl([{k: v for k, v in LINES[0].items() if k != "label"}]), [1]),
    ("choices missing", jsonl([LINES[0], {"id": "q2", "input": "?", "label": "A"}]), [2]),
    ("unknown key", jsonl([{**LINES[0], "answer": "B"}]), [1]),
    ("blank line", jsonl(LINES[:1]) + b"\n" + jsonl(LINES[1:]), [2]),
    ("non-UTF-8", jsonl(LINES[:2]) + b'{"id": "q3", "input": "\xff\xfe"}\n', [3]),
    (
        "lone surrogate",
        jsonl(LINES[:1]) + b'{"id": "q2", "input": "\\ud83d?", "label": "A",'
        b' "choices": ["a", "b"]}\n',
        [2],
    ),
    (
        "several",
        jsonl([LINES[0], {**LINES[1], "choices": 5}]) + b"oops\n" + jsonl([LINES[0]]),
        [2, 3, 4],
    ),
]


@pytest.mark.parametrize(
    ("data", "lines"), [(d, n) for _, d, n in BAD_LINES], ids=[name for name, _, _ in BAD_LINES]
)
async def test_every_bad_data_line_is_a_422_naming_its_line(service, data, lines) -> None:
    ctx, client = service
    reply = await register(client, ctx, card=card_bytes(), data=data)
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert sorted({d["line"] for d in detail}) == lines, detail
    assert all(d["source"] == "data" and d["message"] for d in detail)
    await nothing_stored(ctx, client)


async def test_empty_data_and_data_with_only_exemplars_are_422(service) -> None:
    ctx, client = service
    for data in (b"", jsonl([{**LINES[0], "split": "dev"}])):
        reply = await register(client, ctx, card=card_bytes(), data=data)
        assert reply.status_code == 422, reply.text
        assert reply.json()["detail"] == [
            {"source": "data", "line": None, "message": reply.json()["detail"][0]["message"]}
        ]
    await nothing_stored(ctx, client)


async def test_card_form_and_data_problems_are_reported_together(service) -> None:
    ctx, client = service
    data = jsonl([LINES[0], {"id": "q1", "input": "dup"}])
    reply = await register(
        client, ctx, card=card_bytes(language="fr", version=""), data=data, catalog_task=None
    )
    assert reply.status_code == 422
    found = {(d["source"], d.get("field"), d.get("line")) for d in reply.json()["detail"]}
    assert {
        ("card", "language", None),
        ("card", "version", None),
        ("form", "catalog_task", None),
        ("data", None, 2),
    } <= found
    await nothing_stored(ctx, client)


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ({"card": None}, "card"),
        ({"data": None}, "data"),
        ({"catalog_task": None}, "catalog_task"),
        ({"catalog_task": ""}, "catalog_task"),
        ({"catalog_task": "classification"}, "catalog_task"),  # a CV task, not an NLP one
        ({"catalog_task": "nope"}, "catalog_task"),
    ],
)
async def test_bad_form_parts_are_422(service, parts, field) -> None:
    ctx, client = service
    kwargs: dict[str, Any] = {"card": card_bytes(), **parts}
    reply = await register(client, ctx, **kwargs)
    assert reply.status_code == 422, reply.text
    assert {"source": "form", "field": field} in [
        {"source": d["source"], "field": d.get("field")} for d in reply.json()["detail"]
    ]
    await nothing_stored(ctx, client)


async def test_card_given_as_a_text_field_is_accepted(service) -> None:
    ctx, client = service
    reply = await client.post(
        "/api/admin/datasets",
        files={"data": ("data.jsonl", DATA, "application/x-ndjson")},
        data={"card": card_bytes().decode(), "catalog_task": "knowledge"},
        headers=headers(ctx),
    )
    assert reply.status_code == 201, reply.text


async def test_limits(service, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, client = service
    big_card = card_bytes(description="x" * 1000, prompt_template="{input}" + " " * (64 * 1024))
    reply = await register(client, ctx, card=big_card)
    assert reply.status_code == 413
    assert reply.json()["detail"][0]["source"] == "card"

    monkeypatch.setattr(datasets_service, "MAX_DATA_BYTES", len(DATA) - 1)
    reply = await register(client, ctx, card=card_bytes())
    assert reply.status_code == 413
    assert reply.json()["detail"][0]["source"] == "data"
    monkeypatch.undo()

    monkeypatch.setattr(datasets_service, "MAX_DATA_LINES", 2)
    reply = await register(client, ctx, card=card_bytes())
    assert reply.status_code == 422
    assert reply.json()["detail"] == [{"source": "data", "line": 3, "message": "more than 2 lines"}]
    monkeypatch.undo()

    # A flood of bad lines is summarised.
    flood = b"x\n" * (datasets_service.MAX_REPORTED_PROBLEMS + 5)
    reply = await register(client, ctx, card=card_bytes(), data=flood)
    detail = reply.json()["detail"]
    assert len(detail) == datasets_service.MAX_REPORTED_PROBLEMS + 1
    assert detail[-1]["message"] == "... and 5 more problems"
    await nothing_stored(ctx, client)


async def test_a_failed_store_write_leaves_no_row(service, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, client = service
    real_put = ctx.store.put

    async def put(key: str, data: Any, **kwargs: Any) -> Any:
        if key.endswith("card.json"):
            raise OSError("disk full")
        return await real_put(key, data, **kwargs)

    monkeypatch.setattr(ctx.store, "put", put)
    with pytest.raises(OSError):  # the test client re-raises what would be a 500
        await register(client, ctx, card=card_bytes())
    assert await ctx.store.list("datasets/team-quiz/1/card.json") == []
    async with ctx.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(RegisteredDataset)) == 0
    assert catalog_entry((await client.get("/api/catalog")).json(), "nlp", "team-quiz") is None


async def test_migration_matches_the_registered_datasets_model_and_downgrades(database) -> None:
    scripts = definition.migrations
    await migrations.upgrade(database, scripts)
    diff = await migrations.schema_drift(database, metadata)
    assert [d for d in diff if "registered_datasets" in repr(d)] == []
    await migrations.downgrade(database, scripts, "20261128_0005")
    await migrations.upgrade(database, scripts)


# -- a run reads the registered data ---------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_a_run_gets_presigned_urls_of_the_current_version(tmp_path: Path, backend) -> None:
    from flageval_scheduler.config import ServiceSettings
    from flageval_scheduler.executors.memory import MemoryExecutor
    from flageval_scheduler.jobs.service import progress_token
    from flageval_scheduler.main import definition as scheduler

    executor = MemoryExecutor()
    settings = ServiceSettings(
        data_dir=tmp_path,
        secret_key=SECRET,
        dispatch_interval_seconds=0.05,
        outbox_poll_seconds=0.05,
    )
    async with running_platform(
        {"eval-api": definition, "scheduler": scheduler},
        settings,
        backend=backend,
        state={"scheduler": {"executor": executor}},
    ) as platform:
        api = platform["eval-api"]
        card = card_bytes()
        reply = await register(api.client, api.ctx, card=card)
        assert reply.status_code == 201, reply.text
        evaluation = await api.client.post(
            "/api/evaluations",
            json={
                "domain": "nlp",
                "name": "quiz-runner",
                "datasets": ["team-quiz", "demo-en-choice"],
                "deploy_mode": "api",
                "api": {"endpoint": "https://llm.example.org/v1", "model_name": "m"},
            },
            headers=api.headers_for(USER),
        )
        assert evaluation.status_code == 201, evaluation.text
        run = await api.client.post(
            f"/api/evaluations/{evaluation.json()['id']}/runs",
            json={"kind": "validation"},
            headers=api.headers_for(USER),
        )
        assert run.status_code == 201, run.text
        run_id = run.json()["id"]
        await eventually(lambda: f"memory/{run_id}/1" in executor.requests, within=30)

        token = progress_token(SECRET, uuid.UUID(run_id), 1)
        spec = await platform["scheduler"].client.get(
            f"/api/runner/runs/{run_id}/spec", headers={"X-Run-Token": token}
        )
        assert spec.status_code == 200, spec.text
        sources = {d["dataset"]: d["source"] for d in spec.json()["datasets"]}
        assert sources["demo-en-choice"] == {"type": "demo", "name": "demo-en-choice"}
        source = sources["team-quiz"]
        assert set(source) == {"type", "card_url", "data_url"} and source["type"] == "url"
        assert "datasets/team-quiz/1/card.json" in source["card_url"]

        # The URLs download the registered bytes through the local store's presigned route.
        app = FastAPI()
        app.include_router(presigned_router(platform.store))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://store"
        ) as store:
            for url, expected in ((source["card_url"], card), (source["data_url"], DATA)):
                parts = urlsplit(url)
                got = await store.get(f"{parts.path}?{parts.query}")
                assert got.status_code == 200 and got.content == expected
        assert hashlib.sha256(DATA).hexdigest() == reply.json()["sha256"]


async def test_the_openapi_document_describes_the_form_and_every_error_it_answers(
    service,
) -> None:
    """The form is read by hand, so the document must say what it takes and what it answers:
    the replies a client can get here are all documented (the API fuzzing relies on it)."""
    ctx, client = service
    doc = (await client.get("/openapi.json")).json()
    operation = doc["paths"]["/api/admin/datasets"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["required"]) == {"card", "data"}
    assert set(form["properties"]) == {"card", "data", "catalog_task"}
    replies = [
        await register(client, ctx, card=card_bytes()),
        await register(client, ctx, card=card_bytes()),  # the same version again
        await register(client, ctx, card=None),
        await register(client, ctx, card=b" " * (datasets_service.MAX_CARD_BYTES + 1)),
        await client.post(
            "/api/admin/datasets",
            content=b"--x\r\nnot a part",
            headers={**headers(ctx), "Content-Type": "multipart/form-data; boundary=x"},
        ),
    ]
    assert [r.status_code for r in replies] == [201, 409, 422, 413, 400], [r.text for r in replies]
    for reply in replies[1:]:
        documented = operation["responses"][str(reply.status_code)]
        schema = documented["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
        assert {"detail", "code"} <= set(reply.json())
