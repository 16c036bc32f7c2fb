# ruff: noqa: RUF002  (Chinese text uses full-width punctuation on purpose)
"""Per-item scores and aggregation (SPEC §6).

Definitions follow the well-known references:

* ``normalize_answer`` — SQuAD v1.1/v2.0 official ``normalize_answer`` (also HELM's
  ``normalize_text``): lowercase, drop punctuation, drop the articles a/an/the, collapse
  whitespace. Extended only for text outside ASCII: Unicode punctuation (``。，！`` …) is
  dropped too, which changes nothing on ASCII input.
* ``exact_match`` — HELM: ``gold.strip() == pred.strip()``; max over references.
* ``quasi_exact_match`` — HELM: ``normalize(gold) == normalize(pred)``; max over references.
* ``f1`` — SQuAD v2.0 official ``compute_f1`` (bag-of-tokens with multiplicity; when either
  side has no tokens the score is 1 iff both have none); max over references. Tokens are
  whitespace-separated, except that each CJK character is its own token (so Chinese answers
  get character-level F1, as in CMRC/DRCD); identical to ``str.split()`` on text without CJK.
* ``choice_accuracy`` — 1 if the option letter extracted from the generation equals gold.
* ``math_accuracy`` — numeric answer extraction (the number after the last ``####`` if present, else
  the last number; thousands commas removed) compared as numbers.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

_ASCII_PUNCT = frozenset(string.punctuation)
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_CJK = (
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
    r"\U00020000-\U0002a6df"
)
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")


# ---------------------------------------------------------------- normalisation & F1


def _is_punct(ch: str) -> bool:
    if ch in _ASCII_PUNCT:
        return True
    return ch > "\x7f" and unicodedata.category(ch).startswith("P")


def normalize_answer(s: str) -> str:
    """SQuAD/HELM normalisation: lower → remove punctuation → remove articles → fix spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if not _is_punct(ch))
    s = _ARTICLES_RE.sub(" ", s)
    return " ".join(s.split())


def tokenize(s: str) -> list[str]:
    """Whitespace tokens, CJK characters split one per token."""
    return _TOKEN_RE.findall(s)


def _f1_single(gold: str, pred: str) -> float:
    gold_toks = tokenize(normalize_answer(gold))
    pred_toks = tokenize(normalize_answer(pred))
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    common = Counter(gold_toks) & Counter(pred_toks)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def _max_over(refs: Iterable[str], pred: str, fn) -> float:  # type: ignore[no-untyped-def]
    scores = [fn(r, pred) for r in refs]
    return max(scores) if scores else 0.0


def exact_match(references: Sequence[str], prediction: str) -> float:
    return _max_over(references, prediction, lambda g, p: float(g.strip() == p.strip()))


def quasi_exact_match(references: Sequence[str], prediction: str) -> float:
    return _max_over(
        references, prediction, lambda g, p: float(normalize_answer(g) == normalize_answer(p))
    )


def f1_score(references: Sequence[str], prediction: str) -> float:
    return _max_over(references, prediction, _f1_single)


# ---------------------------------------------------------------- choice letters

_OPEN = r"[\(\[\{<“\"']?"
_ANSWER_RE = re.compile(
    r"(?i:answer|option|choice|答案|选项|应选|选择|选)\s*"
    r"(?i:is|should\s+be|would\s+be|是|为|应该是|应为|:)?"
    r"\s*:?\s*" + _OPEN + r"\s*([A-Z])(?![A-Za-z])"
)
_LEADING_RE = re.compile(r"^\s*" + _OPEN + r"\s*([A-Z])\s*(?:[\)\]\}>”\"'.:,;、]|\s|$)")
_STANDALONE_RE = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")


def extract_choice(
    generation: str, n_choices: int, choices: Sequence[str] | None = None
) -> str | None:
    """The option letter a generation picks, or None. In order: the whole answer is a letter
    (``B``, ``B.``, ``(B)``); an answer phrase (``Answer: B``, ``The answer is (B)``,
    ``答案是B``); a leading letter (``B) Paris``, ``C、…``); the generation equals one
    option's text (quasi-exact); the first standalone capital letter that is a valid option."""
    valid = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:n_choices]
    text = unicodedata.normalize("NFKC", generation).strip()
    if not text:
        return None
    bare = text.strip(" \t\r\n.:,;()[]{}<>\"'*“”")
    if len(bare) == 1 and bare.upper() in valid:
        return bare.upper()
    for m in _ANSWER_RE.finditer(text):
        letter = m.group(1).upper()
        if letter in valid:
            return letter
    lead = _LEADING_RE.match(text)
    if lead and lead.group(1) in valid:
        return lead.group(1)
    if choices:
        norm = normalize_answer(text)
        for i, c in enumerate(choices):
            if norm and normalize_answer(c) == norm:
                return valid[i]
    for sm in _STANDALONE_RE.finditer(text):
        if sm.group(1) in valid:
            return sm.group(1)
    return None


def choice_accuracy(gold_letter: str, generation: str, choices: Sequence[str]) -> float:
    return float(extract_choice(generation, len(choices), choices) == gold_letter.strip().upper())


# ---------------------------------------------------------------- math

_NUMBER_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")


def extract_number(text: str) -> Decimal | None:
    """The numeric answer: the first number after the last ``####`` if there is one (GSM8K
    "strict match"), otherwise the last number in the text ("flexible extract");
    thousands commas removed."""
    text = unicodedata.normalize("NFKC", text)
    found: list[str] = []
    if "####" in text:
        first = _NUMBER_RE.search(text.rsplit("####", 1)[1])
        if first:
            found = [first.group(0)]
    if not found:
        found = _NUMBER_RE.findall(text)
    if not found:
        return None
    try:
        return Decimal(found[-1].replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the regex only matches numbers
        return None


def format_number(value: Decimal | None) -> str | None:
    if value is None:
        return None
    v = value.normalize()
    return format(v, "f") if v != v.to_integral_value() else str(int(v))


def math_accuracy(gold: str, generation: str) -> float:
    g = extract_number(gold)
    p = extract_number(generation)
    return float(g is not None and p is not None and g == p)


# ---------------------------------------------------------------- aggregation


def mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def task_average(dataset_scores: Iterable[float | None]) -> float | None:
    """Task score = unweighted mean of its datasets' scores (datasets without one skipped)."""
    return mean(dataset_scores)
