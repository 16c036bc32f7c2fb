"""Queries on bundles, their files and chunks."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_upload.models import BundleChunk, BundleFile, FileStatus


async def files_of(session: AsyncSession, bundle_id: uuid.UUID) -> list[BundleFile]:
    rows = await session.scalars(
        select(BundleFile).where(BundleFile.bundle_id == bundle_id).order_by(BundleFile.id)
    )
    return list(rows)


async def chunks_of(session: AsyncSession, file_ids: Sequence[int]) -> dict[int, list[BundleChunk]]:
    """The chunks of the given files, in order, by file id."""
    found: dict[int, list[BundleChunk]] = defaultdict(list)
    if not file_ids:
        return found
    # One query per few thousand files keeps every statement under the drivers' parameter limits.
    for start in range(0, len(file_ids), 5000):
        batch = list(file_ids[start : start + 5000])
        rows = await session.scalars(
            select(BundleChunk)
            .where(BundleChunk.file_id.in_(batch))
            .order_by(BundleChunk.file_id, BundleChunk.num)
        )
        for chunk in rows:
            found[chunk.file_id].append(chunk)
    return found


async def missing_chunks(session: AsyncSession, file_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(BundleChunk)
            .where(BundleChunk.file_id == file_id, BundleChunk.ready.is_(False))
        )
        or 0
    )


async def chunk_keys(session: AsyncSession, file_id: int) -> list[str]:
    rows = await session.scalars(
        select(BundleChunk.object_key)
        .where(BundleChunk.file_id == file_id)
        .order_by(BundleChunk.num)
    )
    return [key for key in rows if key is not None]


@dataclass(frozen=True)
class UnfinishedFile:
    id: int
    status: str
    assembling_since: datetime | None
    missing_chunks: int


async def unfinished_files(session: AsyncSession, bundle_id: uuid.UUID) -> list[UnfinishedFile]:
    """Files of a bundle that are not ready yet, with how many chunks each still lacks."""
    missing = func.sum(case((BundleChunk.ready.is_(False), 1), else_=0))
    rows = await session.execute(
        select(BundleFile.id, BundleFile.status, BundleFile.assembling_since, missing)
        .join(BundleChunk, BundleChunk.file_id == BundleFile.id)
        .where(BundleFile.bundle_id == bundle_id, BundleFile.status != FileStatus.READY.value)
        .group_by(BundleFile.id, BundleFile.status, BundleFile.assembling_since)
    )
    return [UnfinishedFile(r[0], r[1], r[2], int(r[3] or 0)) for r in rows]


async def delete_files(session: AsyncSession, file_ids: Sequence[int]) -> None:
    for start in range(0, len(file_ids), 5000):
        batch = list(file_ids[start : start + 5000])
        await session.execute(delete(BundleChunk).where(BundleChunk.file_id.in_(batch)))
        await session.execute(delete(BundleFile).where(BundleFile.id.in_(batch)))
