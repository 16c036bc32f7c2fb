"""The public board as the OpenAPI document describes it (the reply itself is rendered once
per board revision, see :class:`flageval_leaderboard.boards.service.BoardCache`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class ColumnOut(BaseModel):
    key: str  # dataset:<id> | task:<id> | overall
    kind: Literal["dataset", "task", "overall"]
    better: Literal["higher", "lower"]
    id: str | None = None
    task: str | None = None
    metric: str | None = None
    datasets: list[str] | None = None


class RowOut(BaseModel):
    id: str
    rank: int | None
    model_name: str
    #: The real name, or ``匿名`` for an anonymous entry.
    submitter: str
    organization: str | None
    scores: dict[str, float | None]
    task_averages: dict[str, float | None]
    overall: float | None
    submitted_at: str
    reproducibility: dict[str, Any]


class BoardOut(BaseModel):
    domain: str
    columns: list[ColumnOut]
    rows: list[RowOut]
