"""A domain's board: its columns, its rows, their order and ranks.

How a board is computed (documented for users in the README, "Leaderboards"):

- **Dataset columns**: every dataset that an entry on the board reports, showing the dataset's
  primary metric (fixed when the entry was published, see :mod:`.metrics`) with its direction.
- **Task columns**: per task, the mean of the entry's dataset scores in that task. A task
  whose datasets mix directions (text-to-image: FID and CLIP score) averages only its
  higher-is-better datasets; a task of lower-is-better datasets only (ASR's WER/CER, depth's
  AbsRel) averages those and is itself lower-is-better.
- **Overall**: the mean of the entry's higher-is-better task averages. Lower-is-better tasks
  are shown and sortable but left out of ``overall``: error rates and distances have no common
  scale with accuracies (a WER can exceed 1, FID is unbounded), and inverting them would
  invent one.
- **Order**: ``sort`` is a column key, ``order`` ``asc``/``desc``; by default ``overall``,
  better first. Entries without a value in the sorted column come last, unranked. Ties share
  a rank (standard competition ranking, "1, 2, 2, 4"; values compared to 9 decimals) and keep
  the order in which they were published.

Reads are cheap: a board is computed once per (domain, revision) and its rendered JSON kept
per (sort, order); the ``boards.revision`` row read per request tells a replica its copy is
stale.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_leaderboard.boards.metrics import Better
from flageval_leaderboard.models import MODE_NAMED, Board, Entry, Person, aware
from flageval_platform.db import Database
from flageval_platform.errors import Unprocessable

ANONYMOUS = "匿名"
OVERALL = "overall"
SUBMITTED_AT = "submitted_at"
Order = Literal["asc", "desc"]

#: Bounded per domain: a client cycling through sort keys cannot grow the cache.
_RENDERED_PER_DOMAIN = 128
_TIE_DECIMALS = 9


async def bump_revision(session: AsyncSession, domain: str) -> None:
    """Mark ``domain``'s board changed (in the transaction that changes it)."""
    await session.execute(
        update(Board).where(Board.domain == domain).values(revision=Board.revision + 1)
    )


@dataclass
class Column:
    key: str
    kind: str  # dataset | task | overall | submitted_at
    better: Better
    id: str | None = None
    task: str | None = None
    metric: str | None = None
    datasets: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"key": self.key, "kind": self.kind, "better": self.better}
        if self.kind == "dataset":
            doc.update(id=self.id, task=self.task, metric=self.metric)
        elif self.kind == "task":
            doc.update(id=self.id, datasets=self.datasets)
        return doc


@dataclass
class Row:
    """One entry as every public board shows it (no owner ids, no username when anonymous)."""

    id: uuid.UUID
    model_name: str
    submitter: str
    organization: str | None
    scores: dict[str, float | None]
    task_averages: dict[str, float | None]
    overall: float | None
    submitted_at: datetime
    reproducibility: dict[str, Any]

    def value(self, column: Column) -> Any:
        if column.kind == "dataset":
            return self.scores.get(column.id or "")
        if column.kind == "task":
            return self.task_averages.get(column.id or "")
        if column.kind == OVERALL:
            return self.overall
        return self.submitted_at

    def document(self, rank: int | None) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "rank": rank,
            "model_name": self.model_name,
            "submitter": self.submitter,
            "organization": self.organization,
            "scores": self.scores,
            "task_averages": self.task_averages,
            "overall": self.overall,
            "submitted_at": self.submitted_at.isoformat(),
            "reproducibility": self.reproducibility,
        }


@dataclass
class ComputedBoard:
    domain: str
    columns: list[Column]
    rows: list[Row]  # in publication order

    def column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        if key == SUBMITTED_AT:
            return Column(key=SUBMITTED_AT, kind=SUBMITTED_AT, better="lower")
        keys = ", ".join([c.key for c in self.columns] + [SUBMITTED_AT])
        raise Unprocessable(
            f"Cannot sort the {self.domain} board by {key!r}; its columns are: {keys}.",
            code="unknown_column",
        )


