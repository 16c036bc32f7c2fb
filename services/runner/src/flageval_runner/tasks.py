"""Driving a dataset through a model: per-item predictions, scores, robustness, and
validation samples (SPEC §2 "Run", §6).

The model is any async callable ``predict(prompt, item) -> str`` (the private /func and
OpenAI-style clients of :mod:`flageval_runner.protocols` plug in there).
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flageval_contracts.enums import MAX_DATASET_METRICS, MAX_METRIC_NAME
from flageval_datasets.card import Metric, Task
from flageval_datasets.loader import Dataset, Item

from .metrics import robustness as rb
from .metrics import scoring
from .prompts import build_prompt, format_choices

Predict = Callable[[str, Item], Awaitable[str]]


class EvaluationError(RuntimeError):
    """A prediction failed; the message names the dataset and the item."""

    def __init__(self, dataset: str, item_id: str, cause: BaseException):
        self.dataset = dataset
        self.item_id = item_id
        super().__init__(f"dataset {dataset!r}, item {item_id!r}: {type(cause).__name__}: {cause}")


# ---------------------------------------------------------------- per-item scoring


def gold_of(dataset: Dataset, item: Item) -> str | list[str] | None:
    """What the item is scored against, as stored in per-item records."""
    task = dataset.card.task
    if item.choices is not None or task == Task.math:
        return item.label.strip() if item.label is not None else None
    refs = item.gold_references
    return refs if refs else None


def score_item(dataset: Dataset, item: Item, prediction: str) -> dict[str, float] | None:
    """Every applicable metric for one prediction (``None`` for open QA: human evaluation)."""
    card = dataset.card
    if card.task == Task.open_qa or card.metric == Metric.none:
        return None
    if item.choices is not None:
        return {"accuracy": scoring.choice_accuracy(item.label or "", prediction, item.choices)}
    if card.task == Task.math:
        acc = scoring.math_accuracy(item.label or "", prediction)
        return {"accuracy": acc, "exact_match": acc}
    refs = item.gold_references
    em = scoring.exact_match(refs, prediction)
    qem = scoring.quasi_exact_match(refs, prediction)
    out = {"exact_match": em, "quasi_exact_match": qem, "f1": scoring.f1_score(refs, prediction)}
    if card.task == Task.classification:
        out["accuracy"] = qem
    return out


#: The runner ↔ scheduler channel's bounds on one dataset's metrics (``RunnerEvent.metrics``).
MAX_METRICS = MAX_DATASET_METRICS


def subject_of(item: Item) -> str | None:
    """The item's subject (``meta.subject``, set by the MMLU/CMMLU/C-Eval importers), if any."""
    subject = (item.meta or {}).get("subject")
    return subject.strip() if isinstance(subject, str) and subject.strip() else None


def subject_metrics(
    metric: str, items: Sequence[Item], scores: Sequence[float | None], *, room: int
) -> dict[str, float]:
    """Per-subject roll-up of the card metric when every evaluated item has a subject.

    ``<metric>_micro`` is the mean over all items (what MMLU's own ``evaluate.py`` prints and
    what lm-evaluation-harness ≥ 0.4 reports for the ``mmlu`` group), ``<metric>_macro`` the
    unweighted mean of the subjects' means (what the original Open LLM Leaderboard reported),
    and ``<metric>/<subject>`` each subject's mean. The card metric itself stays the micro
    mean. Per-subject entries are added only when all of them fit in ``room`` (the channel's
    metric limit); otherwise only the two averages are (CMMLU has 67 subjects).
    """
    subjects = [subject_of(it) for it in items]
    if not items or any(s is None for s in subjects):
        return {}
    by_subject: dict[str, list[float | None]] = {}
    for subject, score in zip(subjects, scores, strict=True):
        by_subject.setdefault(str(subject), []).append(score)
    means = {s: scoring.mean(v) for s, v in sorted(by_subject.items())}
    present = [m for m in means.values() if m is not None]
    micro = scoring.mean(scores)
    if micro is None or not present:
        return {}
    out = {f"{metric}_micro": micro, f"{metric}_macro": sum(present) / len(present)}
    per_subject = {
        f"{metric}/{s}": m
        for s, m in means.items()
        if m is not None and len(f"{metric}/{s}") <= MAX_METRIC_NAME
    }
    if len(out) + len(per_subject) <= room:
        out.update(per_subject)
    return out


