"""The platform's one dataset library (SPEC §6): the card + JSONL format, parsing with
line-numbered errors, content hashing, the demo datasets and the importers of public formats.
Used by eval-api (checking what admins register) and the runner (reading what runs evaluate)."""

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
    "check_items",
    "compute_sha256",
    "demo_dataset_names",
    "load_dataset",
    "load_demo_dataset",
]
