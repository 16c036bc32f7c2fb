"""Per-subject scoring (MMLU, CMMLU, C-Eval imports carry ``meta.subject``) and few-shot
exemplars drawn from the same subject's dev items."""

from __future__ import annotations

import json

import pytest

from flageval_datasets import load_dataset
from flageval_runner.prompts import build_prompt
from flageval_runner.tasks import MAX_METRICS, evaluate_dataset, subject_metrics

CARD = {
    "name": "mmlu",
    "domain": "nlp",
    "task": "choice_qa",
    "language": "en",
    "metric": "accuracy",
    "few_shot": 1,
    "version": "1",
}


def item(id_: str, subject: str | None, label: str, split: str = "test") -> dict:
    it = {
        "id": id_,
        "input": f"{subject} question {id_}?",
        "choices": ["w", "x", "y", "z"],
        "label": label,
        "split": split,
    }
    if subject is not None:
        it["meta"] = {"subject": subject}
    return it


def dataset(items: list[dict], **card):
    data = b"".join(json.dumps(i).encode() + b"\n" for i in items)
    return load_dataset(json.dumps({**CARD, **card}).encode(), data)


# Three subjects of unequal size, so macro and micro differ.
ITEMS = [
    item("dev-a", "anatomy", "A", "dev"),
    item("dev-b", "astronomy", "B", "dev"),
    *(item(f"a{i}", "anatomy", "A") for i in range(4)),  # model right on a0, a1 → 2/4
    *(item(f"s{i}", "astronomy", "B") for i in range(2)),  # right on both → 2/2
    *(item(f"v{i}", "virology", "C") for i in range(3)),  # right on v0 → 1/3
]
RIGHT = {"a0", "a1", "s0", "s1", "v0"}


async def test_per_subject_macro_and_micro_equal_hand_computed_values():
    ds = dataset(ITEMS)
    prompts: dict[str, str] = {}

    async def predict(prompt, it):
        prompts[it.id] = prompt
        return it.label if it.id in RIGHT else "D"

    result = await evaluate_dataset(ds, predict)
    micro = 5 / 9
    macro = (2 / 4 + 2 / 2 + 1 / 3) / 3
    assert result.score == pytest.approx(micro)
    assert result.metrics == pytest.approx(
        {
            "accuracy": micro,
            "accuracy_micro": micro,
            "accuracy_macro": macro,
            "accuracy/anatomy": 0.5,
            "accuracy/astronomy": 1.0,
            "accuracy/virology": 1 / 3,
        }
    )
    # Few-shot exemplars come from the item's own subject; virology has no dev item, so it
    # falls back to the dev split.
    assert "anatomy question dev-a?" in prompts["a0"]
    assert "astronomy question dev-b?" not in prompts["a0"]
    assert "astronomy question dev-b?" in prompts["s1"]
    assert "anatomy question dev-a?" not in prompts["s1"]
    assert "anatomy question dev-a?" in prompts["v0"]


async def test_no_roll_up_unless_every_item_has_a_subject():
    ds = dataset([*ITEMS, item("plain", None, "A")])

    async def predict(prompt, it):
        return it.label

    result = await evaluate_dataset(ds, predict)
    assert result.metrics == {"accuracy": 1.0}


def test_subjects_that_overflow_the_channel_keep_only_the_averages():
    items = [load_dataset_item(f"s{i:02d}") for i in range(MAX_METRICS)]
    scores = [1.0 if i % 2 else 0.0 for i in range(MAX_METRICS)]
    out = subject_metrics("accuracy", items, scores, room=MAX_METRICS - 1)
    assert out == {"accuracy_micro": 0.5, "accuracy_macro": 0.5}
    fits = subject_metrics("accuracy", items[:10], scores[:10], room=MAX_METRICS - 1)
    assert len(fits) == 12 and fits["accuracy/s01"] == 1.0 and fits["accuracy/s00"] == 0.0


def load_dataset_item(subject: str):
    return dataset([item("x", subject, "A")], few_shot=0).items[0]


def test_build_prompt_without_subjects_uses_the_dev_split():
    ds = dataset([item("d", None, "A", "dev"), item("t", None, "B")])
    assert "None question d?" in build_prompt(ds, ds.items[0])