def primary_score(dataset: Dataset, scores: dict[str, float] | None) -> float | None:
    if scores is None:
        return None
    return scores[dataset.card.metric.value]


def extracted_answer(dataset: Dataset, item: Item, prediction: str) -> str | None:
    if item.choices is not None:
        return scoring.extract_choice(prediction, len(item.choices), item.choices)
    if dataset.card.task == Task.math:
        return scoring.format_number(scoring.extract_number(prediction))
    return None


# ---------------------------------------------------------------- dataset evaluation


@dataclass
class DatasetResult:
    dataset: str
    task: str
    metric: str
    score: float | None  # mean of the card's metric over items; None for open QA
    metrics: dict[str, float]  # mean of every applicable metric (+ "robustness")
    robustness: float | None
    n_items: int
    per_item: list[dict[str, Any]]
    content_sha256: str
    seed: int
    human_evaluation: bool = False
    perturbations: list[str] = field(default_factory=list)

    def predictions_jsonl(self) -> bytes:
        return b"".join(
            json.dumps(r, ensure_ascii=False, sort_keys=True).encode() + b"\n"
            for r in self.per_item
        )

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "task": self.task,
            "metric": self.metric,
            "score": self.score,
            "metrics": self.metrics,
            "robustness": self.robustness,
            "n_items": self.n_items,
            "content_sha256": self.content_sha256,
            "seed": self.seed,
            "human_evaluation": self.human_evaluation,
            "perturbations": self.perturbations,
        }


async def evaluate_dataset(
    dataset: Dataset,
    predict: Predict,
    *,
    robustness: bool = False,
    concurrency: int = 8,
    seed: int = 0,
    kinds: Sequence[str] = rb.KINDS,
    items: Sequence[Item] | None = None,
) -> DatasetResult:
    """Ask ``predict`` for every item (at most ``concurrency`` calls in flight), score each,
    and aggregate. With ``robustness`` each item is also asked with every perturbation of
    its input that differs from the original (references unperturbed), and its
    ``robust_score`` is the worst case. Any failing prediction cancels the rest and raises
    :class:`EvaluationError` naming the dataset and item."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    todo = list(dataset.items if items is None else items)
    sem = asyncio.Semaphore(concurrency)
    human = dataset.card.task == Task.open_qa or dataset.card.metric == Metric.none
    use_rb = robustness and not human

    async def ask(prompt: str, item: Item) -> str:
        async with sem:
            try:
                out = await predict(prompt, item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise EvaluationError(dataset.name, item.id, exc) from exc
        if not isinstance(out, str):
            raise EvaluationError(
                dataset.name, item.id, TypeError(f"prediction is {type(out).__name__}, not str")
            )
        return out

    async def one(item: Item) -> dict[str, Any]:
        prompt = build_prompt(dataset, item)
        prediction = await ask(prompt, item)
        scores = score_item(dataset, item, prediction)
        record: dict[str, Any] = {
            "id": item.id,
            "prompt": prompt,
            "prediction": prediction,
            "gold": gold_of(dataset, item),
            "score": primary_score(dataset, scores),
        }
        extracted = extracted_answer(dataset, item, prediction)
        if extracted is not None:
            record["extracted"] = extracted
        if scores is not None and len(scores) > 1:
            record["scores"] = scores
        if use_rb:
            variants = {
                k: v
                for k, v in rb.perturbations(item.input, seed, kinds).items()
                if v != item.input
            }
            perturbed: dict[str, Any] = {}

            async def ask_variant(kind: str, text: str) -> None:
                p = await ask(build_prompt(dataset, item, text), item)
                perturbed[kind] = {
                    "input": text,
                    "prediction": p,
                    "score": primary_score(dataset, score_item(dataset, item, p)),
                }

            await asyncio.gather(*(ask_variant(k, v) for k, v in variants.items()))
            record["perturbed"] = {k: perturbed[k] for k in variants}
            record["robust_score"] = rb.worst_case(
                record["score"], (v["score"] for v in perturbed.values())
            )
        return record

    tasks = [asyncio.create_task(one(it)) for it in todo]
    try:
        per_item = list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise

    metrics: dict[str, float] = {}
    if not human:
        keys = sorted({k for r in per_item for k in (r.get("scores") or {})})
        for k in keys:
            m = scoring.mean(r["scores"][k] for r in per_item)
            if m is not None:
                metrics[k] = m
        primary = scoring.mean(r["score"] for r in per_item)
        if primary is not None:
            metrics[dataset.card.metric.value] = primary
    score = metrics.get(dataset.card.metric.value) if not human else None
    robust = scoring.mean(r["robust_score"] for r in per_item) if use_rb else None
    if robust is not None:
        metrics["robustness"] = robust
    if not human:
        metrics.update(
            subject_metrics(
                dataset.card.metric.value,
                todo,
                [r["score"] for r in per_item],
                room=MAX_METRICS - len(metrics),
            )
        )
    return DatasetResult(
        dataset=dataset.name,
        task=dataset.card.task.value,
        metric=dataset.card.metric.value,
        score=score,
        metrics=metrics,
        robustness=robust,
        n_items=len(per_item),
        per_item=per_item,
        content_sha256=dataset.content_sha256,
        seed=seed,
        human_evaluation=human,
        perturbations=list(kinds) if use_rb else [],
    )


def task_scores(results: Sequence[DatasetResult]) -> dict[str, float | None]:
    """Task average = mean of its datasets' scores, keyed by task."""
    by_task: dict[str, list[float | None]] = {}
    for r in results:
        by_task.setdefault(r.task, []).append(r.score)
    return {t: scoring.task_average(v) for t, v in by_task.items()}


