"""Bounded API fuzzing of the live standalone platform with schemathesis.

The platform runs as in production (``python -m flageval_launcher up`` in a subprocess); the
gateway's merged OpenAPI (``/api/openapi.json``) drives schemathesis (examples, coverage and
fuzzing phases), once as an approved user and once as the admin. Every reply must be no 5xx,
match its documented response schema, and carry a status code the document lists (every
operation documents its error statuses, so an undocumented one is a bug of the document or of
the endpoint). The number of examples and the seed are fixed (``deterministic``), so a CI
failure replays locally with the same requests.

Path parameters, and the upload protocol's token, are half of the time replaced by values that
exist (the user's private evaluation, a finished run, a notification, a preset image, the user
and one waiting for review, a valid upload token), so the fuzzing reaches past "401"/"404".

No operation is left out: none can break the test itself. An admin's review acts only on users
waiting for review (the bystander, never the approved fuzzing user: 409); an approved user's
profile edit keeps the status; the evaluation the ids point at has no valid bundle, so run
requests on it answer 409 instead of starting runners; the chunks the fuzzer streams name no
planned file (404) or are malformed (400/422), and nothing is stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import BaseSchema, HookContext
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from flageval_platform.testing import free_port, request_upload_token
from flageval_platform.testing import launched_platform as platform

pytestmark = pytest.mark.e2e

USER = {"email": "fuzz@example.org", "username": "fuzzer", "password": "correct-horse-42"}
BYSTANDER = {"email": "wait@example.org", "username": "waiting", "password": "correct-horse-43"}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
#: Examples of the fuzzing phase per operation (the examples and coverage phases add their
#: own, a fixed set each): both passes take about 2.5 minutes on two cores (~10,000 requests).
MAX_EXAMPLES = 80
SEED = 20260101


@dataclass
class Fuzzed:
    base: str
    tokens: dict[str, str] = field(repr=False)  # kept out of failure reports
    ids: dict[str, list[str]]
    upload_token: str = field(repr=False)


def _login(client: httpx.Client, email: str, password: str) -> str:
    reply = client.post("/api/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _register(client: httpx.Client, who: dict[str, str]) -> tuple[str, str]:
    reply = client.post("/api/auth/register", json=who)
    assert reply.status_code == 201, reply.text
    token = _login(client, who["email"], who["password"])
    profile = {"real_name": who["username"].title(), "organization": "Fuzz Lab"}
    reply = client.put("/api/me/profile", json=profile, headers=_bearer(token))
    assert reply.json()["status"] == "pending_review", reply.text
    return str(reply.json()["id"]), token


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """The platform with an approved user owning a private evaluation (no valid bundle, so a
    run request answers 409 without starting anything; an upload token for it) and an API
    evaluation with one finished run, a user still waiting for review, and the admin logged
    in."""
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = {
        "FLAGEVAL_PORT": str(port),
        "FLAGEVAL_DATA_DIR": str(tmp / "data"),
        "FLAGEVAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    with (
        platform("up", env, tmp / "platform.log", port) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        user_id, _ = _register(client, USER)
        waiting_id, _ = _register(client, BYSTANDER)
        creds = json.loads((tmp / "data" / "admin-credentials.json").read_text())
        admin = _login(client, creds["email"], creds["password"])
        reply = client.post(
            f"/api/admin/users/{user_id}/review",
            json={"decision": "approve"},
            headers=_bearer(admin),
        )
        assert reply.status_code == 200, reply.text
        user = _login(client, USER["email"], USER["password"])
        images = client.get("/api/images", headers=_bearer(user)).json()
        image = next(i for i in images["preset"] if i["domain"] == "nlp")["id"]
        private = client.post(
            "/api/evaluations",
            headers=_bearer(user),
            json={
                "domain": "nlp",
                "name": "fuzz-private",
                "datasets": ["demo-en-choice"],
                "deploy_mode": "private",
                "private": {"image_id": image, "card_type": "a100-80g", "gpus": 1},
            },
        )
        assert private.status_code == 201, private.text
        # Nothing listens on port 9: the run fails at once, and it exists.
        api = client.post(
            "/api/evaluations",
            headers=_bearer(user),
            json={
                "domain": "nlp",
                "name": "fuzz-api",
                "datasets": ["demo-en-choice"],
                "deploy_mode": "api",
                "api": {"endpoint": "http://127.0.0.1:9/v1", "model_name": "m"},
            },
        )
        assert api.status_code == 201, api.text
        run = client.post(
            f"/api/evaluations/{api.json()['id']}/runs",
            json={"kind": "validation"},
            headers=_bearer(user),
        )
        assert run.status_code == 201, run.text
        run_id = run.json()["id"]
        deadline = time.monotonic() + 60
        while client.get(f"/api/runs/{run_id}", headers=_bearer(user)).json()["status"] not in (
            "succeeded",
            "failed",
            "stopped",
        ):
            assert time.monotonic() < deadline, "the run never finished"
            time.sleep(0.3)
        notes = client.get("/api/me/notifications", headers=_bearer(user)).json()
        upload = request_upload_token(client, private.json()["id"], _bearer(user))
        assert upload.status_code == 201, upload.text
        ids = {
            "evaluation_id": [private.json()["id"]],
            "run_id": [run_id],
            "user_id": [user_id, waiting_id],
            "image_id": [image],
            "notification_id": [n["id"] for n in notes][:2],
        }
        yield Fuzzed(base, {"user": user, "admin": admin}, ids, upload.json()["token"])


def _schema(fuzzed: Fuzzed) -> BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            # Only the health check that depends on the machine's speed.
            "suppress-health-check": ["too_slow"],
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    )
    schema = schemathesis.openapi.from_url(f"{fuzzed.base}/api/openapi.json", config=config)

    def sometimes_known(values: dict[str, Any], known: dict[str, list[str]]) -> Any:
        """``values`` as generated, or with the keys that have known values replaced."""
        keys = {k: v for k, v in known.items() if k in values and v}
        if not keys:
            return st.just(values)
        return st.one_of(
            st.just(values),
            st.fixed_dictionaries({k: st.sampled_from(v) for k, v in keys.items()}).map(
                lambda chosen: {**values, **chosen}
            ),
        )

    @schema.hook
    def flatmap_path_parameters(context: HookContext, path_parameters: dict[str, Any]) -> Any:
        return sometimes_known(path_parameters or {}, fuzzed.ids)

    @schema.hook
    def flatmap_query(context: HookContext, query: dict[str, Any]) -> Any:
        # The upload protocol's token (GET files, chunks): a valid one reaches its checks.
        return sometimes_known(query or {}, {"token": [fuzzed.upload_token]})

    @schema.hook
    def flatmap_body(context: HookContext, body: Any) -> Any:
        if not isinstance(body, dict):
            return st.just(body)
        return sometimes_known(body, {"token": [fuzzed.upload_token]})

    return schema


@pytest.mark.parametrize("role", ["user", "admin"])
def test_api_answers_bad_input_with_documented_4xx(fuzzed: Fuzzed, role: str) -> None:
    headers = _bearer(fuzzed.tokens[role])

    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    # schemathesis.pytest.from_fixture() would run these as subtests, but it sets
    # ``request.node._nodeid``, which pytest 9 no longer has; get_all_tests is what it runs.
    schema = _schema(fuzzed).clone(test_function=call)
    failures: list[str] = []
    operations = 0
    started = time.monotonic()
    for result in get_all_tests(schema=schema, test_func=call, settings=None, given_kwargs={}):
        if isinstance(result, Err):
            failures.append(f"the document: {result.err()}")
            continue
        operation, test = result.ok()
        operations += 1
        try:
            test()
        except (Exception, FailureGroup) as exc:  # every operation's failures, not the first's
            failures.append(f"{operation.label}: {exc}")
    elapsed = time.monotonic() - started
    print(f"fuzzed {operations} operations as the {role} in {elapsed:.0f}s")
    assert operations >= 40, operations  # the merged document of every service
    assert not failures, "\n\n".join(failures)
