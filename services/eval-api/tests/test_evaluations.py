"""Evaluations in all five domains (SPEC §2/§3): every rule with bad values for every field,
platform-wide unique names (also under concurrent creates), API keys encrypted and never
returned, immutable name/domain, owner-only access, and the events in the outbox."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from flageval_contracts import new_envelope
from flageval_contracts.enums import Role, UserStatus
from flageval_eval_api.evaluations.models import Evaluation
from flageval_eval_api.evaluations.secrets import ApiKeyCipher, UnreadableApiKey
from flageval_eval_api.main import definition
from flageval_eval_api.models import metadata
from flageval_platform import migrations
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.service import ServiceContext
from flageval_platform.settings import Settings
from flageval_platform.testing import running_service

SECRET = "e" * 48
API_KEY = "sk-very-secret-0123456789"
OUT_KEYS = {
    "id", "domain", "name", "description", "datasets", "tasks", "deploy_mode", "dimensions",
    "private", "api", "model_info", "owner_id", "created_at", "updated_at",
}  # fmt: skip

# Images announced by the image registry (``image.available``) before each test.
PRESET_NLP = str(uuid.uuid5(uuid.NAMESPACE_URL, "preset/nlp-serving:1.0"))
PRESET_CV = str(uuid.uuid5(uuid.NAMESPACE_URL, "preset/cv-pytorch:24.01"))
PRESET_AUDIO = str(uuid.uuid5(uuid.NAMESPACE_URL, "preset/audio:1.0"))

PRIVATE = {
    "image_id": PRESET_NLP,
    "priority": "high",
    "card_type": "a100-80g",
    "gpus": 2,
}
VALID: dict[str, dict[str, Any]] = {
    "nlp": {
        "domain": "nlp",
        "name": "llama-7b",
        "description": "A 7B chat model",
        "datasets": ["mmlu", "gsm8k"],
        "deploy_mode": "private",
        "dimensions": {"robustness": True},
        "private": PRIVATE,
        "model_info": {
            "model_type": "chat",
            "paper_url": "https://arxiv.org/abs/2302.13971",
            "model_url": "https://huggingface.co/meta-llama/Llama-2-7b",
        },
    },
    "nlp-api": {
        "domain": "nlp",
        "name": "gpt-like",
        "datasets": ["mmlu"],
        "deploy_mode": "api",
        "api": {"endpoint": "https://api.example.com/v1", "model_name": "m1", "api_key": API_KEY},
    },
    "cv": {
        "domain": "cv",
        "name": "vit-base",
        "tasks": [
            {"task": "classification", "adaptation_method": "linear-probe"},
            {"task": "segmentation", "adaptation_method": "upernet", "datasets": ["ade20k"]},
        ],
        "dimensions": {"robustness": True},
        "private": {"image_id": PRESET_CV, "card_type": "v100-32g"},
    },
    "multimodal": {
        "domain": "multimodal",
        "name": "clip-ish",
        "tasks": [{"task": "vqa"}, {"task": "retrieval", "datasets": ["flickr30k"]}],
        "deploy_mode": "api",
        "api": {"endpoint": "http://10.0.0.7:8080/infer"},
    },
    "audio": {
        "domain": "audio",
        "name": "wav2vec",
        "tasks": [{"task": "asr"}],
        "private": {"image_id": PRESET_AUDIO, "card_type": "h100-80g", "gpus": 8},
    },
    "safety": {
        "domain": "safety",
        "name": "guard-1",
        "datasets": ["flames", "cbbq", "flageval-safety-services"],
        "api": {"endpoint": "https://llm.example.org/chat", "model_name": "g1", "api_key": API_KEY},
    },
}

DROP = object()


def variant(base: str, **changes: Any) -> dict[str, Any]:
    """A copy of ``VALID[base]``; keys are dotted paths (``private__gpus``), DROP removes one."""
    body = copy.deepcopy(VALID[base])
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = body
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is DROP:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return body


#: (case, body, where the problem is reported). Every one is a 422 and writes nothing.
BAD: list[tuple[str, Any, str]] = [
    ("name too short", variant("nlp", name="ab"), "name"),
    ("name too long", variant("nlp", name="a" * 33), "name"),
    ("name uppercase", variant("nlp", name="Llama"), "name"),
    ("name starts with digit", variant("nlp", name="7b-llama"), "name"),
    ("name starts with dash", variant("nlp", name="-llama"), "name"),
    ("name ends with dash", variant("nlp", name="llama-"), "name"),
    ("name underscore", variant("nlp", name="llama_7b"), "name"),
    ("name space", variant("nlp", name="llama 7b"), "name"),
    ("name non-ascii", variant("nlp", name="模型名字"), "name"),
    ("name not a string", variant("nlp", name=123), "name"),
    ("name missing", variant("nlp", name=DROP), "name"),
    ("description too long", variant("nlp", description="x" * 257), "description"),
    ("description not a string", variant("nlp", description=5), "description"),
    ("description with NUL", variant("nlp", description="a\x00b"), "description"),
    ("domain unknown", variant("nlp", domain="speech"), "domain"),
    ("domain missing", variant("nlp", domain=DROP), "domain"),
    ("unknown field", variant("nlp", owner_id=str(uuid.uuid4())), "owner_id"),
    ("unknown nested field", variant("nlp", private__nodes=2), "nodes"),
    ("body not an object", ["nlp"], "body"),
    ("datasets empty", variant("nlp", datasets=[]), "datasets"),
    ("datasets missing", variant("nlp", datasets=DROP), "datasets"),
    ("dataset unknown", variant("nlp", datasets=["mmlu", "nope"]), "datasets"),
    ("dataset of another domain", variant("nlp", datasets=["imagenet-1k"]), "datasets"),
    ("dataset twice", variant("nlp", datasets=["mmlu", "mmlu"]), "datasets"),
    ("datasets a string", variant("nlp", datasets="mmlu"), "datasets"),
    ("dataset not a string", variant("nlp", datasets=[1]), "datasets"),
    ("nlp with tasks", variant("nlp", tasks=[{"task": "knowledge"}]), "tasks"),
    ("safety dataset of nlp", variant("safety", datasets=["mmlu"]), "datasets"),
    ("cv tasks missing", variant("cv", tasks=DROP), "tasks"),
    ("cv tasks empty", variant("cv", tasks=[]), "tasks"),
    ("cv with datasets", variant("cv", datasets=["imagenet-1k"]), "datasets"),
    ("cv task unknown", variant("cv", tasks=[{"task": "ocr", "adaptation_method": "x"}]), "task"),
    ("cv method missing", variant("cv", tasks=[{"task": "classification"}]), "adaptation_method"),
    (
        "cv method of another task",
        variant("cv", tasks=[{"task": "classification", "adaptation_method": "upernet"}]),
        "adaptation_method",
    ),
    (
        "cv task twice",
        variant("cv", tasks=[{"task": "retrieval", "adaptation_method": "linear-probe"}] * 2),
        "task",
    ),
    (
        "cv dataset of another task",
        variant(
            "cv",
            tasks=[
                {"task": "classification", "adaptation_method": "linear-probe", "datasets": ["ade20k"]}
            ],
        ),
        "datasets",
    ),
    ("cv task not an object", variant("cv", tasks=["classification"]), "tasks"),
    ("cv task extra field", variant("cv", tasks__0__epochs=3), "epochs"),
    ("cv deployed by api", variant("cv", deploy_mode="api"), "deploy_mode"),
    ("cv model type chat", variant("cv", model_info={"model_type": "chat"}), "model_type"),
    ("multimodal task of cv", variant("multimodal", tasks=[{"task": "segmentation"}]), "task"),
    ("multimodal datasets empty", variant("multimodal", tasks__1__datasets=[]), "datasets"),
    ("multimodal dataset of another task", variant("multimodal", tasks__1__datasets=["mmmu"]), "datasets"),
    ("multimodal adaptation method", variant("multimodal", tasks__0__adaptation_method="linear-probe"), "adaptation_method"),
    ("multimodal deploy mode missing", variant("multimodal", deploy_mode=DROP), "deploy_mode"),
    ("audio robustness", variant("audio", dimensions={"robustness": True}), "robustness"),
    ("audio by api", variant("audio", deploy_mode="api"), "deploy_mode"),
    ("audio unknown task", variant("audio", tasks=[{"task": "music"}]), "task"),
    ("deploy mode unknown", variant("nlp", deploy_mode="cloud"), "deploy_mode"),
    ("deploy mode missing", variant("nlp", deploy_mode=DROP), "deploy_mode"),
    ("robustness not a bool", variant("nlp", dimensions={"robustness": "yes"}), "robustness"),
    ("accuracy switched off", variant("nlp", dimensions={"accuracy": False}), "accuracy"),
    ("private missing", variant("nlp", private=DROP), "private"),
    ("api sent for private", variant("nlp", api={"endpoint": "https://a.example"}), "api"),
    ("image_id empty", variant("nlp", private__image_id=""), "image_id"),
    ("image_id uppercase", variant("nlp", private__image_id="Flageval/X"), "image_id"),
    ("image_id leading dash", variant("nlp", private__image_id="-x"), "image_id"),
    ("image_id missing", variant("nlp", private__image_id=DROP), "image_id"),
    ("priority unknown", variant("nlp", private__priority="urgent"), "priority"),
    ("card type unknown", variant("nlp", private__card_type="tpu-v4"), "card_type"),
    ("card type missing", variant("nlp", private__card_type=DROP), "card_type"),
    ("gpus zero", variant("nlp", private__gpus=0), "gpus"),
    ("gpus beyond the card type", variant("nlp", private__gpus=9), "gpus"),
    ("gpus a string", variant("nlp", private__gpus="2"), "gpus"),
    ("gpus a float", variant("nlp", private__gpus=1.5), "gpus"),
    ("gpus a bool", variant("nlp", private__gpus=True), "gpus"),
    ("api missing", variant("nlp-api", api=DROP), "api"),
    ("private sent for api", variant("nlp-api", private=PRIVATE), "private"),
    ("endpoint missing", variant("nlp-api", api__endpoint=DROP), "endpoint"),
    ("endpoint ftp", variant("nlp-api", api__endpoint="ftp://files.example.com"), "endpoint"),
    ("endpoint not a url", variant("nlp-api", api__endpoint="not a url"), "endpoint"),
    ("endpoint without host", variant("nlp-api", api__endpoint="http://"), "endpoint"),
    ("endpoint with space", variant("nlp-api", api__endpoint="https://exa mple.com"), "endpoint"),
    ("endpoint bad port", variant("nlp-api", api__endpoint="https://example.com:99999"), "endpoint"),
    ("model name empty", variant("nlp-api", api__model_name=""), "model_name"),
    ("model name with NUL", variant("nlp-api", api__model_name="m\x00"), "model_name"),
    ("model name too long", variant("nlp-api", api__model_name="m" * 257), "model_name"),
    ("api key empty", variant("nlp-api", api__api_key=""), "api_key"),
    ("api key with newline", variant("nlp-api", api__api_key="sk-1\nX-Evil: 1"), "api_key"),
    ("safety model name missing", variant("safety", api__model_name=DROP), "model_name"),
    ("safety api key missing", variant("safety", api__api_key=DROP), "api_key"),
    ("safety deployed privately", variant("safety", deploy_mode="private"), "deploy_mode"),
    ("safety robustness", variant("safety", dimensions={"robustness": True}), "robustness"),
    ("safety with tasks", variant("safety", tasks=[{"task": "a1-core-values"}]), "tasks"),
    ("model type unknown", variant("nlp", model_info__model_type="robot"), "model_type"),
    ("paper url javascript", variant("nlp", model_info__paper_url="javascript:alert(1)"), "paper_url"),
    ("model url without scheme", variant("nlp", model_info__model_url="huggingface.co/x"), "model_url"),
    ("model url not a string", variant("nlp", model_info__model_url=7), "model_url"),
]  # fmt: skip


@pytest.fixture
async def service(database, tmp_path: Path, attach_data):
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    async with running_service(definition, settings, database=database) as running:
        # Every built-in dataset has data here (tests/test_dataset_data.py covers those without).
        await attach_data(running.ctx.db)
        for image_id in (PRESET_NLP, PRESET_CV, PRESET_AUDIO):
            await announce_image(running.bus, image_id, owner=None)
        await running.bus.join()
        yield running.ctx, running.client


async def announce_image(bus, image_id: str, *, owner: uuid.UUID | None) -> None:
    """What the image registry publishes for a preset or an approved custom image."""
    payload = {
        "image_id": image_id,
        "owner_id": str(owner) if owner else None,
        "name": "img",
        "tag": "1.0",
        "preset": owner is None,
    }
    await bus.publish(new_envelope("image.available", payload, producer="image-registry"))


def as_user(
    ctx: ServiceContext, user_id: uuid.UUID, status: UserStatus = UserStatus.APPROVED
) -> dict[str, str]:
    identity = Identity(user_id, "someone", Role.USER, status)
    return {IDENTITY_HEADER: sign_identity(identity, ctx.secret_key)}


async def outbox(ctx: ServiceContext) -> list[dict[str, Any]]:
    table = ctx.messaging.outbox
    async with ctx.db.transaction() as session:
        rows = (await session.execute(select(table.c.body).order_by(table.c.seq))).all()
    return [row.body for row in rows]


async def stored(ctx: ServiceContext, evaluation_id: str) -> Evaluation:
    async with ctx.db.transaction() as session:
        row = await session.get(Evaluation, uuid.UUID(evaluation_id))
    assert row is not None
    return row


@pytest.mark.parametrize("case", list(VALID))
async def test_create_read_and_list_in_every_domain(service, case: str) -> None:
    ctx, client = service
    owner = uuid.uuid4()
    created = await client.post("/api/evaluations", json=VALID[case], headers=as_user(ctx, owner))
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == OUT_KEYS
    assert body["owner_id"] == str(owner) and body["name"] == VALID[case]["name"]
    assert body["dimensions"]["accuracy"] is True
    if case in ("nlp", "nlp-api", "safety"):
        assert body["datasets"] == VALID[case]["datasets"] and body["tasks"] is None
    else:
        assert body["datasets"] is None and len(body["tasks"]) == len(VALID[case]["tasks"])
    if body["deploy_mode"] == "private":
        assert body["api"] is None and set(body["private"]) == {
            "image_id", "priority", "card_type", "gpus"
        }  # fmt: skip
    else:
        assert body["private"] is None and set(body["api"]) == {
            "endpoint", "model_name", "api_key_set"
        }  # fmt: skip

    read = await client.get(f"/api/evaluations/{body['id']}", headers=as_user(ctx, owner))
    assert read.status_code == 200 and read.json() == body
    listed = await client.get("/api/evaluations", headers=as_user(ctx, owner))
    assert listed.json() == [body]
    (event,) = await outbox(ctx)
    assert event["type"] == "evaluation.created" and event["producer"] == "eval-api"
    assert event["payload"] == {
        "evaluation_id": body["id"],
        "owner_id": str(owner),
        "domain": VALID[case]["domain"],
        "name": VALID[case]["name"],
    }


async def test_defaults_are_filled_in(service) -> None:
    ctx, client = service
    headers = as_user(ctx, uuid.uuid4())
    cv = (await client.post("/api/evaluations", json=VALID["cv"], headers=headers)).json()
    assert cv["deploy_mode"] == "private"
    assert cv["private"] == {
        "image_id": PRESET_CV,
        "priority": "medium",
        "card_type": "v100-32g",
        "gpus": 1,
    }
    assert cv["model_info"]["model_type"] == "backbone"
    assert cv["tasks"] == [
        {
            "task": "classification",
            "adaptation_method": "linear-probe",
            "datasets": ["imagenet-1k", "cifar-100"],
        },
        {"task": "segmentation", "adaptation_method": "upernet", "datasets": ["ade20k"]},
    ]
    mm = (await client.post("/api/evaluations", json=VALID["multimodal"], headers=headers)).json()
    assert mm["tasks"][0]["datasets"] == ["mmmu", "mathvista", "textvqa"]
    assert mm["api"] == {
        "endpoint": "http://10.0.0.7:8080/infer",
        "model_name": None,
        "api_key_set": False,
    }
    safety = (await client.post("/api/evaluations", json=VALID["safety"], headers=headers)).json()
    assert safety["deploy_mode"] == "api" and safety["api"]["api_key_set"] is True


async def test_bad_values_for_every_field_are_422_and_write_nothing(service) -> None:
    ctx, client = service
    owner = uuid.uuid4()
    headers = as_user(ctx, owner)
    for case, body, where in BAD:
        reply = await client.post("/api/evaluations", json=body, headers=headers)
        assert reply.status_code == 422, f"{case}: {reply.status_code} {reply.text}"
        detail = reply.json()["detail"]
        assert where in repr(detail), f"{case}: {detail}"
        assert API_KEY not in reply.text and "sk-1" not in reply.text, case
    assert (await client.get("/api/evaluations", headers=headers)).json() == []
    assert await outbox(ctx) == []


async def test_lone_surrogates_are_422_and_write_nothing(service) -> None:
    ctx, client = service
    headers = {**as_user(ctx, uuid.uuid4()), "content-type": "application/json"}
    text = json.dumps(variant("nlp", description="DESCRIPTION")).encode()
    for lone in (b"\\ud800", b"x\\udc00", b"\xed\xb0\x80"):
        body = text.replace(b"DESCRIPTION", lone)
        reply = await client.post("/api/evaluations", content=body, headers=headers)
        assert reply.status_code == 422, (lone, reply.text)
        assert reply.json()["code"] == "validation_error"
    assert (await client.get("/api/evaluations", headers=headers)).json() == []


async def test_a_rule_reply_names_every_problem_in_words(service) -> None:
    ctx, client = service
    body = variant("nlp", datasets=["nope"], private__gpus=12, model_info__model_type="robot")
    reply = await client.post("/api/evaluations", json=body, headers=as_user(ctx, uuid.uuid4()))
    assert reply.status_code == 422
    problems = {tuple(p["loc"]): p["msg"] for p in reply.json()["detail"]}
    assert "'nope' is not a NLP dataset" in problems[("body", "datasets", 0)]
    assert "at most 8 GPUs" in problems[("body", "private", "gpus")]
    assert "robot" in problems[("body", "model_info", "model_type")]


async def test_names_are_unique_across_the_platform(service) -> None:
    ctx, client = service
    first = await client.post(
        "/api/evaluations", json=VALID["nlp"], headers=as_user(ctx, uuid.uuid4())
    )
    assert first.status_code == 201
    # Another user, another domain: still the same name.
    taken = variant("cv", name=VALID["nlp"]["name"])
    again = await client.post("/api/evaluations", json=taken, headers=as_user(ctx, uuid.uuid4()))
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "name_taken"
    assert len(await outbox(ctx)) == 1


async def test_concurrent_creates_with_one_name_accept_exactly_one(service) -> None:
    ctx, client = service
    owners = [uuid.uuid4() for _ in range(10)]
    replies = await asyncio.gather(
        *(
            client.post("/api/evaluations", json=VALID["safety"], headers=as_user(ctx, o))
            for o in owners
        )
    )
    codes = sorted(r.status_code for r in replies)
    assert codes == [201] + [409] * 9, [r.text for r in replies]
    events = await outbox(ctx)
    assert [e["type"] for e in events] == ["evaluation.created"]


async def test_api_key_is_encrypted_at_rest_and_never_returned(service) -> None:
    ctx, client = service
    owner = uuid.uuid4()
    headers = as_user(ctx, owner)
    created = await client.post("/api/evaluations", json=VALID["nlp-api"], headers=headers)
    assert created.status_code == 201
    evaluation_id = created.json()["id"]
    assert created.json()["api"] == {
        "endpoint": "https://api.example.com/v1",
        "model_name": "m1",
        "api_key_set": True,
    }
    replies = [
        created,
        await client.get(f"/api/evaluations/{evaluation_id}", headers=headers),
        await client.get("/api/evaluations", headers=headers),
        await client.patch(
            f"/api/evaluations/{evaluation_id}", json={"description": "x"}, headers=headers
        ),
    ]
    for reply in replies:
        assert API_KEY not in reply.text and 'api_key"' not in reply.text
    row = await stored(ctx, evaluation_id)
    columns = {c.key: getattr(row, c.key) for c in Evaluation.__table__.columns}
    assert not any(API_KEY in str(value) for value in columns.values())
    cipher = ApiKeyCipher(ctx.secret_key)
    assert row.api_key_encrypted is not None
    assert cipher.decrypt(row.api_key_encrypted, evaluation_id=row.id) == API_KEY
    # Bound to its row, and to this platform's secret.
    with pytest.raises(UnreadableApiKey):
        cipher.decrypt(row.api_key_encrypted, evaluation_id=uuid.uuid4())
    with pytest.raises(UnreadableApiKey):
        ApiKeyCipher("x" * 48).decrypt(row.api_key_encrypted, evaluation_id=row.id)


async def test_patch_rules(service) -> None:
    ctx, client = service
    owner = uuid.uuid4()
    headers = as_user(ctx, owner)
    created = (await client.post("/api/evaluations", json=VALID["safety"], headers=headers)).json()
    url = f"/api/evaluations/{created['id']}"
    cipher = ApiKeyCipher(ctx.secret_key)
    original = (await stored(ctx, created["id"])).api_key_encrypted

    for immutable in ({"name": "other-name"}, {"domain": "nlp"}):
        reply = await client.patch(url, json=immutable, headers=headers)
        assert reply.status_code == 422 and "cannot be changed" in reply.text
    # Sending the current values back is not a change.
    same = await client.patch(url, json={"name": "guard-1", "domain": "safety"}, headers=headers)
    assert same.status_code == 200

    # The key is kept when left out, even when other api fields change.
    kept = await client.patch(
        url,
        json={"description": "new", "api": {"endpoint": "https://other.example.org/v2"}},
        headers=headers,
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["description"] == "new"
    assert kept.json()["api"] == {
        "endpoint": "https://other.example.org/v2",
        "model_name": "g1",
        "api_key_set": True,
    }
    assert (await stored(ctx, created["id"])).api_key_encrypted == original

    replaced = await client.patch(url, json={"api": {"api_key": "sk-new-key"}}, headers=headers)
    assert replaced.status_code == 200 and "sk-new-key" not in replaced.text
    row = await stored(ctx, created["id"])
    assert cipher.decrypt(row.api_key_encrypted or "", evaluation_id=row.id) == "sk-new-key"

    # Safety needs its key and model name; it stays an API deployment.
    for bad in (
        {"api": {"api_key": None}},
        {"api": {"model_name": None}},
        {"api": None},
        {"deploy_mode": "private", "private": PRIVATE},
        {"datasets": ["mmlu"]},
        {"description": "y" * 257},
        {"api": {"endpoint": "nope"}},
        {"owner_id": str(uuid.uuid4())},
    ):
        reply = await client.patch(url, json=bad, headers=headers)
        assert reply.status_code == 422, (bad, reply.text)
    after = (await client.get(url, headers=headers)).json()
    assert after == replaced.json()
    events = await outbox(ctx)
    assert [e["type"] for e in events] == ["evaluation.created"] + ["evaluation.updated"] * 3
    assert events[-1]["payload"]["evaluation_id"] == created["id"]


async def test_patch_switches_deploy_mode_and_checks_the_result(service) -> None:
    ctx, client = service
    headers = as_user(ctx, uuid.uuid4())
    created = (await client.post("/api/evaluations", json=VALID["nlp-api"], headers=headers)).json()
    url = f"/api/evaluations/{created['id']}"
    incomplete = await client.patch(url, json={"deploy_mode": "private"}, headers=headers)
    assert incomplete.status_code == 422 and "private" in incomplete.text
    switched = await client.patch(
        url, json={"deploy_mode": "private", "private": PRIVATE}, headers=headers
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["api"] is None and switched.json()["private"] == PRIVATE
    assert (await stored(ctx, created["id"])).api_key_encrypted is None
    gpus = await client.patch(url, json={"private": {"gpus": 4}}, headers=headers)
    assert gpus.json()["private"] == {**PRIVATE, "gpus": 4}
    too_many = await client.patch(url, json={"private": {"gpus": 16}}, headers=headers)
    assert too_many.status_code == 422
    robust = await client.patch(url, json={"dimensions": {"robustness": False}}, headers=headers)
    assert robust.json()["dimensions"] == {"accuracy": True, "robustness": False}
    datasets = await client.patch(url, json={"datasets": ["boolq", "c-eval"]}, headers=headers)
    assert datasets.json()["datasets"] == ["boolq", "c-eval"]


async def test_only_the_owner_sees_or_edits_an_evaluation(service) -> None:
    ctx, client = service
    alice, mallory = uuid.uuid4(), uuid.uuid4()
    created = (
        await client.post("/api/evaluations", json=VALID["nlp"], headers=as_user(ctx, alice))
    ).json()
    url = f"/api/evaluations/{created['id']}"
    assert (await client.get(url, headers=as_user(ctx, mallory))).status_code == 404
    stolen = await client.patch(url, json={"description": "mine"}, headers=as_user(ctx, mallory))
    assert stolen.status_code == 404
    assert (await client.get("/api/evaluations", headers=as_user(ctx, mallory))).json() == []
    assert (await client.get(url, headers=as_user(ctx, alice))).json()["description"] == (
        "A 7B chat model"
    )
    for path in ("/api/evaluations/not-a-uuid", f"/api/evaluations/{uuid.uuid4()}"):
        assert (await client.get(path, headers=as_user(ctx, alice))).status_code == 404
        patched = await client.patch(path, json={"description": "x"}, headers=as_user(ctx, alice))
        assert patched.status_code == 404


async def test_pending_users_are_403_and_anonymous_callers_401(service) -> None:
    ctx, client = service
    pending = as_user(ctx, uuid.uuid4(), UserStatus.PENDING_REVIEW)
    some_id = f"/api/evaluations/{uuid.uuid4()}"
    calls = [
        ("post", "/api/evaluations", VALID["nlp"]),
        ("get", "/api/evaluations", None),
        ("get", some_id, None),
        ("patch", some_id, {"description": "x"}),
    ]
    for method, path, body in calls:
        assert (await client.request(method, path, json=body, headers=pending)).status_code == 403
        assert (await client.request(method, path, json=body)).status_code == 401
        forged = {IDENTITY_HEADER: "e30.forged"}
        assert (await client.request(method, path, json=body, headers=forged)).status_code == 401
    assert await outbox(ctx) == []


async def test_list_is_newest_first_and_paginated(service) -> None:
    ctx, client = service
    headers = as_user(ctx, uuid.uuid4())
    names = ["first-one", "second-one", "third-one"]
    for name in names:
        reply = await client.post(
            "/api/evaluations", json=variant("audio", name=name), headers=headers
        )
        assert reply.status_code == 201
    listed = (await client.get("/api/evaluations", headers=headers)).json()
    assert [e["name"] for e in listed] == names[::-1]
    page = await client.get("/api/evaluations", params={"limit": 1, "offset": 1}, headers=headers)
    assert [e["name"] for e in page.json()] == ["second-one"]
    nlp_only = await client.get("/api/evaluations", params={"domain": "nlp"}, headers=headers)
    assert nlp_only.json() == []
    for params in (
        {"limit": 0},
        {"limit": 501},
        {"limit": "x"},
        {"offset": -1},
        {"offset": 2**63},
        {"domain": "x"},
    ):
        reply = await client.get("/api/evaluations", params=params, headers=headers)
        assert reply.status_code == 422, params
        assert reply.json()["code"] == "validation_error"
    # Timestamps carry their offset on SQLite too.
    (newest, *_) = (await client.get("/api/evaluations", headers=headers)).json()
    assert datetime.fromisoformat(newest["created_at"]).utcoffset() == timedelta(0)


async def test_migration_matches_the_evaluations_model_and_downgrades(database) -> None:
    scripts = definition.migrations
    await migrations.upgrade(database, scripts)
    diff = await migrations.schema_drift(database, metadata)
    assert [d for d in diff if "evaluations" in repr(d)] == []
    await migrations.downgrade(database, scripts, "20261127_0002")
    await migrations.upgrade(database, scripts)


async def test_only_presets_and_the_owners_approved_images_can_be_chosen(service) -> None:
    ctx, client = service
    alice, bob = uuid.uuid4(), uuid.uuid4()
    alices_image = str(uuid.uuid4())
    await announce_image(ctx.bus, alices_image, owner=alice)
    await ctx.bus.join()

    def body(name: str, image_id: str) -> dict[str, Any]:
        return variant("nlp", name=name, private__image_id=image_id)

    own = await client.post(
        "/api/evaluations", json=body("alice-own", alices_image), headers=as_user(ctx, alice)
    )
    assert own.status_code == 201, own.text
    theirs = await client.post(
        "/api/evaluations", json=body("bob-takes", alices_image), headers=as_user(ctx, bob)
    )
    assert theirs.status_code == 422 and "image" in theirs.text
    unknown = await client.post(
        "/api/evaluations", json=body("nobody", str(uuid.uuid4())), headers=as_user(ctx, bob)
    )
    assert unknown.status_code == 422
    preset = await client.post(
        "/api/evaluations", json=body("bob-preset", PRESET_NLP), headers=as_user(ctx, bob)
    )
    assert preset.status_code == 201, preset.text
    # Editing to someone else's image is refused too.
    patched = await client.patch(
        f"/api/evaluations/{preset.json()['id']}",
        json={"private": {"image_id": alices_image}},
        headers=as_user(ctx, bob),
    )
    assert patched.status_code == 422
