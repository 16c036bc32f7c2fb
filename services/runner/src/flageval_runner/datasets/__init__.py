"""Datasets: the card + JSONL format of SPEC §6, loading/validation, importers, prompts."""

from .card import DatasetCard, Language, Metric, Task
from .loader import (
    LETTERS,
    Dataset,
    DatasetError,
    Item,
    LineError,
    check_items,
    compute_sha256,
    demo_dataset_names,
    load_dataset,
    load_demo_dataset,
)
from .prompts import build_prompt, format_choices

__all__ = [
    "LETTERS",
    "Dataset",
    "DatasetCard",
    "DatasetError",
    "Item",
    "Language",
    "LineError",
    "Metric",
    "Task",
    "build_prompt",
    "check_items",
    "compute_sha256",
    "demo_dataset_names",
    "format_choices",
    "load_dataset",
    "load_demo_dataset",
]
