"""End to end, over HTTP, against the platform started the way a person starts it.

Standalone: ``python -m flageval_launcher up`` (one process, SQLite, in-memory bus, local store),
stopped and started again to show nothing is lost. Mesh: ``python -m flageval_launcher mesh``
(one process per service, this machine's PostgreSQL and RabbitMQ, an S3 server), where the
approval event reaches the notifier through RabbitMQ.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request

from flageval_platform.testing import (
    PG_URL,
    free_port,
    free_port_range,
    request_upload_token,
    served_in_thread,
)
from flageval_platform.testing import launched_platform as platform

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "root@example.org"
ADMIN_PASSWORD = "admin-Passw0rd-e2e"


def platform_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    """The platform's environment: its own port and data dir, the test admin, and ``extra``."""
    return {
        "FLAGEVAL_PORT": str(port),
        "FLAGEVAL_DATA_DIR": str(tmp_path / "data"),
        "FLAGEVAL_ADMIN_EMAIL": ADMIN_EMAIL,
        "FLAGEVAL_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **extra,
    }


def login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    assert reply.json()["token_type"] == "bearer"
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def account_flow(base: str) -> tuple[str, str, str]:
    """register → profile → admin approves → login; returns (user id, email, password)."""
    suffix = uuid.uuid4().hex[:8]
    email, password = f"alice-{suffix}@example.org", "correct-horse-42"
    with httpx.Client(base_url=base, timeout=10) as client:
        reply = client.post(
            "/api/auth/register",
            json={"email": email, "username": f"alice_{suffix}", "password": password},
        )
        assert reply.status_code == 201, reply.text
        user_id = reply.json()["id"]
        assert reply.json()["status"] == "registered"

        alice = login(client, email, password)
        assert client.get("/api/me", headers=alice).json()["status"] == "registered"
        # Not approved yet: evaluation and image routes answer 403 with a reason.
        denied = client.get("/api/evaluations", headers=alice)
        assert denied.status_code == 403 and "profile" in str(denied.json()["detail"]).lower()
        assert client.get("/api/images", headers=alice).status_code == 403

        profile = {
            "real_name": "Alice Liddell",
            "organization": "Wonderland Lab",
            "purpose": "LLM eval",
        }
        reply = client.put("/api/me/profile", json=profile, headers=alice)
        assert reply.status_code == 200, reply.text
        assert reply.json()["status"] == "pending_review"

        # A normal user cannot review; the admin can.
        assert client.get("/api/admin/users", headers=alice).status_code == 403
        admin = login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        pending = client.get("/api/admin/users", params={"status": "pending_review"}, headers=admin)
        assert pending.status_code == 200
        assert user_id in [u["id"] for u in pending.json()]
        reply = client.post(
            f"/api/admin/users/{user_id}/review", json={"decision": "approve"}, headers=admin
        )
        assert reply.status_code == 200, reply.text

        alice = login(client, email, password)
        me = client.get("/api/me", headers=alice).json()
        assert me["status"] == "approved" and me["profile"]["organization"] == "Wonderland Lab"
        # Approved: the guard lets the request through to the evaluation service.
        assert client.get("/api/evaluations", headers=alice).status_code != 403
    return user_id, email, password


def assert_public_openapi(base: str) -> None:
    """/api/openapi.json documents the routed services' public paths beside the gateway's own,
    and nothing the route table does not expose."""
    doc = httpx.get(f"{base}/api/openapi.json", timeout=10).json()
    paths = set(doc["paths"])
    assert {"/api/auth/login", "/api/me/profile", "/api/admin/users"} <= paths  # gateway
    assert {"/api/catalog", "/api/evaluations", "/api/evaluations/{evaluation_id}"} <= paths
    assert {
        "/api/evaluations/models/files",
        "/api/evaluations/{evaluation_id}/upload-tokens",
    } <= paths
    assert "/api/me/notifications" in paths
    assert not any(p.startswith(("/healthz", "/readyz", "/metrics")) for p in paths)


