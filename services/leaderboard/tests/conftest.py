"""The leaderboard service alone (SQLite and PostgreSQL), fed events on its bus as eval-api and
the gateway would publish them, with a small stand-in for eval-api's catalog."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from flageval_contracts import Envelope, new_envelope
from flageval_contracts.enums import Role, UserStatus
from flageval_contracts.events import DatasetResult, RunFinished, RunRequested, UserReviewed
from flageval_leaderboard.main import definition
from flageval_platform.identity import Identity
from flageval_platform.settings import Settings
from flageval_platform.testing import RunningService, running_service

SECRET = "l" * 48

ALICE = Identity(uuid.uuid4(), "alice", Role.USER, UserStatus.APPROVED)
BOB = Identity(uuid.uuid4(), "bob", Role.USER, UserStatus.APPROVED)
CAROL = Identity(uuid.uuid4(), "carol", Role.USER, UserStatus.PENDING_REVIEW)
ADMIN = Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED)

#: What eval-api's catalog says of the datasets these tests use (id → metric).
CATALOG: dict[str, dict[str, str]] = {
    "nlp": {
        "mmlu": "accuracy",
        "cmmlu": "accuracy",
        "gsm8k": "exact-match",
        "boolq": "accuracy",
        "demo-en-genqa": "f1",
        "chinese-open-qa": "human-rating",
    },
    "audio": {"librispeech": "wer", "aishell-1": "cer", "speech-commands": "accuracy"},
    "multimodal": {"coco-t2i": "fid", "t2i-compbench": "clip-score", "mmmu": "accuracy"},
    "cv": {"imagenet-1k": "top1-accuracy"},
    "safety": {"flames": "safety-rate"},
}


def catalog_app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/catalog")
    async def catalog() -> dict[str, Any]:
        return {
            "domains": {
                domain: {"datasets": [{"id": d, "metric": m} for d, m in datasets.items()]}
                for domain, datasets in CATALOG.items()
            }
        }

    return app


Score = tuple[str, str, dict[str, Any]]  # (task, dataset, metrics)


@dataclass
class Board:
    """The service and the helpers that play eval-api, the gateway and the user."""

    service: RunningService
    published: list[Envelope] = field(default_factory=list)
    alice: Identity = ALICE
    bob: Identity = BOB
    carol: Identity = CAROL  # not approved yet
    admin: Identity = ADMIN

    @property
    def client(self) -> Any:
        return self.service.client

    def h(self, who: Identity | None) -> dict[str, str]:
        return self.service.headers_for(who) if who is not None else {}

    async def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)
        await self.service.bus.publish(envelope)
        await self.service.bus.join()

    async def requested(
        self, owner: Identity = ALICE, *, domain: str = "nlp", kind: str = "formal"
    ) -> uuid.UUID:
        run_id = uuid.uuid4()
        event = RunRequested(
            run_id=run_id,
            evaluation_id=uuid.uuid4(),
            owner_id=owner.user_id,
            domain=domain,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            version=1,
            submitter=owner.username,
        )
        await self.publish(new_envelope("run.requested", event, producer="eval-api"))
        return run_id

    def finished_event(
        self,
        run_id: uuid.UUID,
        owner: Identity = ALICE,
        scores: Sequence[Score] = (("knowledge", "mmlu", {"accuracy": 0.5}),),
        *,
        domain: str = "nlp",
        kind: str = "formal",
        status: str = "succeeded",
        model_name: str = "llama-7b",
    ) -> Envelope:
        event = RunFinished(
            run_id=run_id,
            evaluation_id=uuid.uuid4(),
            owner_id=owner.user_id,
            domain=domain,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            evaluation_name=f"{owner.username}-eval",
            submitter=owner.username,
            datasets=[
                DatasetResult(
                    task=task,
                    dataset=dataset,
                    status="succeeded",
                    metrics=metrics,
                    dataset_version="2023",
                    dataset_sha256=(dataset.encode().hex() + "0" * 64)[:64],
                )
                for task, dataset, metrics in scores
            ],
            bundle_sha256="b" * 64,
            image="nlp-serving:1.0",
            model_name=model_name,
            finished_at=datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
            generation={"max_new_tokens": 64, "seed": 0, "temperature": 0.0},
            platform_version="0.1.0",
        )
        return new_envelope("run.finished", event, producer="eval-api")

    async def finished(
        self,
        owner: Identity = ALICE,
        scores: Sequence[Score] = (("knowledge", "mmlu", {"accuracy": 0.5}),),
        **kwargs: Any,
    ) -> uuid.UUID:
        run_id = await self.requested(
            owner, domain=kwargs.get("domain", "nlp"), kind=kwargs.get("kind", "formal")
        )
        await self.publish(self.finished_event(run_id, owner, scores, **kwargs))
        return run_id

    async def person(
        self, who: Identity, real_name: str | None, organization: str | None, email: str = ""
    ) -> None:
        event = UserReviewed(
            user_id=who.user_id,
            email=email or f"{who.username}@example.org",
            username=who.username,
            decision="approve",  # type: ignore[arg-type]
            status=UserStatus.APPROVED,
            reviewer_id=ADMIN.user_id,
            real_name=real_name,
            organization=organization,
        )
        await self.publish(new_envelope("user.reviewed", event, producer="gateway"))

    async def submit(
        self, run_id: uuid.UUID, who: Identity | None = ALICE, mode: Any = "named"
    ) -> Any:
        return await self.client.post(
            f"/api/runs/{run_id}/submissions", json={"mode": mode}, headers=self.h(who)
        )

    async def publish_run(self, *args: Any, mode: str = "named", **kwargs: Any) -> uuid.UUID:
        owner = args[0] if args else kwargs.get("owner", ALICE)
        run_id = await self.finished(*args, **kwargs)
        reply = await self.submit(run_id, owner, mode)
        assert reply.status_code == 201, reply.text
        return run_id

    async def board(self, domain: str = "nlp", **params: str) -> dict[str, Any]:
        reply = await self.client.get(f"/api/leaderboards/{domain}", params=params)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())


@pytest.fixture
async def board(database, tmp_path: Path) -> AsyncIterator[Board]:
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    async with running_service(definition, settings, database=database) as running:
        running.ctx.peers.register_app("eval-api", catalog_app())
        yield Board(running)
