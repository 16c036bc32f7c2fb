"""Starting, stopping and reading runs, and applying what the scheduler reports about them.

State machines (SPEC §2): a run moves ``queued → starting → running → succeeded | failed |
stopped`` and never leaves a terminal state; a dataset step ``pending → running → succeeded |
failed | skipped``. Reports arrive as events that may be redelivered or late, so applying one is
always "move forward if that is a legal step, else ignore".
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope, new_envelope
from flageval_contracts.enums import Domain, FailureCause, Priority, RunKind, RunStatus
from flageval_contracts.events import (
    BundleReady,
    DatasetResult,
    RunApi,
    RunBundle,
    RunDataset,
    RunFinished,
    RunProgress,
    RunRequested,
    RunStatusChanged,
    RunStopRequested,
)
from flageval_eval_api.catalog.service import DomainCatalog, load_catalog
from flageval_eval_api.evaluations import service as evaluations
from flageval_eval_api.evaluations.models import Evaluation
from flageval_eval_api.images.models import AvailableImage
from flageval_eval_api.runs.models import BundleVersion, Run, RunDatasetRow, RunSampleRow
from flageval_platform.db import Database
from flageval_platform.errors import Conflict, NotFound, Unprocessable
from flageval_platform.identity import Identity
from flageval_platform.logging import get_correlation_id
from flageval_platform.outbox import Messaging
from flageval_platform.peers import Peers

log = logging.getLogger(__name__)


def _platform_version() -> str:
    try:
        return importlib.metadata.version("flageval-eval-api")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


PRODUCER = "eval-api"
PLATFORM_VERSION = _platform_version()
PRIORITY_RANK = {Priority.HIGH.value: 0, Priority.MEDIUM.value: 1, Priority.LOW.value: 2}
ACTIVE = (RunStatus.QUEUED.value, RunStatus.STARTING.value, RunStatus.RUNNING.value)
TERMINAL = (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value, RunStatus.STOPPED.value)
_STATUS_RANK = {
    RunStatus.QUEUED.value: 0,
    RunStatus.STARTING.value: 1,
    RunStatus.RUNNING.value: 2,
    **{status: 3 for status in TERMINAL},
}
DATASET_FINAL = ("succeeded", "failed", "skipped")
#: How the runner generates; recorded on every run (and shown on its leaderboard card).
GENERATION = {"max_new_tokens": 64, "seed": 0, "temperature": 0.0}
#: What an ETA assumes a run takes before any run has finished.
DEFAULT_RUN_SECONDS = 600.0
_INSERT_ATTEMPTS = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they are UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def iso(moment: datetime | None) -> str | None:
    value = aware(moment)
    return value.isoformat() if value else None


# -- bundles (read model of bundle.ready) --------------------------------------------------------


def bundle_digest(files: list[dict[str, Any]]) -> str:
    """One sha256 naming a bundle's content: over the sorted ``path\\tsha256`` lines."""
    lines = "".join(f"{f['path']}\t{f['sha256']}\n" for f in sorted(files, key=lambda f: f["path"]))
    return hashlib.sha256(lines.encode()).hexdigest()


async def record_bundle(session: AsyncSession, envelope: Envelope) -> None:
    """Consumer of ``bundle.ready``: an upsert (a re-uploaded version is checked again)."""
    event = BundleReady.model_validate(envelope.payload)
    row = await session.get(BundleVersion, event.bundle_id)
    if row is None:
        row = BundleVersion(bundle_id=event.bundle_id)
        session.add(row)
    files = [f.model_dump() for f in event.files]
    row.evaluation_id, row.owner_id, row.version = (
        event.evaluation_id,
        event.owner_id,
        event.version,
    )
    row.valid, row.problems, row.files = event.valid, list(event.problems), files
    row.sha256 = bundle_digest(files)
    row.recorded_at = utcnow()


