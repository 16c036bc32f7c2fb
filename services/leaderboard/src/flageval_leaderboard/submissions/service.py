"""Publishing a run to its domain's board, withdrawing it, and an administrator hiding it.

Rules (SPEC §2 "Leaderboard submission"):

- Only the run's owner publishes, reads the submission state, or withdraws; anyone else is
  told the run does not exist (404), as eval-api does for other people's runs.
- Only a succeeded formal run is published (409 ``run_not_formal`` / ``run_not_succeeded``);
  a run whose ``run.finished`` the board has not heard yet gets 409 ``run_not_finished``
  (try again in a moment; events arrive within seconds).
- Once per run: a second submission is 409 ``already_published``. Withdrawing takes the entry
  off the board and allows publishing it again later (it is the owner's own result). An entry
  an administrator hid stays hidden: it can be withdrawn but not published again
  (409 ``entry_hidden``) until an administrator unhides it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts.enums import RunKind, RunStatus
from flageval_contracts.events import RunFinished
from flageval_leaderboard.boards.metrics import better, primary_score
from flageval_leaderboard.boards.service import bump_revision
from flageval_leaderboard.models import Entry, KnownRun, aware, utcnow
from flageval_platform.errors import Conflict, NotFound
from flageval_platform.identity import Identity


def _not_found() -> NotFound:
    return NotFound("Run not found")


async def owned_run(*, session: AsyncSession, run_id: uuid.UUID, identity: Identity) -> KnownRun:
    """The caller's run, or 404 (unknown to the board, or someone else's)."""
    run = await session.get(KnownRun, run_id)
    if run is None or run.owner_id != identity.user_id:
        raise _not_found()
    return run


def publishable(run: KnownRun) -> RunFinished:
    """The run's result when it may be published, else the 409 that says why not."""
    if run.finished is None:
        raise Conflict(
            "This run has not finished yet (or its result is still on its way to the "
            "leaderboard); try again in a moment.",
            code="run_not_finished",
        )
    result = RunFinished.model_validate(run.finished)
    if result.kind != RunKind.FORMAL:
        raise Conflict(
            "Only formal runs can be published; this is a validation run.",
            code="run_not_formal",
        )
    if result.status != RunStatus.SUCCEEDED:
        raise Conflict(
            f"Only succeeded runs can be published; this run {result.status.value}.",
            code="run_not_succeeded",
        )
    return result


def _scores(result: RunFinished, catalog: Mapping[str, str]) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for dataset in result.datasets:
        if dataset.status != "succeeded":
            continue
        metric, value = primary_score(dataset.metrics, catalog.get(dataset.dataset))
        if metric is None or value is None:
            continue  # nothing to compare (a human evaluation still being graded)
        scores[dataset.dataset] = {
            "task": dataset.task,
            "metric": metric,
            "better": better(metric),
            "value": value,
        }
    return scores


def reproducibility(result: RunFinished) -> dict[str, Any]:
    """What someone needs to reproduce the entry (nothing about the person)."""
    return {
        "bundle_sha256": result.bundle_sha256,
        "image": result.image,
        "datasets": [
            {
                "task": d.task,
                "dataset": d.dataset,
                "version": d.dataset_version,
                "sha256": d.dataset_sha256,
            }
            for d in result.datasets
            if d.status == "succeeded"
        ],
        "generation": result.generation,
        "platform_version": result.platform_version,
        "finished_at": result.finished_at.isoformat() if result.finished_at else None,
    }


async def _entry_of(session: AsyncSession, run_id: uuid.UUID) -> Entry | None:
    return await session.scalar(select(Entry).where(Entry.run_id == run_id))


async def submit(
    *,
    session: AsyncSession,
    run_id: uuid.UUID,
    identity: Identity,
    mode: str,
    catalog: Mapping[str, str],
) -> Entry:
    """Publish the caller's run (``catalog``: dataset id → its primary metric)."""
    run = await owned_run(session=session, run_id=run_id, identity=identity)
    result = publishable(run)
    entry = await _entry_of(session, run_id)
    if entry is not None:
        if entry.hidden_at is not None:
            raise Conflict(
                "An administrator hid this run's entry; it cannot be published again.",
                code="entry_hidden",
                reason=entry.hidden_reason,
            )
        if entry.withdrawn_at is None:
            raise Conflict("This run is already on the leaderboard.", code="already_published")
    else:
        entry = Entry(run_id=run_id, owner_id=identity.user_id, domain=result.domain.value)
        session.add(entry)
    entry.mode = mode
    entry.model_name = (result.model_name or result.evaluation_name or "")[:200]
    entry.username = (result.submitter or identity.username)[:200]
    entry.scores = _scores(result, catalog)
    entry.reproducibility = reproducibility(result)
    entry.submitted_at = utcnow()
    entry.withdrawn_at = None
    try:
        await session.flush()
    except IntegrityError:
        # A concurrent submission of the same run won (entries.run_id is unique).
        raise Conflict(
            "This run is already on the leaderboard.", code="already_published"
        ) from None
    await bump_revision(session, entry.domain)
    return entry


