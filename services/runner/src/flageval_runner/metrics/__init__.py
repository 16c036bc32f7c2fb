"""Metrics: per-item scoring, aggregation, and HELM-style robustness perturbations."""

from .robustness import KINDS, perturb, perturbations, worst_case
from .scoring import (
    choice_accuracy,
    exact_match,
    extract_choice,
    extract_number,
    f1_score,
    math_accuracy,
    mean,
    normalize_answer,
    quasi_exact_match,
    task_average,
)

__all__ = [
    "KINDS",
    "choice_accuracy",
    "exact_match",
    "extract_choice",
    "extract_number",
    "f1_score",
    "math_accuracy",
    "mean",
    "normalize_answer",
    "perturb",
    "perturbations",
    "quasi_exact_match",
    "task_average",
    "worst_case",
]
