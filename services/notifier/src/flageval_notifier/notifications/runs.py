"""``run.finished`` → what the run's owner is told, in-app and by email.

* succeeded: the per-dataset scores (an HTML table, aligned columns in the text part), the task
  averages and a link to the run (``{FLAGEVAL_PUBLIC_URL}/console/runs/{run_id}``: the path the
  web console will serve); validation runs get a note on what they are for;
* failed: the failing dataset(s) with their error, the cause in words (platform and preempted
  failures of formal runs are refunded), the message and the log tail (in ``<pre>``, escaped);
* stopped: a short note.

The in-app body is the text part without the log tail (the run page has the whole log).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from flageval_contracts.enums import FailureCause, RunKind, RunStatus
from flageval_contracts.events import DatasetResult, RunFinished
from flageval_notifier.emails import render

#: Where a run is shown in the web console (relative to ``FLAGEVAL_PUBLIC_URL``).
RUN_PAGE = "/console/runs/{run_id}"
#: More metric columns than this and the table shows one ``metrics`` column of ``k=v`` pairs.
MAX_METRIC_COLUMNS = 6
#: The log tail in the email is cut to its last lines / characters (the event's is short already).
LOG_TAIL_LINES = 200
LOG_TAIL_CHARS = 20_000

CAUSES: dict[FailureCause, str] = {
    FailureCause.USER: (
        "The failure comes from the submitted model or its code (for example the model server "
        "did not start, crashed, answered with errors or timed out). Fix it and start a new run."
    ),
    FailureCause.PLATFORM: (
        "The failure comes from the platform, not from your model. We are sorry; you can start "
        "the run again."
    ),
    FailureCause.PREEMPTED: (
        "The run was interrupted because the machine it ran on was taken back (preempted); "
        "nothing was wrong with your model. You can start the run again."
    ),
}
REFUNDED = "This run was refunded: it does not count against your quota of formal runs."
VALIDATION_NOTE = (
    "This was a validation run: it checks on a few samples that your model works with the "
    "platform. Its scores are not published; start a formal run when they look right."
)


def run_link(public_url: str, run_id: object) -> str:
    return public_url.rstrip("/") + RUN_PAGE.format(run_id=run_id)


def _what(event: RunFinished) -> str:
    kind = "validation" if event.kind == RunKind.VALIDATION else "formal"
    name = event.evaluation_name.strip()
    subject = f"{name} (version {event.version})" if name else f"version {event.version}"
    return f"{kind} run of {subject}"


def _metric_columns(metric_sets: Sequence[dict[str, Any]]) -> list[str] | None:
    """The metric names in order of first appearance, or ``None`` when there are too many."""
    names: dict[str, None] = {}
    for metrics in metric_sets:
        names.update(dict.fromkeys(metrics))
    if len(names) > MAX_METRIC_COLUMNS:
        return None
    return list(names)


def _metric_cells(metrics: dict[str, Any], columns: list[str] | None) -> list[str]:
    if columns is None:
        return [render.format_value(metrics) if metrics else "-"]
    return [render.format_value(metrics[c]) if c in metrics else "-" for c in columns]


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics an email shows: per-subject ones (``accuracy/anatomy``, up to 128 of them for
    MMLU-style datasets) stay on the run's page."""
    return {name: value for name, value in metrics.items() if "/" not in name}


def _scores(datasets: Sequence[DatasetResult]) -> tuple[list[str], list[list[str]]]:
    shown = [_headline(d.metrics) for d in datasets]
    columns = _metric_columns(shown)
    header = ["Task", "Dataset", "Status", *(columns if columns is not None else ["Metrics"])]
    rows = [
        [d.task, d.dataset, d.status, *_metric_cells(m, columns)]
        for d, m in zip(datasets, shown, strict=True)
    ]
    return header, rows


