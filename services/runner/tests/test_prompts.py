# ruff: noqa: RUF001
"""The harness's prompts (default templates per task and language, few-shot, custom templates)."""

from __future__ import annotations

import json

from flageval_datasets import load_dataset, load_demo_dataset
from flageval_datasets.importers import convert
from flageval_runner.prompts import build_prompt, format_choices

CARD = {
    "name": "t-choice",
    "domain": "nlp",
    "task": "choice_qa",
    "language": "en",
    "metric": "accuracy",
    "few_shot": 0,
    "version": "1",
}
GOOD = {"id": "1", "input": "2+2?", "choices": ["3", "4"], "label": "B"}


def card(**kw) -> bytes:
    return json.dumps({**CARD, **kw}).encode()


def jsonl(*items) -> bytes:
    return b"".join(json.dumps(i, ensure_ascii=False).encode() + b"\n" for i in items)


def test_prompts_default_few_shot_and_chinese():
    data = jsonl(
        {**GOOD, "id": "d1", "split": "dev", "input": "1+1?", "choices": ["2", "3"], "label": "A"},
        GOOD,
    )
    ds = load_dataset(card(few_shot=1), data)
    p = build_prompt(ds, ds.items[0])
    assert p == (
        "The following are multiple choice questions. Answer with the letter of the correct option."
        "\n\nQuestion: 1+1?\nA. 2\nB. 3\nAnswer: A"
        "\n\nQuestion: 2+2?\nA. 3\nB. 4\nAnswer:"
    )
    assert format_choices(["x", "y", "z"]) == "A. x\nB. y\nC. z"
    zh = load_dataset(card(language="zh", few_shot=1), data)
    pz = build_prompt(zh, zh.items[0])
    assert pz.startswith("以下是单项选择题")
    assert "问题：1+1?\nA. 2\nB. 3\n答案：A\n\n问题：2+2?" in pz and pz.endswith("答案：")
    custom = load_dataset(card(prompt_template="Q={input}|{choices}|->"), jsonl(GOOD))
    assert build_prompt(custom, custom.items[0]) == "Q=2+2?|A. 3\nB. 4|->"
    gen = load_dataset(
        card(task="generative_qa", metric="f1"),
        jsonl({"id": "a", "input": "Capital of France?", "label": "Paris"}),
    )
    assert build_prompt(gen, gen.items[0]).endswith("Question: Capital of France?\nAnswer:")
    # perturbed input replaces only the question text
    assert "Question: 2+2 ?" in build_prompt(ds, ds.items[0], "2+2 ?")


def test_math_prompts_show_the_worked_exemplars():
    math = load_demo_dataset("demo-en-math")
    prompt = build_prompt(math, math.items[0])
    assert prompt.count("####") == 3  # instruction + two worked exemplars
    test = jsonl({"question": "q1 3?", "answer": "#### 3"})
    dev = jsonl({"question": "d1?", "answer": "so 4\n#### 4"})
    _, _, ds = convert("gsm8k-jsonl", test, name="gsm", language="en", few_shot=1, dev=dev)
    assert "d1?\nAnswer: so 4\n#### 4" in build_prompt(ds, ds.items[0])
