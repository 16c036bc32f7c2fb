"""Chunked uploads from the ``flageval-serving`` CLI into bundle versions (SPEC §4).

The life of a bundle file:

1. ``create_files`` plans it: ``n = max(1, ceil(sizeKb / chunk_kb))`` chunks, numbered from 1;
   all but the last are ``chunk_kb`` KiB, the last carries the remainder.
2. ``upload_chunk`` streams each chunk into its own object (a fresh key per attempt), checking
   its size against the plan while it streams: a chunk of the wrong size is never stored. The
   first upload of a chunk to be recorded wins; a duplicate's object is deleted again.
3. When no chunk is missing, one request claims the file (``uploading`` → ``assembling``, a
   conditional UPDATE) and joins the chunks into ``bundles/<bundle>/files/<name>`` with
   :meth:`ObjectStore.compose`, hashing the chunks meanwhile; then the file is ``ready``.
4. When every file is ready, one request claims the bundle (``uploading`` → ``complete``),
   checks its layout for the evaluation's domain and records ``valid`` or ``invalid`` together
   with a ``bundle.ready`` event in the outbox.

From ``complete`` on the version is sealed (SPEC §11: runs pin its sha256s): every call that
would change it — a new plan, a chunk, ``rm`` — is refused with :class:`BundleSealed`, checked
in the transaction (or conditional update) that would make the change, so a call racing the
completion cannot slip in after it. A new token opens a new version.

No database transaction is open while a chunk streams or a file is assembled: in standalone
SQLite has a single connection, and holding it would stall every other request. Each step is
a short transaction whose conditional updates make concurrent and repeated requests harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import new_envelope
from flageval_contracts.events import BundleFile as BundleFileEvent
from flageval_contracts.events import BundleReady, DatasetUploadReady
from flageval_platform.db import Database
from flageval_platform.errors import Conflict, Forbidden, NotFound, PlatformError, Unprocessable
from flageval_platform.identity import Identity
from flageval_platform.logging import get_correlation_id
from flageval_platform.storage import ObjectNotFound, ObjectStore, StorageError
from flageval_upload.bundles.layout import check_layout
from flageval_upload.config import UploadSettings
from flageval_upload.datasets.service import check_dataset_layout
from flageval_upload.evaluations.service import get_owned
from flageval_upload.models import (
    SEALED_STATUSES,
    Bundle,
    BundleChunk,
    BundleFile,
    BundleKind,
    BundleStatus,
    Evaluation,
    FileStatus,
    aware,
    messaging,
    utcnow,
)
from flageval_upload.uploads import repository
from flageval_upload.uploads.chunkbody import bounded
from flageval_upload.uploads.filenames import (
    check_filename,
    find_file_folder_clash,
    is_target,
    normalize_remote_path,
    shown,
    under,
)
from flageval_upload.uploads.schemas import (
    BundleFileOut,
    BundleOut,
    FileIn,
    ProtocolChunk,
    ProtocolFile,
)
from flageval_upload.uploads.tokens import authenticate

log = logging.getLogger(__name__)

PRODUCER = "upload"
#: An assembly that has not finished after this long is taken to have died with its process.
ASSEMBLY_LEASE = timedelta(minutes=30)
#: A bundle left ``complete`` this long (its layout check died with its process) is re-checked.
CHECK_LEASE = timedelta(minutes=5)
#: Largest file the layout check may read (meta.json, service.py, …).
MAX_INSPECTED_BYTES = 4 * 1024 * 1024
_HASH_IN_THREAD = 256 * 1024

TARGETS_PROTECTED = (
    "{name} is in the protected targets/ folder, which this upload token may not change."
)


class PayloadTooLarge(PlatformError):
    status_code = 413


class BundleSealed(Conflict):
    """A change to a bundle version that is complete: its bytes never change again."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(
            f"Bundle version {bundle.version} of this evaluation is sealed ({bundle.status}): "
            "all its files are in and can no longer change. Request a new upload token to "
            "upload a new version.",
            code="bundle_sealed",
            version=bundle.version,
            bundle_status=bundle.status,
        )