def _mean(values: Iterable[float | None]) -> float | None:
    numbers = [v for v in values if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


def _who(entry: Entry, person: Person | None) -> tuple[str, str | None]:
    if entry.mode != MODE_NAMED:
        return ANONYMOUS, ANONYMOUS
    if person is None:
        return entry.username, None
    return person.real_name or entry.username, person.organization


def compute_board(
    domain: str, entries: Sequence[Entry], people: dict[uuid.UUID, Person]
) -> ComputedBoard:
    """The board of ``entries`` (those on the board, in publication order)."""
    datasets: dict[str, Column] = {}
    for entry in entries:  # the latest publication says which metric a dataset shows
        for dataset, score in entry.scores.items():
            datasets[dataset] = Column(
                key=f"dataset:{dataset}",
                kind="dataset",
                better="lower" if score.get("better") == "lower" else "higher",
                id=dataset,
                task=str(score.get("task") or ""),
                metric=score.get("metric"),
            )
    dataset_columns = sorted(datasets.values(), key=lambda c: (c.task or "", c.id or ""))
    tasks: dict[str, Column] = {}
    for column in dataset_columns:
        task = column.task or ""
        tasks.setdefault(task, Column(key=f"task:{task}", kind="task", better="lower", id=task))
        tasks[task].datasets.append(column.id or "")
        if column.better == "higher":
            tasks[task].better = "higher"
    task_columns = list(tasks.values())

    rows: list[Row] = []
    for entry in entries:
        scores: dict[str, float | None] = {}
        for column in dataset_columns:
            value = (entry.scores.get(column.id or "") or {}).get("value")
            scores[column.id or ""] = float(value) if isinstance(value, int | float) else None
        averages = {
            task.id or "": _mean(
                scores[d] for d in task.datasets if datasets[d].better == task.better
            )
            for task in task_columns
        }
        overall = _mean(averages[t.id or ""] for t in task_columns if t.better == "higher")
        submitter, organization = _who(entry, people.get(entry.owner_id))
        rows.append(
            Row(
                id=entry.id,
                model_name=entry.model_name,
                submitter=submitter,
                organization=organization,
                scores=scores,
                task_averages=averages,
                overall=overall,
                submitted_at=aware(entry.submitted_at) or entry.submitted_at,
                reproducibility=entry.reproducibility,
            )
        )
    columns = [*dataset_columns, *task_columns, Column(key=OVERALL, kind=OVERALL, better="higher")]
    return ComputedBoard(domain=domain, columns=columns, rows=rows)


def _comparable(value: Any) -> Any:
    return round(value, _TIE_DECIMALS) if isinstance(value, float) else value


def ranked(board: ComputedBoard, sort: str, order: Order | None) -> list[tuple[int | None, Row]]:
    """The board's rows in the asked order, each with its rank (``None``: no value)."""
    column = board.column(sort)
    if order is None:
        order = "desc" if column.better == "higher" else "asc"
    valued = [r for r in board.rows if r.value(column) is not None]
    missing = [r for r in board.rows if r.value(column) is None]
    # Stable sorts: ties (and the unranked) keep the publication order, in either direction.
    valued.sort(key=lambda r: _comparable(r.value(column)), reverse=order == "desc")
    result: list[tuple[int | None, Row]] = []
    previous: Any = object()
    rank = 0
    for position, row in enumerate(valued, start=1):
        value = _comparable(row.value(column))
        if value != previous:
            rank, previous = position, value
        result.append((rank, row))
    result.extend((None, row) for row in missing)
    return result


def render(board: ComputedBoard, sort: str, order: Order | None) -> bytes:
    """The public JSON of the board in the asked order."""
    rows = [row.document(rank) for rank, row in ranked(board, sort, order)]
    document = {
        "domain": board.domain,
        "columns": [c.document() for c in board.columns],
        "rows": rows,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


async def load_board(session: AsyncSession, domain: str) -> ComputedBoard:
    entries = list(
        (
            await session.scalars(
                select(Entry)
                .where(
                    Entry.domain == domain,
                    Entry.withdrawn_at.is_(None),
                    Entry.hidden_at.is_(None),
                )
                .order_by(Entry.submitted_at, Entry.id)
            )
        ).all()
    )
    named = {e.owner_id for e in entries if e.mode == MODE_NAMED}
    people: dict[uuid.UUID, Person] = {}
    if named:
        found = await session.scalars(select(Person).where(Person.user_id.in_(named)))
        people = {p.user_id: p for p in found.all()}
    return compute_board(domain, entries, people)


@dataclass
class _DomainCache:
    revision: int
    board: ComputedBoard
    rendered: dict[tuple[str, str | None], bytes] = field(default_factory=dict)


class BoardCache:
    """Boards computed once per revision; their rendered JSON kept per (sort, order)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._domains: dict[str, _DomainCache] = {}

    async def json(self, domain: str, *, sort: str = OVERALL, order: Order | None = None) -> bytes:
        async with self.db.transaction() as session:
            revision = await session.scalar(select(Board.revision).where(Board.domain == domain))
            cached = self._domains.get(domain)
            if cached is None or cached.revision != revision:
                board = await load_board(session, domain)
                cached = _DomainCache(revision=revision or 0, board=board)
                self._domains[domain] = cached
        key = (sort, order)
        body = cached.rendered.get(key)
        if body is None:
            body = render(cached.board, sort, order)
            if len(cached.rendered) >= _RENDERED_PER_DOMAIN:
                cached.rendered.clear()
            cached.rendered[key] = body
        return body