async def _pinned_bundle(session: AsyncSession, evaluation_id: uuid.UUID) -> BundleVersion:
    """The newest checked bundle version, which must be valid (409 with the reason otherwise)."""
    newest = await session.scalar(
        select(BundleVersion)
        .where(BundleVersion.evaluation_id == evaluation_id)
        .order_by(BundleVersion.version.desc(), BundleVersion.recorded_at.desc())
        .limit(1)
    )
    if newest is None:
        raise Conflict(
            "This evaluation has no checked model bundle yet: create an upload token and "
            "upload your model and code with flageval-serving, then start the run.",
            code="no_valid_bundle",
        )
    if not newest.valid:
        raise Conflict(
            f"Bundle version {newest.version} did not pass the layout checks; fix it and "
            "upload again.",
            code="bundle_invalid",
            version=newest.version,
            problems=list(newest.problems),
        )
    return newest


# -- starting a run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What a new run of one evaluation will be, read in one transaction."""

    evaluation: Evaluation
    steps: list[RunDataset]
    bundle: BundleVersion | None
    image: str | None
    charges: list[str]


def _steps(evaluation: Evaluation, domain: DomainCatalog) -> list[RunDataset]:
    pairs: list[tuple[str, str]] = []
    if evaluation.datasets is not None:
        pairs = [(domain.task_of(d).id, d) for d in evaluation.datasets if d in domain.datasets]
    for chosen in evaluation.tasks or []:
        pairs += [(chosen["task"], d) for d in chosen.get("datasets") or []]
    seen: set[str] = set()
    steps = []
    for task, dataset in pairs:
        if dataset in seen:
            continue
        seen.add(dataset)
        # demo:<id> for the runner's demo data, datasets/<name>/<version> (the current version)
        # for registered ones, None where the platform has no data.
        known = domain.datasets.get(dataset)
        source = known.source if known is not None else None
        steps.append(RunDataset(task=task, dataset=dataset, source=source))
    return steps


async def _plan(
    session: AsyncSession, identity: Identity, evaluation_id: str, kind: RunKind
) -> _Plan:
    evaluation = await evaluations.get(
        session=session, owner_id=identity.user_id, evaluation_id=evaluation_id
    )
    catalog = await load_catalog(session=session)
    domain = catalog.domains[evaluation.domain]
    if kind == RunKind.VALIDATION and not domain.has_validation:
        raise Unprocessable(
            f"{evaluation.domain} evaluations have no inference validation: start a formal run.",
            code="no_validation",
        )
    steps = _steps(evaluation, domain)
    if not steps:
        raise Unprocessable("This evaluation has no datasets to run.", code="no_datasets")
    # Checked again here, before anything is charged: data may never have been attached to a
    # dataset chosen before this check existed, or the dataset may have left the catalog.
    without = [s.dataset for s in steps if s.source is None]
    if without:
        raise Unprocessable(
            "The platform has no data for "
            + ", ".join(f"dataset '{d}'" for d in without)
            + " yet; edit the evaluation to choose datasets that have data.",
            code="dataset_without_data",
            datasets=without,
        )
    bundle = image = None
    if evaluation.deploy_mode == "private":
        bundle = await _pinned_bundle(session, evaluation.id)
        if evaluation.image_id:
            try:
                row = await session.get(AvailableImage, uuid.UUID(evaluation.image_id))
            except ValueError:
                row = None
            if row is None:
                raise Conflict(
                    "The evaluation's image is no longer available; choose another one.",
                    code="image_unavailable",
                )
            image = f"{row.name}:{row.tag}"
    await _refuse_second_active(session, evaluation.id)
    charges: list[str] = []
    if kind == RunKind.FORMAL:
        charges.append("formal_run")
        if any(
            domain.datasets[s.dataset].subjective for s in steps if s.dataset in domain.datasets
        ):
            charges.append("human_evaluation")
    return _Plan(evaluation, steps, bundle, image, charges)


async def _refuse_second_active(session: AsyncSession, evaluation_id: uuid.UUID) -> None:
    active = await session.scalar(
        select(Run.version).where(Run.active_evaluation_id == evaluation_id)
    )
    if active is not None:
        raise Conflict(
            f"Run version {active} of this evaluation is still in progress; wait for it to "
            "finish or stop it first.",
            code="run_in_progress",
            version=active,
        )


