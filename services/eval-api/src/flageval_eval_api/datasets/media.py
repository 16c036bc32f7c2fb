"""Registering an uploaded media dataset (docs/datasets.md "Uploading a media dataset").

The upload service announces a complete dataset upload with ``dataset_upload.ready`` (its file
table: path, size, sha256); :func:`record_upload` keeps it. An administrator then registers it:
:func:`register_upload` reads ``card.json`` and ``manifest.jsonl`` from the object store and
checks them with the dataset library's :func:`~flageval_datasets.media.parse_manifest` against
the file table, reading every referenced media file from the store (its size and sha256 again,
and that it decodes). Problems are a 422 listing each (manifest lines numbered); nothing is
recorded then. A valid upload becomes a version in ``registered_datasets`` (so the catalog
lists it with its version and item count) plus ``<prefix>/media.json``: the version's file
table with each file's object key, which the scheduler turns into presigned URLs for runs.

The media files stay where the upload put them (``bundles/<upload_id>/files/…``): the upload
is sealed, so its bytes never change; runs verify every sha256 anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Uuid
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from flageval_contracts import Envelope
from flageval_contracts.events import DatasetUploadReady
from flageval_datasets.loader import DatasetError
from flageval_datasets.media import FileInfo, MediaDataset, parse_manifest
from flageval_eval_api.catalog import seed
from flageval_eval_api.datasets.models import RegisteredDataset, dataset_prefix
from flageval_eval_api.datasets.service import add_version
from flageval_eval_api.models import Base
from flageval_platform.db import Database, UTCDateTime
from flageval_platform.errors import Conflict, NotFound, PlatformError, Unprocessable
from flageval_platform.storage import ObjectNotFound, ObjectStore

CARD = "card.json"
MANIFEST = "manifest.jsonl"
FILE_ROOT = "files/"
MEDIA_TABLE = "media.json"
MAX_CARD_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 200 * 1024 * 1024
MAX_REPORTED_PROBLEMS = 100

_BUILTINS = {id_: (domain, task) for domain, id_, _name, task, *_rest in seed.DATASETS}
_DOMAIN_TASKS = {
    domain: tuple(t for d, t, _name, _methods in seed.TASKS if d == domain)
    for domain in seed.DOMAINS
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MediaDatasetUpload(Base):
    """A complete media dataset upload as the upload service announced it."""

    __tablename__ = "media_dataset_uploads"

    upload_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    #: The upload service's layout check (card.json, manifest.jsonl, files/…).
    valid: Mapped[bool] = mapped_column(Boolean)
    problems: Mapped[list[Any]] = mapped_column(JSON)
    #: ``[{path, size_bytes, sha256}]`` as uploaded.
    files: Mapped[list[Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)
    #: The ``registered_datasets`` row made from it, once registered.
    registered_dataset_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


async def record_upload(session: AsyncSession, envelope: Envelope) -> None:
    """Consumer of ``dataset_upload.ready`` (an upsert: a redelivery changes nothing new)."""
    event = DatasetUploadReady.model_validate(envelope.payload)
    row = await session.get(MediaDatasetUpload, event.upload_id)
    if row is None:
        row = MediaDatasetUpload(upload_id=event.upload_id)
        session.add(row)
    row.dataset, row.version, row.owner_id = event.dataset, event.version, event.owner_id
    row.valid, row.problems = event.valid, list(event.problems)
    row.files = [f.model_dump() for f in event.files]
    row.recorded_at = _utcnow()


class MediaDatasetRejected(Unprocessable):
    """422 whose ``detail`` lists every problem: ``{"source": "card"|"manifest"|"upload",
    "line": N|None, "message"}``."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("The media dataset was rejected.", code="invalid_dataset")
        self.problems = problems

    @property
    def detail(self) -> Any:
        shown = self.problems[:MAX_REPORTED_PROBLEMS]
        rest = len(self.problems) - len(shown)
        if rest > 0:
            shown = [
                *shown,
                {"source": "manifest", "line": None, "message": f"... and {rest} more"},
            ]
        return shown


class ManifestTooLarge(PlatformError):
    status_code = 413


def _problem(source: str, message: str, line: int | None = None) -> dict[str, Any]:
    return {"source": source, "line": line, "message": message}


def upload_key(upload_id: uuid.UUID, path: str) -> str:
    """Where the upload service stored one file of an upload."""
    return f"bundles/{upload_id}/files/{path}"


def _catalog_task(domain: str, name: str, catalog_task: str | None) -> str:
    """The catalog task the version belongs to (a built-in id's own; else one of the card
    domain's tasks, given by the administrator); 422 naming the choices otherwise."""
    builtin = _BUILTINS.get(name)
    if builtin is not None:
        if builtin[0] != domain:
            raise MediaDatasetRejected(
                [_problem("card", f"the built-in dataset {name!r} is a {builtin[0]} dataset")]
            )
        if catalog_task and catalog_task != builtin[1]:
            raise MediaDatasetRejected(
                [
                    _problem(
                        "upload", f"the built-in dataset {name!r} belongs to task {builtin[1]!r}"
                    )
                ]
            )
        return builtin[1]
    tasks = _DOMAIN_TASKS.get(domain, ())
    if not catalog_task or catalog_task not in tasks:
        raise MediaDatasetRejected(
            [
                _problem(
                    "upload",
                    f"catalog_task: required, one of {domain}'s tasks: {', '.join(tasks)}",
                )
            ]
        )
    return catalog_task