def wait_for_notification(base: str, headers: dict[str, str], title_part: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        reply = httpx.get(f"{base}/api/me/notifications", headers=headers, timeout=5)
        assert reply.status_code == 200, reply.text
        found = [n for n in reply.json() if title_part in n["title"]]
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no notification containing {title_part!r}")


TERMINAL = ("succeeded", "failed", "stopped")


def wait_for_run(
    client: httpx.Client,
    headers: dict[str, str],
    run_id: str,
    *,
    status: tuple[str, ...] = TERMINAL,
    within: float = 60,
) -> dict:
    """Poll ``GET /api/runs/{id}`` until the run reaches one of ``status``."""
    deadline = time.monotonic() + within
    run: dict = {}
    while time.monotonic() < deadline:
        reply = client.get(f"/api/runs/{run_id}", headers=headers)
        assert reply.status_code == 200, reply.text
        run = reply.json()
        if run["status"] in status:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run never reached {status}: {run}")


def test_standalone_account_flow_and_restart_keeps_data(tmp_path: Path) -> None:
    port = free_port()
    env = platform_env(tmp_path, port)
    with platform("up", env, tmp_path / "standalone.log", port) as base:
        health = httpx.get(f"{base}/api/health").json()
        assert health["status"] == "ok"
        assert httpx.get(f"{base}/api/openapi.json").status_code == 200
        _, email, password = account_flow(base)
        with httpx.Client(base_url=base) as client:
            alice = login(client, email, password)
        wait_for_notification(base, alice, "approved")
    # Same data directory, new process: the account and its approval are still there.
    with platform("up", env, tmp_path / "standalone.log", port) as base:
        with httpx.Client(base_url=base) as client:
            alice = login(client, email, password)
            assert client.get("/api/me", headers=alice).json()["status"] == "approved"
            admins = client.get(
                "/api/admin/users", headers=login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
            )
            assert [u["email"] for u in admins.json()].count(ADMIN_EMAIL) == 1
    assert (tmp_path / "data" / "gateway.db").exists()
    assert ADMIN_PASSWORD not in (tmp_path / "standalone.log").read_text()


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_mesh_account_flow_over_postgres_rabbitmq_and_s3(tmp_path: Path) -> None:
    database = f"flageval_e2e_{uuid.uuid4().hex[:8]}"
    pg = PG_URL.rsplit("/", 1)[0]
    port = free_port()
    env = platform_env(
        tmp_path,
        port,
        FLAGEVAL_DATABASE_URL=f"{pg}/{database}",
        FLAGEVAL_BROKER_URL="amqp://guest:guest@127.0.0.1:5672/",
        FLAGEVAL_MESH_BASE_PORT=str(free_port_range(16)),
        FLAGEVAL_MESH_S3_PORT=str(free_port()),
    )
    try:
        with platform("mesh", env, tmp_path / "mesh.log", port) as base:
            health = httpx.get(f"{base}/api/health").json()
            assert set(health["services"]) >= {"eval-api", "scheduler", "upload", "notifier"}
            assert_public_openapi(base)  # fetched from the remote services
            _, email, password = account_flow(base)
            with httpx.Client(base_url=base, timeout=30) as client:
                alice = login(client, email, password)
                # gateway outbox → RabbitMQ → notifier's inbox → in-app notification
                wait_for_notification(base, alice, "approved")
                # A formal run across processes: eval-api charges through the scheduler over
                # HTTP, run.requested and the reports travel through RabbitMQ, the runner
                # reports through the gateway.
                with fake_chat_model() as endpoint:
                    created = client.post(
                        "/api/evaluations",
                        headers=alice,
                        json={
                            "domain": "nlp",
                            "name": f"mesh-{uuid.uuid4().hex[:6]}",
                            "datasets": ["demo-en-choice"],
                            "deploy_mode": "api",
                            "api": {"endpoint": endpoint, "model_name": "gold"},
                        },
                    )
                    assert created.status_code == 201, created.text
                    reply = client.post(
                        f"/api/evaluations/{created.json()['id']}/runs",
                        json={"kind": "formal"},
                        headers=alice,
                    )
                    assert reply.status_code == 201, reply.text
                    run = wait_for_run(client, alice, reply.json()["id"], within=120)
                assert run["status"] == "succeeded", run
                assert run["datasets"][0]["metrics"]["accuracy"] == 1.0
                assert client.get("/api/me/quota", headers=alice).json()["formal_runs"]["used"] == 1
    finally:
        _drop_database(pg, database)
    assert ADMIN_PASSWORD not in (tmp_path / "mesh.log").read_text()


def _drop_database(pg: str, name: str) -> None:
    import asyncio

    async def drop() -> None:
        conn = await asyncpg.connect(pg.replace("postgresql+asyncpg", "postgresql") + "/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


SERVICE_PY = """from flageval.serving.service import NLPCompletion, NLPEvalResponse, NLPModelService


class Service(NLPModelService):
    def global_init(self, model_path):
        self.prefix = "echo: "

    def infer(self, req):
        text = self.prefix + req.prompt
        return NLPEvalResponse(completions=[NLPCompletion(text=text, tokens=text)])
"""


def _make_bundle(root: Path) -> dict[str, str]:
    """A small NLP bundle; returns {path: sha256}."""
    import hashlib
    import json

    files = {
        "service.py": SERVICE_PY.encode(),
        "meta.json": json.dumps({"parameter_scale_billion": 0.1}).encode(),
        "model/config.json": b'{"layers": 2}',
        "model/weights.bin": os.urandom(300_000),
        "model/empty.txt": b"",
    }
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}


def test_person_creates_an_evaluation_and_uploads_with_the_public_cli(tmp_path: Path) -> None:
    """The whole upload story as a person lives it, in standalone: create the evaluation, copy
    the command from the token reply, interrupt nothing, see a valid version with the sha256s."""
    import shlex
    import shutil

    cli = shutil.which("flageval-serving") or str(Path(sys.executable).parent / "flageval-serving")
    port = free_port()
    # A small chunk size: several chunks per file without a big bundle.
    env = platform_env(tmp_path, port, FLAGEVAL_UPLOAD_CHUNK_KB="64")
    bundle = tmp_path / "my_model"
    expected = _make_bundle(bundle)
    with platform("up", env, tmp_path / "upload.log", port) as base:
        _, email, password = account_flow(base)
        with httpx.Client(base_url=base, timeout=30) as client:
            alice = login(client, email, password)
            catalog = client.get("/api/catalog").json()
            card = next(iter(catalog["card_types"]))["id"]
            images = client.get("/api/images", headers=alice).json()
            image = next(i for i in images["preset"] if i["domain"] == "nlp")["id"]
            assert "demo-en-choice" in [d["id"] for d in catalog["domains"]["nlp"]["datasets"]]
            created = client.post(
                "/api/evaluations",
                headers=alice,
                json={
                    "domain": "nlp",
                    "name": f"echo-{uuid.uuid4().hex[:6]}",
                    "description": "an echo model",
                    "datasets": ["demo-en-choice"],
                    "deploy_mode": "private",
                    "private": {
                        "image_id": image,
                        "card_type": card,
                        "gpus": 1,
                    },
                },
            )
            assert created.status_code == 201, created.text
            evaluation = created.json()["id"]
            reply = request_upload_token(client, evaluation, alice)
            assert reply.status_code == 201, reply.text
            command = shlex.split(reply.json()["command"])
            assert command[:2] == ["flageval-serving", "upload"] and command[-1] == "./my_model"
            run = subprocess.run(
                [cli, *command[1:-1], str(bundle)], capture_output=True, text=True, timeout=120
            )
            assert run.returncode == 0, run.stdout + run.stderr
            # The layout check may still be running when the CLI's last chunk is answered.
            deadline = time.monotonic() + 30
            while True:
                (version,) = client.get(
                    f"/api/evaluations/{evaluation}/bundles", headers=alice
                ).json()
                if version["status"] in ("valid", "invalid") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert version["status"] == "valid", version
            assert {f["path"]: f["sha256"] for f in version["files"]} == expected
            wait_for_notification(base, alice, "is complete and valid")

            # Validate on the uploaded bundle: the local executor runs the real runner, which
            # downloads the bundle through presigned URLs and serves it with flageval-serving.
            reply = client.post(
                f"/api/evaluations/{evaluation}/runs", json={"kind": "validation"}, headers=alice
            )
            assert reply.status_code == 201, reply.text
            run = wait_for_run(client, alice, reply.json()["id"], within=180)
            assert run["status"] == "succeeded", run
            assert run["bundle"]["version"] == 1
            assert 1 <= len(run["samples"]) <= 3
            assert all(s["predict"].startswith("echo: ") for s in run["samples"])
            logs = client.get(f"/api/runs/{run['id']}/logs", headers=alice)
            assert logs.status_code == 200 and logs.text


DOCKERFILE = """FROM nvcr.io/nvidia/pytorch:23.03-py3
RUN apt-get update && apt-get install -y openssh-server && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL https://example.org/tool.sh -o /tmp/tool.sh
# the evaluation service code
COPY service.py /app/service.py
"""


def test_custom_image_is_reviewed_emailed_and_usable_in_an_evaluation(tmp_path: Path) -> None:
    """Import request with findings → admin approves → imported, each step emailed once →
    the owner (and only the owner) can choose the image for a private deployment."""
    from aiosmtpd.controller import Controller

    mails: list[tuple[list[str], str]] = []

    class Inbox:
        async def handle_DATA(self, _server, _session, envelope):  # type: ignore[no-untyped-def]
            mails.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
            return "250 OK"

    smtp = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    env = platform_env(tmp_path, port, FLAGEVAL_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}")
    try:
        with platform("up", env, tmp_path / "images.log", port) as base:
            _, email, password = account_flow(base)
            _, bob_email, bob_password = account_flow(base)
            with httpx.Client(base_url=base, timeout=30) as client:
                alice = login(client, email, password)
                admin = login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
                request = client.post(
                    "/api/images",
                    headers=alice,
                    json={
                        "name": "alice-llm",
                        "tag": "v1",
                        "source_url": "docker.io/alice/llm:v1",
                        "dockerfile": DOCKERFILE,
                        "description": "我的推理镜像",
                    },
                )
                assert request.status_code == 201, request.text
                image = request.json()
                assert image["status"] == "pending_review"
                assert ("run-downloads", 3) in {(f["rule"], f["line"]) for f in image["findings"]}
                assert (
                    client.post("/api/images", headers=alice, json={**DOCKER_LATEST}).status_code
                    == 422
                )

                pending = client.get(
                    "/api/admin/images", params={"status": "pending_review"}, headers=admin
                )
                assert image["id"] in [i["id"] for i in pending.json()]
                review = client.post(
                    f"/api/admin/images/{image['id']}/review",
                    json={"decision": "approve"},
                    headers=admin,
                )
                assert review.status_code == 200, review.text

                def imported() -> bool:
                    custom = client.get("/api/images", headers=alice).json()["custom"]
                    return any(i["id"] == image["id"] and i["status"] == "imported" for i in custom)

                _wait(imported)
                card = client.get("/api/catalog").json()["card_types"][0]["id"]

                def evaluation(headers: dict[str, str], name: str) -> httpx.Response:
                    return client.post(
                        "/api/evaluations",
                        headers=headers,
                        json={
                            "domain": "nlp",
                            "name": name,
                            "datasets": ["demo-en-choice"],
                            "deploy_mode": "private",
                            "private": {"image_id": image["id"], "card_type": card, "gpus": 1},
                        },
                    )

                _wait(lambda: evaluation(alice, f"alice-{uuid.uuid4().hex[:6]}").status_code == 201)
                bob = login(client, bob_email, bob_password)
                assert evaluation(bob, f"bob-{uuid.uuid4().hex[:6]}").status_code == 422
                assert image["id"] not in [
                    i["id"] for i in client.get("/api/images", headers=bob).json()["custom"]
                ]

            def image_mails() -> list[str]:
                return [body for to, body in mails if email in to and "alice-llm" in body]

            _wait(lambda: len(image_mails()) >= 2)  # approved, imported
            time.sleep(1.0)  # nothing more arrives: one email per event
            assert len(image_mails()) == 2
            assert any(email in to and "approved" in body.lower() for to, body in mails)
    finally:
        smtp.stop()
    assert ADMIN_PASSWORD not in (tmp_path / "images.log").read_text()


DOCKER_LATEST = {
    "name": "alice-llm",
    "tag": "latest",
    "source_url": "docker.io/alice/llm:latest",
    "dockerfile": DOCKERFILE,
}


def _wait(check, within: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.3)


@contextmanager
def fake_chat_model(delay: float = 0.0) -> Iterator[str]:
    """An OpenAI-style chat endpoint in a thread that answers each demo choice question with
    its gold option (after ``delay`` seconds); yields its URL."""
    import asyncio

    from flageval_datasets.loader import load_demo_dataset

    gold = {item.input: item.label for item in load_demo_dataset("demo-en-choice").items}
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict:
        prompt = (await request.json())["messages"][-1]["content"]
        await asyncio.sleep(delay)
        answer = next((label for question, label in gold.items() if question in prompt), "?")
        return {"choices": [{"message": {"role": "assistant", "content": answer}}]}

    with served_in_thread(app) as url:
        yield f"{url}/v1/chat/completions"


def test_standalone_runs_with_the_local_executor(tmp_path: Path) -> None:
    """Formal runs of an API-deployed model, executed by the real runner as a local process:
    metrics per dataset, predictions, logs, the quota ledger; a stop; and a platform restart in
    the middle of a run, which the runner survives and the platform re-adopts."""
    port = free_port()
    env = platform_env(tmp_path, port)
    with fake_chat_model(delay=1.0) as endpoint:
        third, email, password = _runs_before_a_restart(tmp_path, env, port, endpoint)
        # The runner of ``third`` keeps going while the platform is down, and is re-adopted.
        with platform("up", env, tmp_path / "runs.log", port) as base:
            client = httpx.Client(base_url=base, timeout=30)
            alice = login(client, email, password)
            run = wait_for_run(client, alice, third, within=120)
            assert run["status"] == "succeeded", run
            assert run["attempt"] == 1  # re-adopted, not restarted
            assert run["datasets"][0]["metrics"]["accuracy"] == 1.0
            quota = client.get("/api/me/quota", headers=alice).json()
            assert quota["formal_runs"]["used"] == 3
            client.close()


def _runs_before_a_restart(
    tmp_path: Path, env: dict[str, str], port: int, endpoint: str
) -> tuple[str, str, str]:
    with platform("up", env, tmp_path / "runs.log", port) as base:
        _, email, password = account_flow(base)
        client = httpx.Client(base_url=base, timeout=30)
        alice = login(client, email, password)

        def evaluation() -> str:
            reply = client.post(
                "/api/evaluations",
                headers=alice,
                json={
                    "domain": "nlp",
                    "name": f"chat-{uuid.uuid4().hex[:6]}",
                    "datasets": ["demo-en-choice"],
                    "deploy_mode": "api",
                    "api": {"endpoint": endpoint, "model_name": "gold", "api_key": "sk-e2e-123"},
                },
            )
            assert reply.status_code == 201, reply.text
            return str(reply.json()["id"])

        def start(evaluation_id: str) -> str:
            reply = client.post(
                f"/api/evaluations/{evaluation_id}/runs", json={"kind": "formal"}, headers=alice
            )
            assert reply.status_code == 201, reply.text
            return str(reply.json()["id"])

        first = start(evaluation())
        run = wait_for_run(client, alice, first, within=120)
        assert run["status"] == "succeeded", run
        (dataset,) = run["datasets"]
        assert dataset["status"] == "succeeded" and dataset["metrics"]["accuracy"] == 1.0
        assert run["task_averages"] == {"knowledge": {"accuracy": 1.0}}
        predictions = client.get(f"/api/runs/{first}/predictions/demo-en-choice", headers=alice)
        assert predictions.status_code == 200 and len(predictions.text.splitlines()) == 20
        logs = client.get(f"/api/runs/{first}/logs", headers=alice)
        assert logs.status_code == 200 and "sk-e2e-123" not in logs.text
        quota = client.get("/api/me/quota", headers=alice).json()
        assert quota["formal_runs"]["used"] == 1

        # Stop a running run: its process is killed and the charge stays (it had started).
        second = start(evaluation())
        wait_for_run(client, alice, second, status=("running",))
        assert client.post(f"/api/runs/{second}/stop", headers=alice).status_code == 202
        assert wait_for_run(client, alice, second)["status"] == "stopped"

        # A run in progress while the platform goes down and comes back.
        third = start(evaluation())
        wait_for_run(client, alice, third, status=("running",))
        client.close()

        return third, email, password