def _new_run(plan: _Plan, run_id: uuid.UUID, identity: Identity, kind: RunKind) -> Run:
    evaluation = plan.evaluation
    priority = evaluation.priority or Priority.MEDIUM.value
    now = utcnow()
    return Run(
        id=run_id,
        evaluation_id=evaluation.id,
        active_evaluation_id=evaluation.id,
        owner_id=evaluation.owner_id,
        evaluation_name=evaluation.name,
        domain=evaluation.domain,
        kind=kind.value,
        status=RunStatus.QUEUED.value,
        submitter=identity.username,
        submitter_id=identity.user_id,
        deploy_mode=evaluation.deploy_mode,
        priority=priority,
        priority_rank=PRIORITY_RANK.get(priority, 1),
        image=plan.image,
        model_name=evaluation.api_model_name or evaluation.name,
        bundle_id=plan.bundle.bundle_id if plan.bundle else None,
        bundle_version=plan.bundle.version if plan.bundle else None,
        bundle_sha256=plan.bundle.sha256 if plan.bundle else None,
        charged=list(plan.charges),
        generation=dict(GENERATION),
        attempt=1,
        created_at=now,
        updated_at=now,
    )


def _requested(plan: _Plan, run: Run) -> RunRequested:
    evaluation = plan.evaluation
    bundle = plan.bundle
    return RunRequested(
        run_id=run.id,
        evaluation_id=run.evaluation_id,
        owner_id=run.owner_id,
        domain=Domain(run.domain),
        kind=RunKind(run.kind),
        priority=Priority(run.priority),
        version=run.version,
        evaluation_name=run.evaluation_name,
        submitter=run.submitter,
        deploy_mode=run.deploy_mode,
        datasets=plan.steps,
        robustness=bool(evaluation.robustness),
        image=plan.image,
        card_type=evaluation.card_type,
        gpus=evaluation.gpus or 0,
        bundle=(
            RunBundle(
                bundle_id=bundle.bundle_id,
                version=bundle.version,
                sha256=bundle.sha256,
                files=bundle.files,  # type: ignore[arg-type]
            )
            if bundle
            else None
        ),
        api=(
            RunApi(
                endpoint=evaluation.api_endpoint,
                model_name=evaluation.api_model_name,
                api_key_encrypted=evaluation.api_key_encrypted,
            )
            if evaluation.deploy_mode == "api" and evaluation.api_endpoint
            else None
        ),
        charged=list(plan.charges),
        generation=dict(run.generation or GENERATION),
    )


async def _insert(
    db: Database,
    messaging: Messaging,
    plan: _Plan,
    run_id: uuid.UUID,
    identity: Identity,
    kind: RunKind,
) -> Run:
    """Insert the run with the next version number, its steps and ``run.requested``; the unique
    constraints decide concurrent starts (a lost version race is retried)."""
    for _ in range(_INSERT_ATTEMPTS):
        try:
            async with db.transaction() as session:
                await _refuse_second_active(session, plan.evaluation.id)
                last = await session.scalar(
                    select(func.max(Run.version)).where(Run.evaluation_id == plan.evaluation.id)
                )
                run = _new_run(plan, run_id, identity, kind)
                run.version = (last or 0) + 1
                session.add(run)
                await session.flush()
                session.add_all(
                    RunDatasetRow(
                        run_id=run.id,
                        position=i,
                        task=step.task,
                        dataset=step.dataset,
                        status="pending",
                        metrics={},
                    )
                    for i, step in enumerate(plan.steps)
                )
                await messaging.enqueue(
                    session,
                    new_envelope(
                        "run.requested",
                        _requested(plan, run),
                        producer=PRODUCER,
                        correlation_id=get_correlation_id(),
                    ),
                )
            return run
        except IntegrityError:
            async with db.transaction() as session:
                await _refuse_second_active(session, plan.evaluation.id)
    raise Conflict("Too many runs were started at once; try again.", code="busy")