# ---------------------------------------------------------------- validation runs


@dataclass(frozen=True)
class ValidationSample:
    dataset: str
    seed: int
    items: list[Item]


def sample_validation(dataset: Dataset, k: int = 3, seed: int | None = None) -> ValidationSample:
    """1-3 seeded random items of a dataset; without a seed one is drawn and recorded."""
    if not 1 <= k <= 3:
        raise ValueError("k must be 1..3")
    if seed is None:
        seed = secrets.randbelow(2**31)
    rng = random.Random(f"validation\x00{dataset.name}\x00{seed}")
    picked = rng.sample(dataset.items, min(k, len(dataset.items)))
    return ValidationSample(dataset=dataset.name, seed=seed, items=picked)


def _label_text(item: Item) -> str:
    if item.label is not None:
        return item.label
    return " | ".join(item.references or [])


def validation_rows(sample: ValidationSample, predictions: dict[str, str]) -> list[dict[str, str]]:
    """Rows ``{ID, Dataset, Sample, Label, Predict}`` for the sampled items."""
    rows = []
    for it in sample.items:
        text = it.input if not it.choices else f"{it.input}\n{format_choices(it.choices)}"
        rows.append(
            {
                "ID": it.id,
                "Dataset": sample.dataset,
                "Sample": text,
                "Label": _label_text(it),
                "Predict": predictions.get(it.id, ""),
            }
        )
    return rows


async def run_validation(
    dataset: Dataset, predict: Predict, *, k: int = 3, seed: int | None = None, concurrency: int = 4
) -> tuple[ValidationSample, list[dict[str, str]]]:
    """Sample, predict, and build the validation rows in one go."""
    sample = sample_validation(dataset, k, seed)
    result = await evaluate_dataset(dataset, predict, concurrency=concurrency, items=sample.items)
    preds = {r["id"]: r["prediction"] for r in result.per_item}
    return sample, validation_rows(sample, preds)