def _averages(averages: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    per_task = {t: m if isinstance(m, dict) else {"value": m} for t, m in averages.items()}
    columns = _metric_columns(list(per_task.values()))
    header = ["Task", *(columns if columns is not None else ["Metrics"])]
    rows = [[task, *_metric_cells(m, columns)] for task, m in per_task.items()]
    return header, rows


def _datasets(event: RunFinished) -> list[DatasetResult]:
    if event.datasets:
        return list(event.datasets)
    # An older producer: only the ``metrics`` map (dataset → metrics) of succeeded datasets.
    return [
        DatasetResult(task="", dataset=name, status="succeeded", metrics=m)
        for name, m in event.metrics.items()
        if isinstance(m, dict)
    ]


def _log_tail(text: str) -> str:
    lines = text.rstrip().splitlines()[-LOG_TAIL_LINES:]
    tail = "\n".join(lines)
    return tail[-LOG_TAIL_CHARS:]


class RunFinishedMessage:
    """The title, in-app body and both email parts of one ``run.finished`` event."""

    def __init__(self, event: RunFinished, public_url: str) -> None:
        self.event = event
        self.url = run_link(public_url, event.run_id)
        what = _what(event)
        if event.status == RunStatus.SUCCEEDED:
            self.title = f"Your {what} succeeded"
        elif event.status == RunStatus.FAILED:
            self.title = f"Your {what} failed"
        elif event.status == RunStatus.STOPPED:
            self.title = f"Your {what} was stopped"
        else:  # not terminal: not expected on run.finished, told plainly anyway
            self.title = f"Your {what} is {event.status.value}"
        # (text block, html block) pairs; ``in_app`` marks those shown in-app too.
        self._blocks: list[tuple[str, str, bool]] = []
        self._build()

    def _add(self, text: str, html: str, *, in_app: bool = True) -> None:
        self._blocks.append((text, html, in_app))

    def _para(self, text: str, *, in_app: bool = True) -> None:
        self._add(text, render.paragraphs(text), in_app=in_app)

    def _heading(self, text: str, *, in_app: bool = True) -> None:
        self._add(f"{text}:", f"<h3>{escape(text)}</h3>", in_app=in_app)

    def _table(self, header: list[str], rows: list[list[str]]) -> None:
        self._add(render.text_table(header, rows), render.table(header, rows))

    def _build(self) -> None:
        event = self.event
        self._para(f"{self.title}.")
        datasets = _datasets(event)
        if event.status == RunStatus.SUCCEEDED:
            if datasets:
                self._heading("Scores per dataset")
                self._table(*_scores(datasets))
            if event.task_averages:
                self._heading("Task averages")
                self._table(*_averages(event.task_averages))
            if event.kind == RunKind.VALIDATION:
                self._para(VALIDATION_NOTE)
        elif event.status == RunStatus.FAILED:
            self._failure(datasets)
        elif event.status == RunStatus.STOPPED:
            done = [d for d in datasets if d.status == "succeeded"]
            note = "The run was stopped before it finished, as requested; it has no final score."
            if done:
                note += f" {len(done)} of {len(datasets)} datasets had finished; see the run page."
            self._para(note)
        self._add(
            f"Details: {self.url}",
            f"<p>Details: {render.link(self.url)}</p>",
        )

    def _failure(self, datasets: list[DatasetResult]) -> None:
        event = self.event
        failing = [d for d in datasets if d.status == "failed"]
        if failing:
            self._heading("Failing dataset" + ("s" if len(failing) > 1 else ""))
            for d in failing:
                name = f"{d.task} / {d.dataset}" if d.task else d.dataset
                error = d.error or "no error message"
                self._add(
                    f"- {name}: {error}",
                    f"<p><b>{escape(name)}</b>: {escape(error)}</p>",
                )
        cause = event.failure_cause or FailureCause.PLATFORM
        explained = CAUSES[cause]
        if cause in (FailureCause.PLATFORM, FailureCause.PREEMPTED) and (
            event.kind == RunKind.FORMAL
        ):
            explained = f"{explained} {REFUNDED}"
        self._para(f"Cause ({cause.value}): {explained}")
        if event.message:
            self._para(f"Message: {event.message}")
        if event.log_tail and event.log_tail.strip():
            tail = _log_tail(event.log_tail)
            self._heading("Last lines of the log", in_app=False)
            self._add(tail, render.pre(tail), in_app=False)

    @property
    def body(self) -> str:
        return "\n\n".join(t for t, _h, in_app in self._blocks if in_app)

    @property
    def email_text(self) -> str:
        return "\n\n".join(t for t, _h, _in_app in self._blocks)

    @property
    def email_html(self) -> str:
        return "\n".join(h for _t, h, _in_app in self._blocks)
