"""Media dataset uploads (docs/datasets.md "Uploading a media dataset").

An administrator asks for a dataset upload token; it opens a bundle of kind ``dataset`` (no
evaluation) that the unmodified ``flageval-serving upload`` CLI fills over the same protocol as
model bundles: the same chunk plan, resume, sealing once complete. When every file is in, the
layout is checked here (names only: ``card.json`` and ``manifest.jsonl`` at the root, every
other file under ``files/``) and ``dataset_upload.ready`` carries the file table (path, size,
sha256) to eval-api, where the administrator registers the version (which parses the card and
the manifest against that table).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_platform.errors import Conflict, NotFound
from flageval_platform.identity import Identity
from flageval_upload.models import (
    Bundle,
    BundleKind,
    BundleStatus,
    dataset_scope_id,
    utcnow,
)
from flageval_upload.uploads import repository
from flageval_upload.uploads.schemas import BundleFileOut
from flageval_upload.uploads.tokens import IssuedToken, add_token

#: The folder the ``command`` of a dataset token uploads; the administrator replaces it.
COMMAND_DIR = "./my_dataset"
CARD = "card.json"
MANIFEST = "manifest.jsonl"
MEDIA_FOLDER = "files/"

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

UPLOAD_NOT_FOUND = "Dataset upload not found"


def check_dataset_layout(files: Mapping[str, int]) -> list[str]:
    """Problems with a media dataset upload's file list; empty when it is valid."""
    problems = []
    for required, what in ((CARD, "the dataset card"), (MANIFEST, "the JSONL manifest")):
        if required not in files:
            problems.append(f"{required} ({what}) is missing at the root of the upload.")
    stray = sorted(p for p in files if p not in (CARD, MANIFEST) and not p.startswith(MEDIA_FOLDER))
    if stray:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        problems.append(
            f"Media files belong under {MEDIA_FOLDER}; these are not: {shown}. The upload holds "
            f"{CARD}, {MANIFEST} and the folder {MEDIA_FOLDER} only."
        )
    return problems


async def create_token(
    *,
    session: AsyncSession,
    identity: Identity,
    dataset: str,
    version: str,
    ttl_seconds: int,
) -> IssuedToken:
    """A token (administrators only; the router checks) opening a new dataset upload."""
    # Uploads of one dataset are numbered 1, 2, … under its scope id (the unique constraint of
    # an evaluation's versions makes a concurrent request fail rather than share a number).
    scope = dataset_scope_id(dataset)
    latest = await session.scalar(
        select(func.max(Bundle.version)).where(Bundle.evaluation_id == scope)
    )
    now = utcnow()
    bundle = Bundle(
        evaluation_id=scope,
        owner_id=identity.user_id,
        version=(latest or 0) + 1,
        kind=BundleKind.DATASET.value,
        dataset=dataset,
        dataset_version=version,
        status=BundleStatus.UPLOADING.value,
        problems=[],
        total_bytes=0,
        revision=0,
        created_at=now,
    )
    session.add(bundle)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Another upload of {dataset!r} was opened at the same moment; ask again.",
            code="upload_conflict",
        ) from exc
    return await add_token(
        session=session,
        bundle=bundle,
        owner_id=identity.user_id,
        can_send_targets=False,
        ttl_seconds=ttl_seconds,
    )


async def get_upload(
    *, session: AsyncSession, upload_id: uuid.UUID
) -> tuple[Bundle, list[BundleFileOut], int]:
    """A dataset upload, its files (ready ones with size and sha256) and how many are ready."""
    bundle = await session.get(Bundle, upload_id)
    if bundle is None or bundle.kind != BundleKind.DATASET.value:
        raise NotFound(UPLOAD_NOT_FOUND)
    files = await repository.files_of(session, upload_id)
    shown = [
        BundleFileOut(path=f.filename, size_bytes=f.size_bytes, sha256=f.sha256)
        for f in sorted(files, key=lambda f: f.filename)
    ]
    return bundle, shown, sum(1 for f in files if f.sha256 is not None)
