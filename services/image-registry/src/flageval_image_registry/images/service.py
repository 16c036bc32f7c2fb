"""Images: presets, import requests with Dockerfile findings, admin review and import.

Functions take the session explicitly and never import FastAPI. State changes others must hear
about (``image.reviewed``, ``image.available``, ``image.imported``) are enqueued through the
outbox in the same transaction as the change.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope, new_envelope
from flageval_contracts.enums import ReviewDecision
from flageval_contracts.events import ImageAvailable, ImageImported, ImageReviewed
from flageval_image_registry.dockerfile import review_dockerfile
from flageval_image_registry.images.models import Image, ImageStatus, utcnow
from flageval_image_registry.images.presets import PRESETS, PresetImage
from flageval_image_registry.images.schemas import ImageCreate, ReviewRequest
from flageval_platform.db import Database
from flageval_platform.errors import Conflict, NotFound
from flageval_platform.logging import get_correlation_id
from flageval_platform.outbox import Messaging

log = logging.getLogger(__name__)

#: Base images the Dockerfile review accepts besides nvcr.io/nvidia: what the presets are built on.
CANDIDATES = tuple(sorted({p.source_url for p in PRESETS}))

PRODUCER = "image-registry"
#: Namespace of the deterministic message ids (a redelivered or re-enqueued event keeps its id).
MESSAGE_NAMESPACE = uuid.UUID("0c8e7f4a-9b1d-4f7e-8a3c-2d6b5e4f1a90")


class ImageNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such image.", code="image_not_found")


class DuplicateImage(Conflict):
    def __init__(self, name: str, tag: str) -> None:
        super().__init__(
            f"You already have an image '{name}:{tag}' (pending, approved or imported); "
            "choose another name or tag.",
            code="image_exists",
        )


class NotPendingReview(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"Only images pending review can be reviewed; this one is '{status}'.",
            code="not_pending_review",
            status=status,
        )


def _event(kind: str, payload: BaseModel, *, key: str | None = None) -> Envelope:
    envelope = new_envelope(kind, payload, producer=PRODUCER, correlation_id=get_correlation_id())
    if key is not None:
        envelope = envelope.model_copy(update={"id": uuid.uuid5(MESSAGE_NAMESPACE, key)})
    return envelope


def _parse_id(image_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return image_id if isinstance(image_id, uuid.UUID) else uuid.UUID(image_id)
    except ValueError as exc:
        raise ImageNotFound from exc


def _finding(finding: Any) -> dict[str, Any]:
    severity = finding.severity
    return {
        "line": finding.line,
        "severity": str(getattr(severity, "value", severity)),
        "rule": finding.rule,
        "message": finding.message,
        "hint": finding.hint,
    }


def default_tag(timezone: str, now: datetime | None = None) -> str:
    """The tag of a request that gives none: its time in the platform timezone."""
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).strftime("%Y%m%d-%H%M%S")


# Presets ---------------------------------------------------------------------------------------


def preset_available_key(preset: PresetImage) -> str:
    return f"image.available/preset/{preset.id}"


async def seed_presets(
    *, session: AsyncSession, messaging: Messaging, presets: Sequence[PresetImage] = PRESETS
) -> int:
    """Insert or update every preset row, and enqueue ``image.available`` for each preset whose
    event is not in the outbox yet (deterministic message ids: never twice). Returns how many
    events were enqueued."""
    for preset in presets:
        values = {
            "preset": True,
            "owner_id": None,
            "name": preset.name,
            "tag": preset.tag,
            "description": preset.description,
            "framework": preset.framework,
            "card_types": list(preset.card_types),
            "tags": list(preset.tags),
            "domain": preset.domain.value,
            "import_mode": "public",
            "source_url": preset.source_url,
            "findings": [],
            "status": ImageStatus.IMPORTED.value,
            "registry_ref": preset.source_url,
        }
        row = await session.get(Image, preset.id)
        if row is None:
            session.add(Image(id=preset.id, created_at=utcnow(), **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
    await session.flush()

    keys = {uuid.uuid5(MESSAGE_NAMESPACE, preset_available_key(p)): p for p in presets}
    outbox = messaging.outbox
    already = set(
        (
            await session.execute(
                select(outbox.c.message_id).where(outbox.c.message_id.in_(list(keys)))
            )
        ).scalars()
    )
    enqueued = 0
    for message_id, preset in keys.items():
        if message_id in already:
            continue
        payload = ImageAvailable(
            image_id=preset.id, owner_id=None, name=preset.name, tag=preset.tag, preset=True
        )
        await messaging.enqueue(
            session, _event("image.available", payload, key=preset_available_key(preset))
        )
        enqueued += 1
    return enqueued


# Users -----------------------------------------------------------------------------------------


async def list_presets(*, session: AsyncSession) -> list[Image]:
    query = select(Image).where(Image.preset.is_(True)).order_by(Image.domain, Image.name)
    return list((await session.scalars(query)).all())


async def list_mine(*, session: AsyncSession, owner_id: uuid.UUID) -> list[Image]:
    query = (
        select(Image)
        .where(Image.preset.is_(False), Image.owner_id == owner_id)
        .order_by(Image.created_at.desc(), Image.id)
    )
    return list((await session.scalars(query)).all())


async def get_mine(
    *, session: AsyncSession, owner_id: uuid.UUID, image_id: str | uuid.UUID
) -> Image:
    """The caller's custom image; anyone else's is reported as missing."""
    image = await session.get(Image, _parse_id(image_id))
    if image is None or image.preset or image.owner_id != owner_id:
        raise ImageNotFound
    return image


async def create(
    *,
    session: AsyncSession,
    owner_id: uuid.UUID,
    owner_username: str,
    body: ImageCreate,
    timezone: str,
) -> Image:
    """Record an import request with its Dockerfile findings, pending an admin's review."""
    now = utcnow()
    tag = body.tag or default_tag(timezone, now)
    live = await session.scalar(
        select(Image.id).where(
            Image.owner_id == owner_id,
            Image.name == body.name,
            Image.tag == tag,
            Image.status != ImageStatus.REJECTED.value,
        )
    )
    if live is not None:
        raise DuplicateImage(body.name, tag)
    image = Image(
        id=uuid.uuid4(),
        preset=False,
        owner_id=owner_id,
        owner_username=owner_username,
        name=body.name,
        tag=tag,
        description=body.description,
        card_types=[],
        tags=[],
        import_mode=body.import_mode,
        source_url=body.source_url,
        dockerfile=body.dockerfile,
        findings=[_finding(f) for f in review_dockerfile(body.dockerfile, candidates=CANDIDATES)],
        status=ImageStatus.PENDING_REVIEW.value,
        created_at=now,
    )
    session.add(image)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request with the same name:tag won
        raise DuplicateImage(body.name, tag) from exc
    return image