def refuse_if_sealed(bundle: Bundle) -> None:
    """Raise :class:`BundleSealed` unless ``bundle`` may still change."""
    if bundle.status in SEALED_STATUSES:
        raise BundleSealed(bundle)


# -- the plan -------------------------------------------------------------------------------------


def plan_chunks(size_kb: int, chunk_kb: int) -> list[int]:
    """Sizes in KiB of a file's chunks: ``chunk_kb`` each, the last one the remainder."""
    count = max(1, math.ceil(size_kb / chunk_kb))
    return [chunk_kb] * (count - 1) + [size_kb - (count - 1) * chunk_kb]


def chunk_bounds(*, file_size_kb: int, chunk_count: int, num: int, size_kb: int) -> tuple[int, int]:
    """Smallest and largest byte count chunk ``num`` may have.

    The CLI announces ``sizeKb = max(bytes // 1024, 1)`` and sends ``sizeKb * 1024`` bytes for
    every chunk but the last, then the rest of the file: the last chunk carries up to 1023
    bytes more than its KiB, and a file announced as 1 KiB may hold anything from 0 to 2047.
    """
    if num < chunk_count:
        return size_kb * 1024, size_kb * 1024
    if file_size_kb == 1:
        return 0, 2047
    return size_kb * 1024, size_kb * 1024 + 1023


def file_key(bundle_id: uuid.UUID, filename: str) -> str:
    return f"bundles/{bundle_id}/files/{filename}"


def chunks_prefix(bundle_id: uuid.UUID, file_id: int) -> str:
    return f"bundles/{bundle_id}/chunks/{file_id}/"


def new_chunk_key(bundle_id: uuid.UUID, file_id: int, num: int) -> str:
    # One object per attempt: a duplicate or failed attempt can never touch the stored chunk.
    return f"{chunks_prefix(bundle_id, file_id)}{num}.{uuid.uuid4().hex}"


# -- shapes ---------------------------------------------------------------------------------------


def protocol_file(file: BundleFile, chunks: Sequence[BundleChunk]) -> ProtocolFile:
    return ProtocolFile(
        id=file.id,
        filename=file.filename,
        sizeKb=file.size_kb,
        ks3Ready=file.status == FileStatus.READY.value,
        chunks=[ProtocolChunk(num=c.num, sizeKb=c.size_kb, ks3Ready=c.ready) for c in chunks],
    )


async def _listing(
    session: AsyncSession, bundle_id: uuid.UUID, path: str = ""
) -> list[ProtocolFile]:
    files = [f for f in await repository.files_of(session, bundle_id) if under(f.filename, path)]
    chunks = await repository.chunks_of(session, [f.id for f in files])
    return [protocol_file(f, chunks.get(f.id, [])) for f in files]


# -- cleanup after commit -------------------------------------------------------------------------


@dataclass
class Leftovers:
    """Objects that no row points to any more, deleted once the transaction has committed."""

    keys: list[str] = field(default_factory=list)
    #: Files whose chunk objects go too (found by listing: an upload may have added one).
    files: dict[uuid.UUID, set[int]] = field(default_factory=dict)

    def add_file(self, file: BundleFile) -> None:
        self.keys.append(file.object_key)
        self.files.setdefault(file.bundle_id, set()).add(file.id)

    async def delete(self, store: ObjectStore) -> None:
        keys = list(self.keys)
        for bundle_id, file_ids in self.files.items():
            prefix = f"bundles/{bundle_id}/chunks/"
            for info in await store.list(prefix):
                file_id = info.key[len(prefix) :].split("/", 1)[0]
                if file_id.isdigit() and int(file_id) in file_ids:
                    keys.append(info.key)
        await _delete_all(store, keys)


async def _delete_all(store: ObjectStore, keys: Sequence[str]) -> None:
    semaphore = asyncio.Semaphore(16)

    async def one(key: str) -> None:
        async with semaphore:
            await store.delete(key)

    await asyncio.gather(*(one(key) for key in keys))


# -- protocol: list and plan files ----------------------------------------------------------------


