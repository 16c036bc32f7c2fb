"""Media dataset uploads: an admin's token, the CLI protocol unchanged, the layout check of a
dataset upload and the ``dataset_upload.ready`` event with the file table."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select

from flageval_contracts.enums import Role
from flageval_upload.models import messaging

UPLOADS = "/api/admin/datasets/uploads"
ADMIN = uuid.uuid4()


async def issue(upload, body: dict[str, Any], role: Role = Role.ADMIN) -> Any:
    return await upload.client.post(UPLOADS, json=body, headers=upload.headers(ADMIN, role=role))


async def events(upload, kind: str) -> list[dict[str, Any]]:
    async with upload.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(messaging.outbox.c.body)
            .where(messaging.outbox.c.type == kind)
            .order_by(messaging.outbox.c.seq)
        )
        return [body["payload"] for body in rows]


DATASET = {
    "card.json": b'{"name": "pets", "kind": "image_classification"}',
    "manifest.jsonl": b'{"id": 1, "image": "a.png", "label": "cat"}\n',
    "files/a.png": bytes(range(256)) * 300,
    "files/sub/b.png": b"b" * 5000,
}


async def test_an_admin_token_uploads_a_dataset_and_announces_its_file_table(upload) -> None:
    reply = await issue(upload, {"dataset": "pets", "version": "v1"})
    assert reply.status_code == 201, reply.text
    body = reply.json()
    token, upload_id = body["token"], body["upload_id"]
    assert body["command"].endswith(f"--token {token} ./my_dataset")
    assert body["command"].startswith("flageval-serving upload --host ")

    listed = await upload.upload(token, DATASET)
    assert {f["filename"] for f in listed} == set(DATASET)
    assert await events(upload, "bundle.ready") == []
    [ready] = await events(upload, "dataset_upload.ready")
    assert (ready["upload_id"], ready["dataset"], ready["version"]) == (upload_id, "pets", "v1")
    assert ready["valid"] is True and ready["problems"] == []
    assert {f["path"]: (f["size_bytes"], f["sha256"]) for f in ready["files"]} == {
        p: (len(d), hashlib.sha256(d).hexdigest()) for p, d in DATASET.items()
    }
    for path, data in DATASET.items():
        assert await upload.object(f"bundles/{upload_id}/files/{path}") == data

    progress = await upload.client.get(
        f"{UPLOADS}/{upload_id}", headers=upload.headers(ADMIN, role=Role.ADMIN)
    )
    assert progress.status_code == 200, progress.text
    shown = progress.json()
    assert (shown["status"], shown["files_ready"], shown["dataset"]) == ("valid", 4, "pets")
    # Sealed like a model bundle: the same command again cannot change it.
    assert (await upload.list(token)).status_code == 409


async def test_a_dataset_upload_without_its_layout_is_invalid_naming_what_is_wrong(upload) -> None:
    token = (await issue(upload, {"dataset": "pets", "version": "v2"})).json()["token"]
    await upload.upload(token, {"card.json": b"{}", "a.png": b"x" * 3000})
    [ready] = await events(upload, "dataset_upload.ready")
    assert ready["valid"] is False
    assert any("manifest.jsonl" in p and "missing" in p for p in ready["problems"])
    assert any("files/" in p and "a.png" in p for p in ready["problems"])


async def test_only_admins_get_dataset_tokens_and_bad_input_is_a_422(upload) -> None:
    assert (await issue(upload, {"dataset": "pets", "version": "v1"}, Role.USER)).status_code == 403
    for body in (
        {"dataset": "Pets!", "version": "v1"},
        {"dataset": "pets", "version": "../v1"},
        {"dataset": "pets"},
        {"dataset": "pets", "version": "v1", "extra": 1},
    ):
        reply = await issue(upload, body)
        assert reply.status_code == 422, (body, reply.text)
    missing = await upload.client.get(
        f"{UPLOADS}/{uuid.uuid4()}", headers=upload.headers(ADMIN, role=Role.ADMIN)
    )
    assert missing.status_code == 404
    bad_id = await upload.client.get(
        f"{UPLOADS}/not-a-uuid", headers=upload.headers(ADMIN, role=Role.ADMIN)
    )
    assert bad_id.status_code == 422


async def test_the_migration_keeps_existing_bundles_files_and_tokens(database) -> None:
    """Plain ADD COLUMNs: no table rebuild that could cascade to files and tokens (SQLite)."""
    from datetime import UTC, datetime
    from pathlib import Path

    import sqlalchemy as sa

    import flageval_upload
    from flageval_platform import migrations

    def table(name: str, **columns: Any) -> Any:
        return sa.table(name, *(sa.column(c, t) for c, t in columns.items()))

    now = datetime.now(UTC)
    when = sa.DateTime(timezone=True)
    scripts = Path(flageval_upload.__file__).parent / "migrations"
    await migrations.upgrade(database, scripts, "20261127_0002")
    bundle, evaluation = uuid.uuid4(), uuid.uuid4()
    bundles = table(
        "bundles",
        id=sa.Uuid(),
        evaluation_id=sa.Uuid(),
        owner_id=sa.Uuid(),
        version=sa.Integer(),
        status=sa.String(),
        problems=sa.JSON(),
        total_bytes=sa.Integer(),
        revision=sa.Integer(),
        created_at=when,
    )
    tokens = table(
        "upload_tokens",
        id=sa.Uuid(),
        token_hash=sa.String(),
        evaluation_id=sa.Uuid(),
        owner_id=sa.Uuid(),
        bundle_id=sa.Uuid(),
        can_send_targets=sa.Boolean(),
        expires_at=when,
        created_at=when,
    )
    files = table(
        "bundle_files",
        bundle_id=sa.Uuid(),
        filename=sa.String(),
        size_kb=sa.Integer(),
        chunk_kb=sa.Integer(),
        chunk_count=sa.Integer(),
        object_key=sa.String(),
        status=sa.String(),
        created_at=when,
    )
    async with database.engine.begin() as conn:
        await conn.execute(
            bundles.insert().values(
                id=bundle,
                evaluation_id=evaluation,
                owner_id=evaluation,
                version=1,
                status="valid",
                problems=[],
                total_bytes=5,
                revision=1,
                created_at=now,
            )
        )
        await conn.execute(
            tokens.insert().values(
                id=uuid.uuid4(),
                token_hash="a" * 64,
                evaluation_id=evaluation,
                owner_id=evaluation,
                bundle_id=bundle,
                can_send_targets=False,
                expires_at=now,
                created_at=now,
            )
        )
        await conn.execute(
            files.insert().values(
                bundle_id=bundle,
                filename="meta.json",
                size_kb=1,
                chunk_kb=64,
                chunk_count=1,
                object_key="k",
                status="ready",
                created_at=now,
            )
        )
    await migrations.upgrade(database, scripts)
    async with database.engine.connect() as conn:
        kinds = (await conn.execute(sa.text("SELECT kind FROM bundles"))).scalars().all()
        n_tokens = (await conn.execute(sa.text("SELECT count(*) FROM upload_tokens"))).scalar()
        n_files = (await conn.execute(sa.text("SELECT count(*) FROM bundle_files"))).scalar()
    assert (kinds, n_tokens, n_files) == (["model"], 1, 1)