async def _read_small(store: ObjectStore, key: str, size: int, limit: int, what: str) -> bytes:
    if size > limit:
        raise ManifestTooLarge(f"{what} is larger than {limit // 1024} KiB", code="too_large")
    try:
        return await store.read(key)
    except ObjectNotFound as exc:
        raise Conflict(f"{what} of this upload is missing from the store.") from exc


async def register_upload(
    *,
    db: Database,
    store: ObjectStore,
    upload_id: uuid.UUID,
    catalog_task: str | None,
    registered_by: uuid.UUID,
) -> RegisteredDataset:
    """Check an uploaded media dataset and record it as a new version (see the module doc)."""
    async with db.transaction() as session:
        upload = await session.get(MediaDatasetUpload, upload_id)
        if upload is None:
            raise NotFound(
                "No complete media dataset upload with this id (is the upload finished?)."
            )
        if upload.registered_dataset_id is not None:
            raise Conflict("This upload is registered already.", code="dataset_version_exists")
        if not upload.valid:
            raise MediaDatasetRejected([_problem("upload", p) for p in upload.problems])
        name, version = upload.dataset, upload.version
        table = {str(f["path"]): f for f in upload.files}
    if name in seed.DEMO_DATASETS:
        raise MediaDatasetRejected(
            [_problem("upload", f"{name!r} is a demo dataset: its data ships with the platform")]
        )
    card_bytes = await _read_small(
        store, upload_key(upload_id, CARD), int(table[CARD]["size_bytes"]), MAX_CARD_BYTES, CARD
    )
    manifest_bytes = await _read_small(
        store,
        upload_key(upload_id, MANIFEST),
        int(table[MANIFEST]["size_bytes"]),
        MAX_MANIFEST_BYTES,
        MANIFEST,
    )
    files = {
        path[len(FILE_ROOT) :]: FileInfo(size=int(f["size_bytes"]), sha256=str(f["sha256"]))
        for path, f in table.items()
        if path.startswith(FILE_ROOT)
    }
    loop = asyncio.get_running_loop()

    def read(rel: str) -> bytes:  # called from the checking thread
        key = upload_key(upload_id, FILE_ROOT + rel)
        return asyncio.run_coroutine_threadsafe(store.read(key), loop).result()

    try:
        dataset: MediaDataset = await asyncio.to_thread(
            parse_manifest, card_bytes, manifest_bytes, files, read
        )
    except DatasetError as exc:
        raise MediaDatasetRejected(
            [
                _problem("card" if e.line is None else "manifest", e.message, e.line)
                for e in exc.errors
            ]
        ) from exc
    card = dataset.card
    mismatch = [
        _problem("card", f"{field} is {got!r} but the upload is for {want!r}")
        for field, got, want in (("name", card.name, name), ("version", card.version, version))
        if got != want
    ]
    if mismatch:
        raise MediaDatasetRejected(mismatch)
    task = _catalog_task(card.domain, name, catalog_task)
    prefix = dataset_prefix(name, version)
    media_table = {
        "content_sha256": dataset.content_sha256,
        "upload_id": str(upload_id),
        "files": [
            {
                "path": path,
                "size_bytes": int(f["size_bytes"]),
                "sha256": str(f["sha256"]),
                "key": upload_key(upload_id, path),
            }
            for path, f in sorted(table.items())
        ],
    }
    async with db.transaction() as session:
        row = await add_version(
            session,
            name=name,
            version=version,
            domain=card.domain,
            task=task,
            card=card.model_dump(mode="json"),
            size=len(dataset.items),
            dev_size=0,
            data_bytes=sum(int(f["size_bytes"]) for f in table.values()),
            sha256=hashlib.sha256(manifest_bytes).hexdigest(),
            content_sha256=dataset.content_sha256,
            registered_by=registered_by,
        )
        claimed = await session.get(MediaDatasetUpload, upload_id, with_for_update=True)
        if claimed is None or claimed.registered_dataset_id is not None:
            raise Conflict("This upload is registered already.", code="dataset_version_exists")
        claimed.registered_dataset_id = row.id
        # Written before the commit: the row is visible only once its file table exists.
        await store.put(f"{prefix}/{MEDIA_TABLE}", json.dumps(media_table).encode())
    return row


def document(row: RegisteredDataset, upload_id: uuid.UUID) -> dict[str, Any]:
    """The 201 reply of ``…/uploads/{upload_id}/register``."""
    return {
        "id": row.name,
        "kind": row.card.get("kind"),
        "version": row.version,
        "domain": row.domain,
        "task": row.task,
        "size": row.size,
        "data_bytes": row.data_bytes,
        "content_sha256": row.content_sha256,
        "upload_id": str(upload_id),
        "source": row.prefix,
        "registered_at": row.registered_at.isoformat(),
    }