async def start_run(
    *,
    db: Database,
    messaging: Messaging,
    peers: Peers,
    identity: Identity,
    evaluation_id: str,
    kind: RunKind,
) -> Run:
    """Accept a run: check it can run, charge the quota (formal runs, immediately, through the
    scheduler), then store it with ``run.requested``. A charge whose run could not be stored is
    given back."""
    async with db.transaction() as session:
        plan = await _plan(session, identity, evaluation_id, kind)
    run_id = uuid.uuid4()
    charged: list[str] = []
    try:
        for quota_kind in plan.charges:
            await peers.call(
                "scheduler",
                "POST",
                "/internal/quota/charges",
                identity=identity,
                json={"kind": quota_kind, "run_id": str(run_id)},
            )
            charged.append(quota_kind)
        return await _insert(db, messaging, plan, run_id, identity, kind)
    except BaseException:
        for quota_kind in charged:
            try:
                await peers.call(
                    "scheduler",
                    "POST",
                    "/internal/quota/refunds",
                    identity=identity,
                    json={"kind": quota_kind, "run_id": str(run_id), "reason": "run_not_created"},
                )
            except Exception:
                log.exception("could not give back the charge of a run that was not created")
        raise


# -- reading -------------------------------------------------------------------------------------


async def own_run(session: AsyncSession, identity: Identity, run_id: str) -> Run:
    """The caller's run; 404 for a malformed id, a missing run or someone else's."""
    try:
        key = uuid.UUID(run_id)
    except ValueError:
        raise NotFound("Run not found") from None
    run = await session.get(Run, key)
    if run is None or run.owner_id != identity.user_id:
        raise NotFound("Run not found")
    return run


async def history(
    session: AsyncSession, identity: Identity, evaluation_id: str
) -> list[dict[str, Any]]:
    evaluation = await evaluations.get(
        session=session, owner_id=identity.user_id, evaluation_id=evaluation_id
    )
    rows = await session.scalars(
        select(Run).where(Run.evaluation_id == evaluation.id).order_by(Run.version.desc())
    )
    return [summary(run) for run in rows]


def summary(run: Run) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "evaluation_id": str(run.evaluation_id),
        "version": run.version,
        "kind": run.kind,
        "status": run.status,
        "submitter": run.submitter,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "failure": _failure(run),
    }


def _failure(run: Run) -> dict[str, Any] | None:
    if run.status != RunStatus.FAILED.value:
        return None
    return {"cause": run.failure_cause, "message": run.failure_message}


def task_averages(rows: list[RunDatasetRow]) -> dict[str, dict[str, float]]:
    """Per task, the mean of each numeric metric over its succeeded datasets (per-subject
    breakdowns such as ``accuracy/anatomy`` stay with their dataset)."""
    sums: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if row.status != "succeeded":
            continue
        for name, value in (row.metrics or {}).items():
            if "/" in name:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sums.setdefault(row.task, {}).setdefault(name, []).append(float(value))
    return {
        task: {name: sum(v) / len(v) for name, v in metrics.items()}
        for task, metrics in sums.items()
    }


async def _queue(session: AsyncSession, run: Run, slots: int) -> dict[str, Any] | None:
    if run.status != RunStatus.QUEUED.value:
        return None
    created = run.created_at
    ahead = await session.scalar(
        select(func.count())
        .select_from(Run)
        .where(
            Run.status == RunStatus.QUEUED.value,
            or_(
                Run.priority_rank < run.priority_rank,
                (Run.priority_rank == run.priority_rank) & (Run.created_at < created),
            ),
        )
    )
    recent = (
        await session.execute(
            select(Run.started_at, Run.finished_at)
            .where(Run.started_at.is_not(None), Run.finished_at.is_not(None))
            .order_by(Run.finished_at.desc())
            .limit(20)
        )
    ).all()
    durations = [
        (aware(f) - aware(s)).total_seconds()  # type: ignore[operator]
        for s, f in recent
    ]
    typical = sum(durations) / len(durations) if durations else DEFAULT_RUN_SECONDS
    position = int(ahead or 0) + 1
    return {
        "position": position,
        "eta_seconds": int(math.ceil(position / max(1, slots)) * typical),
    }