async def list_files(*, db: Database, store: ObjectStore, token: str | None) -> list[ProtocolFile]:
    """Every file of the token's bundle with its chunks (``GET …/models/files``).

    A sealed version answers :class:`BundleSealed` instead: this listing is how every
    ``flageval-serving upload`` starts, and a rerun on a complete version must say that it
    cannot change it rather than finish quietly (``ls`` still lists a sealed version).
    """
    async with db.transaction() as session:
        bundle_id = (await authenticate(session=session, token=token)).bundle_id
    await resume_unfinished(db=db, store=store, bundle_id=bundle_id)
    async with db.transaction() as session:
        bundle = await session.get(Bundle, bundle_id)
        if bundle is None:
            raise NotFound("The bundle of this upload token no longer exists.")
        refuse_if_sealed(bundle)
        return await _listing(session, bundle_id)


async def create_files(
    *,
    db: Database,
    store: ObjectStore,
    settings: UploadSettings,
    token: str | None,
    files: Sequence[FileIn],
) -> list[ProtocolFile]:
    """Plan the chunks of ``files`` (``POST …/models/files``); all of them or none.

    A name the bundle already has is replaced: new id, new plan, its old objects deleted (only
    while the version is open: a sealed one is refused with :class:`BundleSealed`). The reply
    lists the files of the request in request order (``cp`` pairs them up by position).
    """
    leftovers = Leftovers()
    async with db.transaction() as session:
        token_row = await authenticate(session=session, token=token)
        # Locked: two plans for one bundle must not interleave (PostgreSQL; SQLite serialises).
        bundle = await session.get(Bundle, token_row.bundle_id, with_for_update=True)
        if bundle is None:
            raise NotFound("The bundle of this upload token no longer exists.")
        # Under the lock: a completion that committed first is seen here; one that comes later
        # finds the revision changed and does not claim the bundle.
        refuse_if_sealed(bundle)
        if not files:
            return []
        names = [check_filename(f.filename) for f in files]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise Unprocessable(f"File name {shown(name)} appears more than once.")
            seen.add(name)
        if not token_row.can_send_targets:
            for name in names:
                if is_target(name):
                    raise Forbidden(TARGETS_PROTECTED.format(name=shown(name)))

        existing = {f.filename: f for f in await repository.files_of(session, bundle.id)}
        kept = [f for name, f in existing.items() if name not in seen]
        if len(kept) + len(names) > settings.upload_max_files:
            raise PayloadTooLarge(
                f"A bundle may hold at most {settings.upload_max_files} files; this one would "
                f"hold {len(kept) + len(names)}."
            )
        total = 1024 * (sum(f.size_kb for f in kept) + sum(f.sizeKb for f in files))
        if total > settings.upload_max_bundle_bytes:
            raise PayloadTooLarge(
                f"A bundle may hold at most {_gib(settings.upload_max_bundle_bytes)}; this one "
                f"would hold {_gib(total)}."
            )
        clash = find_file_folder_clash([*(f.filename for f in kept), *names])
        if clash is not None:
            raise Unprocessable(
                f"{shown(clash[0])} would be both a file and the folder of {shown(clash[1])}."
            )

        replaced = [existing[name] for name in names if name in existing]
        for old in replaced:
            leftovers.add_file(old)
        await repository.delete_files(session, [f.id for f in replaced])

        chunk_kb = settings.upload_chunk_kb
        now = utcnow()
        plans = {f.filename: plan_chunks(f.sizeKb, chunk_kb) for f in files}
        rows = await session.execute(
            insert(BundleFile).returning(BundleFile.id, BundleFile.filename),
            [
                {
                    "bundle_id": bundle.id,
                    "filename": f.filename,
                    "size_kb": f.sizeKb,
                    "chunk_kb": chunk_kb,
                    "chunk_count": len(plans[f.filename]),
                    "size_bytes": None,
                    "sha256": None,
                    "object_key": file_key(bundle.id, f.filename),
                    "status": FileStatus.UPLOADING.value,
                    "assembling_since": None,
                    "created_at": now,
                }
                for f in files
            ],
        )
        ids = {name: file_id for file_id, name in rows.all()}
        await session.execute(
            insert(BundleChunk),
            [
                {
                    "file_id": ids[name],
                    "num": num,
                    "size_kb": size_kb,
                    "size_bytes": None,
                    "object_key": None,
                    "ready": False,
                }
                for name, plan in plans.items()
                for num, size_kb in enumerate(plan, start=1)
            ],
        )
        bundle.status = BundleStatus.UPLOADING.value
        bundle.revision += 1
        bundle.problems = []
        bundle.completed_at = None
        bundle.total_bytes = total
        result = [
            ProtocolFile(
                id=ids[f.filename],
                filename=f.filename,
                sizeKb=f.sizeKb,
                ks3Ready=False,
                chunks=[
                    ProtocolChunk(num=num, sizeKb=size_kb, ks3Ready=False)
                    for num, size_kb in enumerate(plans[f.filename], start=1)
                ],
            )
            for f in files
        ]
    await leftovers.delete(store)
    return result


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n} bytes"