async def withdraw(*, session: AsyncSession, run_id: uuid.UUID, identity: Identity) -> Entry:
    """Take the caller's entry off the board."""
    await owned_run(session=session, run_id=run_id, identity=identity)
    entry = await _entry_of(session, run_id)
    if entry is None or entry.withdrawn_at is not None:
        raise Conflict("This run is not on the leaderboard.", code="not_published")
    entry.withdrawn_at = utcnow()
    await bump_revision(session, entry.domain)
    return entry


async def state(*, session: AsyncSession, run_id: uuid.UUID, identity: Identity) -> dict[str, Any]:
    """The owner's view of their run's submission (with the reason when an admin hid it)."""
    run = await owned_run(session=session, run_id=run_id, identity=identity)
    entry = await _entry_of(session, run_id)
    refusal: Conflict | None = None
    try:
        publishable(run)
    except Conflict as exc:
        refusal = exc
    return owner_view(run_id, entry, refusal)


def _iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value is not None else None


def owner_view(
    run_id: uuid.UUID, entry: Entry | None, refusal: Conflict | None = None
) -> dict[str, Any]:
    can_publish = refusal is None and (
        entry is None or (entry.withdrawn_at is not None and entry.hidden_at is None)
    )
    view: dict[str, Any] = {
        "run_id": str(run_id),
        "status": entry.state if entry is not None else "not_submitted",
        "can_publish": can_publish,
        "why_not": refusal.message if refusal is not None else None,
        "entry_id": None,
        "domain": None,
        "mode": None,
        "submitted_at": None,
        "withdrawn_at": None,
        "hidden_at": None,
        "hidden_reason": None,
    }
    if entry is not None:
        view.update(
            entry_id=str(entry.id),
            domain=entry.domain,
            mode=entry.mode,
            submitted_at=_iso(entry.submitted_at),
            withdrawn_at=_iso(entry.withdrawn_at),
            hidden_at=_iso(entry.hidden_at),
            hidden_reason=entry.hidden_reason,
        )
    return view


def admin_view(entry: Entry) -> dict[str, Any]:
    """An entry as administrators see it (with the owner and the run)."""
    return {
        "id": str(entry.id),
        "run_id": str(entry.run_id),
        "owner_id": str(entry.owner_id),
        "username": entry.username,
        "domain": entry.domain,
        "mode": entry.mode,
        "model_name": entry.model_name,
        "status": entry.state,
        "submitted_at": _iso(entry.submitted_at),
        "withdrawn_at": _iso(entry.withdrawn_at),
        "hidden_at": _iso(entry.hidden_at),
        "hidden_reason": entry.hidden_reason,
        "hidden_by": str(entry.hidden_by) if entry.hidden_by else None,
    }


async def hide(
    *, session: AsyncSession, entry_id: uuid.UUID, admin: Identity, reason: str
) -> Entry:
    """Hide an entry from the public board, with a reason its owner sees (again: new reason)."""
    entry = await session.get(Entry, entry_id)
    if entry is None:
        raise NotFound("Leaderboard entry not found")
    entry.hidden_at = utcnow()
    entry.hidden_reason = reason
    entry.hidden_by = admin.user_id
    await bump_revision(session, entry.domain)
    return entry


async def unhide(*, session: AsyncSession, entry_id: uuid.UUID) -> Entry:
    entry = await session.get(Entry, entry_id)
    if entry is None:
        raise NotFound("Leaderboard entry not found")
    entry.hidden_at = None
    entry.hidden_reason = None
    entry.hidden_by = None
    await bump_revision(session, entry.domain)
    return entry


async def list_entries(
    *, session: AsyncSession, domain: str | None, status: str | None, limit: int, offset: int
) -> list[Entry]:
    query = select(Entry).order_by(Entry.submitted_at.desc(), Entry.id).limit(limit)
    if domain is not None:
        query = query.where(Entry.domain == domain)
    if status == "published":
        query = query.where(Entry.withdrawn_at.is_(None), Entry.hidden_at.is_(None))
    elif status == "hidden":
        query = query.where(Entry.hidden_at.is_not(None))
    elif status == "withdrawn":
        query = query.where(Entry.withdrawn_at.is_not(None), Entry.hidden_at.is_(None))
    return list((await session.scalars(query.offset(offset))).all())
