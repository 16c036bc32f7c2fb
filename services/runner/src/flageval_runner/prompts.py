# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""Prompt building from the card: default templates per (task, language), choice
formatting ``A. …``, few-shot exemplars taken from the dataset's dev split."""

from __future__ import annotations

from flageval_datasets.card import DatasetCard, Language, Task
from flageval_datasets.loader import LETTERS, Dataset, Item

_CHOICE_EN = "Question: {input}\n{choices}\nAnswer:"
_CHOICE_ZH = "问题：{input}\n{choices}\n答案："

DEFAULT_TEMPLATES: dict[tuple[Task, Language], str] = {
    (Task.choice_qa, Language.en): _CHOICE_EN,
    (Task.choice_qa, Language.zh): _CHOICE_ZH,
    (Task.classification, Language.en): "Text: {input}\n{choices}\nLabel:",
    (Task.classification, Language.zh): "文本：{input}\n{choices}\n类别：",
    (Task.generative_qa, Language.en): "Question: {input}\nAnswer:",
    (Task.generative_qa, Language.zh): "问题：{input}\n答案：",
    (Task.math, Language.en): "Question: {input}\nAnswer:",
    (Task.math, Language.zh): "问题：{input}\n解答：",
    (Task.open_qa, Language.en): "Question: {input}\nAnswer:",
    (Task.open_qa, Language.zh): "问题：{input}\n回答：",
}

# Instruction put once before the exemplars and the question (default templates only).
INSTRUCTIONS: dict[tuple[Task, Language], str] = {
    (Task.choice_qa, Language.en): (
        "The following are multiple choice questions. Answer with the letter of the correct option."
    ),
    (Task.choice_qa, Language.zh): "以下是单项选择题，请直接给出正确答案的选项字母。",
    (Task.classification, Language.en): "Classify the text. Answer with the label only.",
    (Task.classification, Language.zh): "请对文本进行分类，只回答类别。",
    (Task.generative_qa, Language.en): "Answer the question with a short answer.",
    (Task.generative_qa, Language.zh): "请用简短的答案回答问题。",
    (Task.math, Language.en): (
        'Solve the math word problem. Finish with the final answer as "#### <number>".'
    ),
    (Task.math, Language.zh): "请解答下面的数学应用题，最后以“#### 数字”的形式给出答案。",
}


def format_choices(choices: list[str] | None) -> str:
    """``["x", "y"]`` → ``"A. x\\nB. y"``."""
    if not choices:
        return ""
    return "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def template_for(card: DatasetCard) -> str:
    return card.prompt_template or DEFAULT_TEMPLATES[(card.task, card.language)]


def render(card: DatasetCard, item: Item, input_text: str | None = None) -> str:
    """One question rendered with the card's template (``input_text`` overrides the item's
    input, e.g. with a robustness perturbation). Lines left empty by a missing
    ``{choices}`` are dropped."""
    text = template_for(card)
    if item.choices:
        text = text.replace("{choices}", format_choices(item.choices))
    else:
        text = text.replace("{choices}\n", "").replace("\n{choices}", "").replace("{choices}", "")
    return text.replace("{input}", item.input if input_text is None else input_text)


def exemplar_answer(card: DatasetCard, item: Item) -> str:
    """The gold answer written after a few-shot exemplar."""
    if card.task == Task.math:
        solution = (item.meta or {}).get("solution")
        if isinstance(solution, str) and solution.strip():
            return solution.strip()
        return f"#### {item.label}"
    if item.label is not None:
        return item.label.strip()
    return item.gold_references[0] if item.gold_references else ""


def _subject(item: Item) -> str | None:
    subject = (item.meta or {}).get("subject")
    return subject.strip() if isinstance(subject, str) and subject.strip() else None


def exemplars(dataset: Dataset, item: Item) -> list[Item]:
    """The ``few_shot`` dev items shown before ``item``: for an item with a subject
    (``meta.subject``: MMLU, CMMLU, C-Eval), the dev items of the same subject, as those
    benchmarks prescribe; the whole dev split when it has none of that subject."""
    k = dataset.card.few_shot
    if k <= 0:
        return []
    subject = _subject(item)
    if subject is not None:
        same = [ex for ex in dataset.dev if _subject(ex) == subject]
        if same:
            return same[:k]
    return list(dataset.dev[:k])


def build_prompt(dataset: Dataset, item: Item, input_text: str | None = None) -> str:
    """Instruction (default templates only) + ``few_shot`` dev exemplars + the question."""
    card = dataset.card
    sep = "" if card.language == Language.zh else " "
    parts: list[str] = []
    if card.prompt_template is None and (card.task, card.language) in INSTRUCTIONS:
        parts.append(INSTRUCTIONS[(card.task, card.language)])
    for ex in exemplars(dataset, item):
        parts.append(render(card, ex) + sep + exemplar_answer(card, ex))
    parts.append(render(card, item, input_text))
    return "\n\n".join(parts)