async def detail(session: AsyncSession, run: Run, *, slots: int) -> dict[str, Any]:
    """``GET /api/runs/{id}`` (SPEC §3)."""
    rows = list(
        await session.scalars(
            select(RunDatasetRow)
            .where(RunDatasetRow.run_id == run.id)
            .order_by(RunDatasetRow.position)
        )
    )
    samples = await session.scalars(
        select(RunSampleRow).where(RunSampleRow.run_id == run.id).order_by(RunSampleRow.id)
    )
    return {
        **summary(run),
        "evaluation_name": run.evaluation_name,
        "domain": run.domain,
        "deploy_mode": run.deploy_mode,
        "priority": run.priority,
        "attempt": run.attempt,
        "model_name": run.model_name,
        "image": run.image,
        "generation": run.generation or {},
        "bundle": (
            {"version": run.bundle_version, "sha256": run.bundle_sha256}
            if run.bundle_version is not None
            else None
        ),
        "stop_requested": run.stop_requested_at is not None,
        "datasets": [_dataset_out(row) for row in rows],
        "task_averages": task_averages(rows),
        "samples": [
            {
                "id": s.sample_id,
                "dataset": s.dataset,
                "sample": s.sample,
                "label": s.label,
                "predict": s.predict,
            }
            for s in samples
        ],
        "queue": await _queue(session, run, slots),
    }


def _dataset_out(row: RunDatasetRow) -> dict[str, Any]:
    return {
        "task": row.task,
        "dataset": row.dataset,
        "status": row.status,
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "metrics": row.metrics or {},
        "error": row.error,
        "dataset_version": row.dataset_version,
        "dataset_sha256": row.dataset_sha256,
    }


# -- stopping ------------------------------------------------------------------------------------


async def request_stop(
    *, session: AsyncSession, messaging: Messaging, identity: Identity, run_id: str
) -> Run:
    """Ask the scheduler to stop a queued or running run (``run.stop_requested``); asking twice
    is fine, a finished run is a 409."""
    run = await own_run(session, identity, run_id)
    if run.status in TERMINAL:
        raise Conflict(f"This run has already {run.status}.", code="run_finished")
    if run.stop_requested_at is None:
        run.stop_requested_at = utcnow()
        await messaging.enqueue(
            session,
            new_envelope(
                "run.stop_requested",
                RunStopRequested(run_id=run.id, requested_by=identity.user_id),
                producer=PRODUCER,
                correlation_id=get_correlation_id(),
            ),
        )
    return run


# -- applying the scheduler's reports ------------------------------------------------------------


async def _rows(session: AsyncSession, run_id: uuid.UUID) -> dict[str, RunDatasetRow]:
    rows = await session.scalars(select(RunDatasetRow).where(RunDatasetRow.run_id == run_id))
    return {row.dataset: row for row in rows}


def _finish_dataset(row: RunDatasetRow, result: DatasetResult | RunProgress, at: datetime) -> None:
    status = result.status if result.status in DATASET_FINAL else "failed"
    row.status = status
    row.started_at = row.started_at or getattr(result, "started_at", None) or at
    row.finished_at = getattr(result, "finished_at", None) or at
    row.metrics = dict(result.metrics)
    row.error = result.error
    row.dataset_version = result.dataset_version
    row.dataset_sha256 = result.dataset_sha256