# Admins ----------------------------------------------------------------------------------------


async def list_for_review(
    *, session: AsyncSession, status: ImageStatus | None, limit: int, offset: int
) -> list[Image]:
    """Custom images, oldest first (the review queue order)."""
    query = select(Image).where(Image.preset.is_(False))
    if status is not None:
        query = query.where(Image.status == status.value)
    query = query.order_by(Image.created_at, Image.id).limit(limit).offset(offset)
    return list((await session.scalars(query)).all())


async def get_any(*, session: AsyncSession, image_id: str | uuid.UUID) -> Image:
    image = await session.get(Image, _parse_id(image_id))
    if image is None or image.preset:
        raise ImageNotFound
    return image


async def review(
    *,
    session: AsyncSession,
    messaging: Messaging,
    reviewer_id: uuid.UUID,
    image_id: str | uuid.UUID,
    body: ReviewRequest,
) -> Image:
    """Approve or reject a pending image. The update is conditional on ``pending_review``, so of
    two admins deciding at once exactly one succeeds and the other gets 409."""
    ident = _parse_id(image_id)
    approve = body.decision == ReviewDecision.APPROVE
    status = ImageStatus.APPROVED if approve else ImageStatus.REJECTED
    result = await session.execute(
        update(Image)
        .where(
            Image.id == ident,
            Image.preset.is_(False),
            Image.status == ImageStatus.PENDING_REVIEW.value,
        )
        .values(
            status=status.value, reason=body.reason, reviewed_by=reviewer_id, reviewed_at=utcnow()
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        current = await session.get(Image, ident)
        if current is None or current.preset:
            raise ImageNotFound
        raise NotPendingReview(current.status)
    image = await session.get(Image, ident, populate_existing=True)
    assert image is not None and image.owner_id is not None
    reviewed = ImageReviewed(
        image_id=image.id,
        owner_id=image.owner_id,
        name=image.name,
        tag=image.tag,
        decision=body.decision,
        reason=body.reason,
    )
    await messaging.enqueue(
        session, _event("image.reviewed", reviewed, key=f"image.reviewed/{image.id}")
    )
    if approve:
        available = ImageAvailable(
            image_id=image.id, owner_id=image.owner_id, name=image.name, tag=image.tag, preset=False
        )
        await messaging.enqueue(
            session, _event("image.available", available, key=f"image.available/{image.id}")
        )
    return image


# Import ----------------------------------------------------------------------------------------


class Importer(Protocol):
    """Copies an approved image into the platform registry; returns the reference to pull."""

    async def import_image(self, image: Image) -> str: ...


class RegistryReferenceImporter:
    """Records where the image lives in the platform registry: ``{prefix}/{owner}/{name}:{tag}``.

    It copies nothing: in a cluster deployment the copy from the public source is a Kubernetes
    job (skopeo/crane) that the operator runs; that is out of scope here. Deterministic, so
    calling it again for the same image gives the same reference.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")

    async def import_image(self, image: Image) -> str:
        assert image.owner_id is not None
        return f"{self.prefix}/{image.owner_id.hex[:12]}/{image.name}:{image.tag}"


async def mark_imported(
    *, session: AsyncSession, messaging: Messaging, image: Image, reference: str
) -> bool:
    """``approved`` → ``imported`` with ``reference``, and ``image.imported`` enqueued; a no-op
    (False) when the image is no longer ``approved`` (another worker finished it)."""
    result = await session.execute(
        update(Image)
        .where(Image.id == image.id, Image.status == ImageStatus.APPROVED.value)
        .values(status=ImageStatus.IMPORTED.value, registry_ref=reference, imported_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    assert image.owner_id is not None
    payload = ImageImported(
        image_id=image.id, owner_id=image.owner_id, name=image.name, tag=image.tag
    )
    await messaging.enqueue(
        session, _event("image.imported", payload, key=f"image.imported/{image.id}")
    )
    return True


class ImportWorker:
    """Imports approved images in the background of this process.

    :meth:`kick` runs after the approval has committed; :meth:`resume` (at startup) picks up
    images a crash or restart left ``approved``. Each import is idempotent: the final update is
    conditional on ``approved``, and a failed import leaves the image ``approved`` for a retry.
    """

    def __init__(self, db: Database, messaging: Messaging, importer: Importer) -> None:
        self.db = db
        self.messaging = messaging
        self.importer = importer
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    def kick(self, image_id: uuid.UUID) -> None:
        if image_id in self._tasks:
            return
        task = asyncio.create_task(self._run(image_id), name=f"image-import-{image_id}")
        self._tasks[image_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(image_id, None))

    async def resume(self) -> None:
        async with self.db.transaction() as session:
            ids = (
                await session.scalars(
                    select(Image.id).where(Image.status == ImageStatus.APPROVED.value)
                )
            ).all()
        for image_id in ids:
            self.kick(image_id)

    async def import_one(self, image_id: uuid.UUID) -> bool:
        async with self.db.transaction() as session:
            image = await session.get(Image, image_id)
        if image is None or image.status != ImageStatus.APPROVED.value:
            return False
        reference = await self.importer.import_image(image)
        async with self.db.transaction() as session:
            return await mark_imported(
                session=session, messaging=self.messaging, image=image, reference=reference
            )

    async def _run(self, image_id: uuid.UUID) -> None:
        try:
            await self.import_one(image_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # stays approved; resumed at the next start
            log.exception("image import failed", extra={"image_id": str(image_id)})

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until every import started so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
