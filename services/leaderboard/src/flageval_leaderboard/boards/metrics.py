"""Which way is better for each metric, and which metric of a dataset its board column shows.

The one table of metric directions on the platform's boards. Names are compared normalised
(lower case, ``-`` and spaces as ``_``), so the catalog's ``exact-match`` and the runner's
``exact_match`` are the same metric. A metric the table does not know counts as
higher-is-better (every score FlagEval reports besides errors and distances is).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Better = Literal["higher", "lower"]

#: Error rates and distances: the smaller the better.
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        "wer",  # word error rate (ASR)
        "cer",  # character error rate (ASR)
        "abs_rel",  # absolute relative error (depth estimation)
        "sq_rel",
        "rmse",
        "rmse_log",
        "fid",  # Fréchet inception distance (text-to-image)
        "eer",  # equal error rate (speaker verification)
        "perplexity",
        "loss",
    }
)

#: Known higher-is-better metrics (documentation of what the boards expect; not exhaustive).
HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {
        "accuracy",
        "exact_match",
        "quasi_exact_match",
        "f1",
        "top1_accuracy",
        "map",
        "miou",
        "vqa_accuracy",
        "mean_recall",
        "clip_score",
        "safety_rate",
        "human_rating",
        "robustness",
    }
)

#: Reported beside the primary metric, never a column's metric by themselves.
SECONDARY: frozenset[str] = frozenset({"robustness"})


def normalise(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def better(metric: str) -> Better:
    """``"lower"`` for error rates and distances, ``"higher"`` for everything else."""
    return "lower" if normalise(metric) in LOWER_IS_BETTER else "higher"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def primary_score(
    metrics: Mapping[str, Any], catalog_metric: str | None
) -> tuple[str | None, float | None]:
    """The metric a dataset's column shows and this run's value of it.

    The catalog's metric for the dataset when the run reported it; otherwise the first numeric
    metric the run reported (robustness aside). ``(None, None)`` when there is none (a human
    evaluation still being graded).
    """
    by_name = {normalise(k): (k, v) for k, v in metrics.items()}
    if catalog_metric is not None:
        found = by_name.get(normalise(catalog_metric))
        if found is not None:
            return found[0], _number(found[1])
    for name, value in metrics.items():
        if normalise(name) not in SECONDARY and _number(value) is not None:
            return name, _number(value)
    if catalog_metric is not None:
        return catalog_metric, None
    return None, None