async def apply_status(session: AsyncSession, envelope: Envelope, messaging: Messaging) -> None:
    """Consumer of ``run.status_changed``."""
    event = RunStatusChanged.model_validate(envelope.payload)
    run = await session.get(Run, event.run_id)
    if run is None:
        log.warning("status of an unknown run", extra={"run_id": str(event.run_id)})
        return
    run.attempt = max(run.attempt, event.attempt)
    status = event.status.value
    if _STATUS_RANK[status] <= _STATUS_RANK[run.status]:
        return  # a redelivered, late or backwards report
    run.status = status
    run.updated_at = utcnow()
    if status == RunStatus.RUNNING.value and run.started_at is None:
        run.started_at = event.at
    if status not in TERMINAL:
        return
    run.finished_at = event.at
    run.active_evaluation_id = None
    if status == RunStatus.FAILED.value:
        run.failure_cause = (event.failure_cause or FailureCause.PLATFORM).value
        run.failure_message = event.message
    rows = await _rows(session, run.id)
    for result in event.datasets:
        row = rows.get(result.dataset)
        if row is not None and row.status not in DATASET_FINAL and result.status in DATASET_FINAL:
            _finish_dataset(row, result, event.at)
    for row in rows.values():
        if row.status not in DATASET_FINAL:
            row.status = "skipped"
    await session.flush()
    await messaging.enqueue(
        session,
        new_envelope(
            "run.finished",
            _finished(run, sorted(rows.values(), key=lambda r: r.position), event.log_tail),
            producer=PRODUCER,
            correlation_id=envelope.correlation_id,
        ),
    )


def _finished(run: Run, rows: list[RunDatasetRow], log_tail: str | None = None) -> RunFinished:
    return RunFinished(
        run_id=run.id,
        evaluation_id=run.evaluation_id,
        owner_id=run.owner_id,
        domain=Domain(run.domain),
        kind=RunKind(run.kind),
        status=RunStatus(run.status),
        failure_cause=FailureCause(run.failure_cause) if run.failure_cause else None,
        message=run.failure_message,
        metrics={r.dataset: r.metrics for r in rows if r.status == "succeeded"},
        evaluation_name=run.evaluation_name,
        version=run.version,
        submitter=run.submitter,
        datasets=[
            DatasetResult(
                task=r.task,
                dataset=r.dataset,
                status=r.status,
                started_at=aware(r.started_at),
                finished_at=aware(r.finished_at),
                metrics=r.metrics or {},
                error=r.error,
                dataset_version=r.dataset_version,
                dataset_sha256=r.dataset_sha256,
            )
            for r in rows
        ],
        task_averages=task_averages(rows),
        bundle_sha256=run.bundle_sha256,
        image=run.image,
        model_name=run.model_name,
        started_at=aware(run.started_at),
        finished_at=aware(run.finished_at),
        generation=dict(run.generation or {}),
        platform_version=PLATFORM_VERSION,
        log_tail=log_tail,
    )


async def apply_progress(session: AsyncSession, envelope: Envelope) -> None:
    """Consumer of ``run.progress``: a dataset started, finished, or brought samples."""
    event = RunProgress.model_validate(envelope.payload)
    run = await session.get(Run, event.run_id)
    if run is None:
        log.warning("progress of an unknown run", extra={"run_id": str(event.run_id)})
        return
    rows = await _rows(session, run.id)
    row = rows.get(event.dataset)
    if row is None:
        log.warning("progress of a dataset the run does not have", extra={"run_id": str(run.id)})
        return
    if event.type == "dataset_started":
        if row.status in ("pending", "running"):
            row.status = "running"
            row.started_at = event.at
        if run.status in (RunStatus.QUEUED.value, RunStatus.STARTING.value):
            run.status = RunStatus.RUNNING.value
            run.started_at = run.started_at or event.at
    elif event.type == "dataset_finished":
        if row.status not in DATASET_FINAL:
            _finish_dataset(row, event, event.at)
    elif event.type == "samples":
        known = set(
            await session.scalars(
                select(RunSampleRow.sample_id).where(
                    RunSampleRow.run_id == run.id, RunSampleRow.dataset == event.dataset
                )
            )
        )
        for sample in event.samples:
            if sample.id not in known:
                known.add(sample.id)
                session.add(
                    RunSampleRow(
                        run_id=run.id,
                        dataset=event.dataset,
                        sample_id=sample.id[:128],
                        sample=sample.sample,
                        label=sample.label,
                        predict=sample.predict,
                    )
                )
    run.updated_at = utcnow()


async def run_datasets(session: AsyncSession, run_id: uuid.UUID) -> set[str]:
    return set(
        await session.scalars(select(RunDatasetRow.dataset).where(RunDatasetRow.run_id == run_id))
    )