# -- protocol: chunks -----------------------------------------------------------------------------


async def upload_chunk(
    *,
    db: Database,
    store: ObjectStore,
    token: str | None,
    file_id: int,
    chunk_num: int,
    data: AsyncIterator[bytes],
) -> bool:
    """Store one chunk from ``data``; True if this request stored it, False for a duplicate.

    A duplicate of a chunk that is already in is harmless: nothing is stored, and the file's
    assembly is resumed in case an earlier attempt of it failed. Once the version is sealed
    every chunk is refused (:class:`BundleSealed`), duplicates included.
    """
    async with db.transaction() as session:
        token_row = await authenticate(session=session, token=token)
        bundle = await session.get(Bundle, token_row.bundle_id)
        if bundle is None:
            raise NotFound("The bundle of this upload token no longer exists.")
        refuse_if_sealed(bundle)
        file = await session.get(BundleFile, file_id)
        if file is None or file.bundle_id != token_row.bundle_id:
            raise NotFound(
                f"There is no file {file_id} in the bundle of this upload token (it may have "
                "been replaced or removed): list the files again."
            )
        chunk = None
        if 1 <= chunk_num <= file.chunk_count:
            chunk = await session.get(BundleChunk, (file_id, chunk_num))
        if chunk is None:
            raise Unprocessable(
                f"Chunk number {chunk_num} is out of range: {shown(file.filename)} has chunks "
                f"1 to {file.chunk_count}."
            )
        low, high = chunk_bounds(
            file_size_kb=file.size_kb,
            chunk_count=file.chunk_count,
            num=chunk_num,
            size_kb=chunk.size_kb,
        )
        already_in = chunk.ready
        bundle_id, filename = file.bundle_id, file.filename
    if already_in:
        await finish_file(db=db, store=store, file_id=file_id)
        return False

    key = new_chunk_key(bundle_id, file_id, chunk_num)
    what = f"Chunk {chunk_num} of {shown(filename)}"
    info = await store.put(key, bounded(data, low=low, high=high, what=what))
    async with db.transaction() as session:
        # Only into a version that is still open. (A sealed one has every chunk in already,
        # so ``ready IS FALSE`` alone would hold too; this says so where the write happens.)
        still_open = (
            select(BundleFile.id)
            .join(Bundle, Bundle.id == BundleFile.bundle_id)
            .where(BundleFile.id == file_id, Bundle.status == BundleStatus.UPLOADING.value)
        )
        marked = await session.execute(
            update(BundleChunk)
            .where(
                BundleChunk.file_id == file_id,
                BundleChunk.num == chunk_num,
                BundleChunk.ready.is_(False),
                BundleChunk.file_id.in_(still_open),
            )
            .values(ready=True, size_bytes=info.size, object_key=key)
        )
        stored = marked.rowcount == 1  # type: ignore[attr-defined]
        sealed: BundleSealed | None = None
        if not stored:
            bundle = await session.get(Bundle, bundle_id)
            if bundle is not None and bundle.status in SEALED_STATUSES:
                sealed = BundleSealed(bundle)
    if not stored:
        # A concurrent duplicate won (and may have completed the version), or the file was
        # replaced or removed meanwhile.
        await store.delete(key)
    if sealed is not None:
        raise sealed
    await finish_file(db=db, store=store, file_id=file_id)
    return stored


