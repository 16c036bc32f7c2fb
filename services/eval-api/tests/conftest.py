"""Shared fixtures of eval-api's tests."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from flageval_eval_api.catalog import seed
from flageval_eval_api.datasets.models import RegisteredDataset
from flageval_platform.db import Database

AttachData = Callable[..., Awaitable[None]]


async def _attach(db: Database, *ids: str, version: str = "t1") -> None:
    """Record a registered version for built-in datasets ``ids`` (all non-demo ones when none
    are named), as registering data for them does, so evaluations may choose them. Only the
    row: tests of evaluations never read the objects."""
    builtins = {row[1]: row for row in seed.DATASETS if row[1] not in seed.DEMO_DATASETS}
    async with db.transaction() as session:
        for id_ in ids or tuple(builtins):
            domain, _id, _name, task, language, _metric = builtins[id_]
            session.add(
                RegisteredDataset(
                    id=uuid.uuid4(),
                    name=id_,
                    version=version,
                    seq=1,
                    domain=domain,
                    task=task,
                    card={"name": id_, "domain": domain, "language": language},
                    size=3,
                    dev_size=0,
                    data_bytes=100,
                    sha256="a" * 64,
                    content_sha256="b" * 64,
                    registered_by=uuid.uuid4(),
                )
            )


@pytest.fixture
def attach_data() -> AttachData:
    """``await attach_data(db, "mmlu", ...)``: give built-in datasets (default: all) data."""
    return _attach