async def _sha256(store: ObjectStore, keys: Sequence[str]) -> tuple[str, int]:
    digest = hashlib.sha256()
    total = 0
    for key in keys:
        async for data in store.get(key):
            total += len(data)
            if len(data) >= _HASH_IN_THREAD:
                await asyncio.to_thread(digest.update, data)  # hashlib releases the GIL
            else:
                digest.update(data)
    return digest.hexdigest(), total


async def finish_file(*, db: Database, store: ObjectStore, file_id: int) -> bool:
    """Assemble the file if all its chunks are in and nobody else is; True if this call did."""
    async with db.transaction() as session:
        if await repository.missing_chunks(session, file_id):
            return False
        now = utcnow()
        claimed = await session.execute(
            update(BundleFile)
            .where(
                BundleFile.id == file_id,
                or_(
                    BundleFile.status == FileStatus.UPLOADING.value,
                    and_(
                        BundleFile.status == FileStatus.ASSEMBLING.value,
                        BundleFile.assembling_since < now - ASSEMBLY_LEASE,
                    ),
                ),
            )
            .values(status=FileStatus.ASSEMBLING.value, assembling_since=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return False
        file = await session.get(BundleFile, file_id)
        assert file is not None
        keys = await repository.chunk_keys(session, file_id)
        bundle_id, object_key, chunk_count = file.bundle_id, file.object_key, file.chunk_count

    mine = and_(
        BundleFile.id == file_id,
        BundleFile.status == FileStatus.ASSEMBLING.value,
        BundleFile.assembling_since == now,
    )
    try:
        if len(keys) != chunk_count:
            raise StorageError(f"file {file_id} has {len(keys)} stored chunks of {chunk_count}")
        # The chunks are hashed while they are joined; both read the same objects.
        joining = asyncio.ensure_future(store.compose(object_key, keys))
        try:
            sha256, hashed = await _sha256(store, keys)
        except BaseException:
            joining.cancel()
            with contextlib.suppress(BaseException):
                await joining
            raise
        info = await joining
        if info.size != hashed:
            raise StorageError(f"assembled {info.size} bytes of {object_key!r}, hashed {hashed}")
    except Exception:
        async with db.transaction() as session:
            await session.execute(
                update(BundleFile)
                .where(mine)
                .values(status=FileStatus.UPLOADING.value, assembling_since=None)
            )
        raise
    async with db.transaction() as session:
        done = await session.execute(
            update(BundleFile)
            .where(mine)
            .values(
                status=FileStatus.READY.value,
                size_bytes=info.size,
                sha256=sha256,
                assembling_since=None,
            )
        )
        won = done.rowcount == 1  # type: ignore[attr-defined]
    if not won:
        return False
    await _delete_all(store, keys)
    await finish_bundle(db=db, store=store, bundle_id=bundle_id)
    return True


# -- bundles --------------------------------------------------------------------------------------

LayoutReader = Callable[[str], Awaitable[bytes]]


async def check_bundle_layout(
    domain: str, files: Mapping[str, int], read: LayoutReader
) -> list[str]:
    """Problems with a bundle's layout for ``domain`` (SPEC §2); empty when it is valid."""
    return [str(problem) for problem in await check_layout(domain, files, read)]


def _reader(store: ObjectStore, bundle_id: uuid.UUID, files: Mapping[str, int]) -> LayoutReader:
    async def read(path: str) -> bytes:
        size = files.get(path)
        if size is None:
            raise FileNotFoundError(path)
        if size > MAX_INSPECTED_BYTES:
            raise ValueError(f"{path} is too large to inspect ({size} bytes)")
        return await store.read(file_key(bundle_id, path))

    return read


async def finish_bundle(
    *, db: Database, store: ObjectStore, bundle_id: uuid.UUID, recheck: bool = False
) -> bool:
    """Check the layout once every file is ready; record valid/invalid and ``bundle.ready``.

    ``recheck`` also re-runs a check that was left ``complete`` for longer than
    :data:`CHECK_LEASE` (its process died). True when this call recorded the result.
    """
    async with db.transaction() as session:
        bundle = await session.get(Bundle, bundle_id)
        if bundle is None:
            return False
        files = await repository.files_of(session, bundle_id)
        if not files or any(f.status != FileStatus.READY.value for f in files):
            return False
        now = utcnow()
        if bundle.status == BundleStatus.UPLOADING.value:
            claimed = await session.execute(
                update(Bundle)
                .where(
                    Bundle.id == bundle_id,
                    Bundle.status == BundleStatus.UPLOADING.value,
                    Bundle.revision == bundle.revision,
                )
                .values(
                    status=BundleStatus.COMPLETE.value,
                    completed_at=now,
                    total_bytes=sum(f.size_bytes or 0 for f in files),
                )
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return False
        elif not (
            recheck
            and bundle.status == BundleStatus.COMPLETE.value
            and bundle.completed_at is not None
            and aware(bundle.completed_at) < now - CHECK_LEASE
        ):
            return False
        revision = bundle.revision
        evaluation = await session.get(Evaluation, bundle.evaluation_id)
        domain = evaluation.domain if evaluation is not None else ""
        is_dataset = bundle.kind == BundleKind.DATASET.value
        dataset, dataset_version = bundle.dataset or "", bundle.dataset_version or ""
        sizes = {f.filename: f.size_bytes or 0 for f in files}
        listing = [
            BundleFileEvent(path=f.filename, size_bytes=f.size_bytes or 0, sha256=f.sha256 or "")
            for f in sorted(files, key=lambda f: f.filename)
        ]
        evaluation_id, owner_id, version = bundle.evaluation_id, bundle.owner_id, bundle.version

    try:
        if is_dataset:
            problems = check_dataset_layout(sizes)
        else:
            problems = await check_bundle_layout(domain, sizes, _reader(store, bundle_id, sizes))
    except Exception:
        # The upload itself succeeded; the bundle stays ``complete`` and is checked again
        # when the CLI next lists the files (after CHECK_LEASE).
        log.exception("bundle layout check failed", extra={"bundle_id": str(bundle_id)})
        return False

    async with db.transaction() as session:
        recorded = await session.execute(
            update(Bundle)
            .where(
                Bundle.id == bundle_id,
                Bundle.status == BundleStatus.COMPLETE.value,
                Bundle.revision == revision,
            )
            .values(
                status=(BundleStatus.INVALID if problems else BundleStatus.VALID).value,
                problems=problems,
            )
        )
        if recorded.rowcount != 1:  # type: ignore[attr-defined]
            return False  # the files changed meanwhile; the newer set gets its own check
        event: BaseModel
        if is_dataset:
            # The file table goes to eval-api, where the administrator registers the version.
            kind = "dataset_upload.ready"
            event = DatasetUploadReady(
                upload_id=bundle_id,
                owner_id=owner_id,
                dataset=dataset,
                version=dataset_version,
                valid=not problems,
                problems=problems,
                files=listing,
            )
        else:
            kind = "bundle.ready"
            event = BundleReady(
                evaluation_id=evaluation_id,
                owner_id=owner_id,
                bundle_id=bundle_id,
                version=version,
                valid=not problems,
                problems=problems,
                files=listing,
            )
        await messaging.enqueue(
            session,
            new_envelope(kind, event, producer=PRODUCER, correlation_id=get_correlation_id()),
        )
    return True


async def resume_unfinished(*, db: Database, store: ObjectStore, bundle_id: uuid.UUID) -> None:
    """Finish what a crashed process left half done: files whose chunks are all in but that
    were never (or never completely) assembled, and bundles whose layout was never checked."""
    async with db.transaction() as session:
        stale = utcnow() - ASSEMBLY_LEASE
        pending = [
            f.id
            for f in await repository.unfinished_files(session, bundle_id)
            if f.missing_chunks == 0
            and (
                f.status == FileStatus.UPLOADING.value
                or (f.assembling_since is not None and aware(f.assembling_since) < stale)
            )
        ]
    for file_id in pending:
        try:
            await finish_file(db=db, store=store, file_id=file_id)
        except (StorageError, ObjectNotFound):
            log.exception("resuming a file's assembly failed", extra={"file_id": file_id})
    await finish_bundle(db=db, store=store, bundle_id=bundle_id, recheck=True)


# -- op_file: ls and rm ---------------------------------------------------------------------------


async def list_path(
    *, db: Database, token: str | None, path: str
) -> tuple[list[ProtocolFile], bool]:
    """``ls``: the files at or under ``path`` ("" for all), and whether targets/ may change."""
    async with db.transaction() as session:
        token_row = await authenticate(session=session, token=token)
        files = await _listing(session, token_row.bundle_id, normalize_remote_path(path))
        return files, token_row.can_send_targets


async def remove_path(*, db: Database, store: ObjectStore, token: str | None, path: str) -> int:
    """``rm``: remove the file ``path`` or everything under the folder ``path``; how many."""
    path = normalize_remote_path(path)
    leftovers = Leftovers()
    async with db.transaction() as session:
        token_row = await authenticate(session=session, token=token)
        if not path:
            raise Unprocessable("Give the path of the file or folder to remove.")
        bundle = await session.get(Bundle, token_row.bundle_id, with_for_update=True)
        if bundle is None:
            raise NotFound("The bundle of this upload token no longer exists.")
        refuse_if_sealed(bundle)
        files = await repository.files_of(session, bundle.id)
        matched = [f for f in files if under(f.filename, path)]
        if not matched:
            raise NotFound(f"There is no file or folder {shown(path)} in this bundle.")
        if not token_row.can_send_targets:
            for f in matched:
                if is_target(f.filename):
                    raise Forbidden(TARGETS_PROTECTED.format(name=shown(f.filename)))
        for f in matched:
            leftovers.add_file(f)
        await repository.delete_files(session, [f.id for f in matched])
        bundle.status = BundleStatus.UPLOADING.value
        bundle.revision += 1
        bundle.problems = []
        bundle.completed_at = None
        bundle.total_bytes = sum(
            f.size_bytes if f.size_bytes is not None else f.size_kb * 1024
            for f in files
            if not under(f.filename, path)
        )
        bundle_id = bundle.id
    await leftovers.delete(store)
    # What is left may be complete (and needs its layout checked again).
    await finish_bundle(db=db, store=store, bundle_id=bundle_id)
    return len(matched)


# -- platform API ---------------------------------------------------------------------------------


async def list_bundles(
    *, session: AsyncSession, identity: Identity, evaluation_id: uuid.UUID
) -> list[BundleOut]:
    """The caller's evaluation's bundle versions, newest first, with files and problems."""
    await get_owned(session=session, evaluation_id=evaluation_id, user_id=identity.user_id)
    bundles = list(
        await session.scalars(
            select(Bundle)
            .where(Bundle.evaluation_id == evaluation_id)
            .order_by(Bundle.version.desc())
        )
    )
    files: dict[uuid.UUID, list[BundleFile]] = {b.id: [] for b in bundles}
    if bundles:
        rows = await session.scalars(
            select(BundleFile)
            .where(BundleFile.bundle_id.in_(list(files)))
            .order_by(BundleFile.filename)
        )
        for f in rows:
            files[f.bundle_id].append(f)
    return [
        BundleOut(
            id=b.id,
            version=b.version,
            status=b.status,
            total_bytes=b.total_bytes,
            files=[
                BundleFileOut(path=f.filename, size_bytes=f.size_bytes, sha256=f.sha256)
                for f in files[b.id]
            ],
            problems=list(b.problems or []),
            created_at=aware(b.created_at),
            completed_at=aware(b.completed_at) if b.completed_at else None,
        )
        for b in bundles
    ]
