"""Readers of the public file formats: one function per format turns one file into items.

Each reader gets the file's label (for error messages), its bytes, the :class:`Collector` and
the id prefix / subject, and adds items or line-numbered errors; it never raises for bad data.
Items are validated where they are read, so every error names the source file's line, not a
line of the JSONL written afterwards.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
from typing import Any

from pydantic import ValidationError

from ..card import DatasetCard
from ..loader import (
    LETTERS,
    LONE_SURROGATE,
    Item,
    LineError,
    _pydantic_messages,
    _task_checks,
    has_lone_surrogate,
)

CHOICE_LETTERS = "ABCD"


class Collector:
    """Items and errors of one import, with ids checked for uniqueness across files."""

    def __init__(self, card: DatasetCard):
        self.card = card
        self.errors: list[LineError] = []
        self.items: list[Item] = []
        self.dev: list[Item] = []
        self._seen: dict[str, tuple[str | None, int]] = {}

    def error(self, file: str | None, line: int | None, message: str) -> None:
        self.errors.append(LineError(line, message, file))

    def add(
        self,
        file: str | None,
        line: int,
        obj: dict[str, Any],
        *,
        dev: bool,
        shown_id: str | None = None,
    ) -> None:
        if dev:
            obj["split"] = "dev"
        try:
            item = Item.model_validate(obj)
        except ValidationError as exc:
            for m in _pydantic_messages(exc):
                self.error(file, line, m)
            return
        if item.id in self._seen:
            first_file, first_line = self._seen[item.id]
            where = (
                f"line {first_line}"
                if first_file == file
                else f"{first_file or 'the data'} line {first_line}"
            )
            self.error(file, line, f"duplicate id {shown_id or item.id!r} (first on {where})")
            return
        self._seen[item.id] = (file, line)
        problems = _task_checks(self.card, item)
        if problems:
            for p in problems:
                self.error(file, line, p)
            return
        (self.dev if dev else self.items).append(item)


def item_id(key: object, *, subject: str | None, dev: bool) -> str:
    """``<subject>-[dev-]<key>``: stable (from the file's own ids or row numbers) and unique."""
    return f"{subject + '-' if subject else ''}{'dev-' if dev else ''}{key}"


def _text(file: str | None, raw: bytes, coll: Collector) -> str | None:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        coll.error(file, raw[: exc.start].count(b"\n") + 1, "not valid UTF-8")
        return None


def csv_records(file: str | None, raw: bytes, coll: Collector) -> list[tuple[int, list[str]]]:
    """(starting line number, cells) per CSV record; blank records skipped."""
    text = _text(file, raw, coll)
    if text is None:
        return []
    if "\x00" in text:
        coll.error(file, text[: text.index("\x00")].count("\n") + 1, "holds a NUL byte")
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    out: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(c.strip() for c in row):
                out.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        coll.error(file, reader.line_num, f"bad CSV: {exc}")
        return []
    if not out:
        coll.error(file, None, "empty file")
    return out


def jsonl_records(file: str | None, raw: bytes, coll: Collector) -> list[tuple[int, Any]]:
    """(line number, parsed object) per non-blank line."""
    text = _text(file, raw, coll)
    if text is None:
        return []
    out: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            coll.error(file, lineno, f"not valid JSON ({exc.msg})")
            continue
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number, deep nesting
            coll.error(file, lineno, f"not usable JSON ({type(exc).__name__}: {exc})"[:300])
            continue
        if not isinstance(obj, dict):
            coll.error(file, lineno, "not a JSON object")
        elif has_lone_surrogate(obj):
            coll.error(file, lineno, LONE_SURROGATE)
        else:
            out.append((lineno, obj))
    if not out and not coll.errors:
        coll.error(file, None, "empty file")
    return out


def json_array_records(file: str | None, raw: bytes, coll: Collector) -> list[tuple[int, Any]]:
    """A JSON array (``mc_task.json``) as (line where the element starts, element)."""
    text = _text(file, raw, coll)
    if text is None:
        return []
    dec = json.JSONDecoder()
    out: list[tuple[int, Any]] = []
    ws = re.compile(r"\s*")

    def skip(i: int) -> int:
        m = ws.match(text, i)
        return m.end() if m else i

    def line_of(i: int) -> int:
        return text.count("\n", 0, i) + 1

    i = skip(0)
    if not text.startswith("[", i):
        coll.error(file, line_of(i), "expected a JSON array of questions")
        return []
    i = skip(i + 1)
    if text.startswith("]", i):
        coll.error(file, None, "empty array")
        return []
    while True:
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            coll.error(file, exc.lineno, f"not valid JSON ({exc.msg})")
            return []
        except (ValueError, RecursionError) as exc:
            coll.error(file, line_of(i), f"not usable JSON ({type(exc).__name__}: {exc})"[:300])
            return []
        if not isinstance(obj, dict):
            coll.error(file, line_of(i), "not a JSON object")
        elif has_lone_surrogate(obj):
            coll.error(file, line_of(i), LONE_SURROGATE)
        else:
            out.append((line_of(i), obj))
        i = skip(end)
        if text.startswith(",", i):
            i = skip(i + 1)
            continue
        if text.startswith("]", i) and not text[skip(i + 1) :]:
            return out
        coll.error(file, line_of(i), "not valid JSON (expected ',' or a final ']')")
        return []


def _choice_item(
    coll: Collector,
    file: str | None,
    line: int,
    iid: str,
    question: str,
    options: list[str],
    answer: str,
    *,
    dev: bool,
    shown_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    """A four-option row (MMLU, CMMLU, C-Eval) with its answer letter."""
    problems = []
    if not question.strip():
        problems.append("question is empty")
    if any(not o.strip() for o in options):
        problems.append("an option is empty")
    ans = answer.strip().upper()
    if ans not in CHOICE_LETTERS:
        problems.append(f"answer {answer!r} is not one of A, B, C, D")
    if problems:
        for p in problems:
            coll.error(file, line, p)
        return
    obj: dict[str, Any] = {
        "id": iid,
        "input": question.strip(),
        "choices": [o.strip() for o in options],
        "label": ans,
    }
    if meta:
        obj["meta"] = meta
    coll.add(file, line, obj, dev=dev, shown_id=shown_id)


def _subject_meta(subject: str | None) -> dict[str, Any] | None:
    return {"subject": subject} if subject else None


# ---------------------------------------------------------------- CSV formats


def read_mmlu_csv(
    file: str | None, raw: bytes, coll: Collector, *, subject: str | None, dev: bool
) -> None:
    """MMLU: no header; rows ``question, A, B, C, D, answer`` (answer = letter)."""
    for n, (line, row) in enumerate(csv_records(file, raw, coll), start=1):
        if len(row) != 6:
            coll.error(file, line, f"expected 6 columns (question,A,B,C,D,answer), got {len(row)}")
            continue
        iid = item_id(n, subject=subject, dev=dev)
        meta = _subject_meta(subject)
        _choice_item(coll, file, line, iid, row[0], row[1:5], row[5], dev=dev, meta=meta)


def _header_index(
    file: str | None, header: tuple[int, list[str]], required: list[str], coll: Collector
) -> dict[str, int] | None:
    line, cells = header
    cols = [h.strip().lower() for h in cells]
    missing = [c for c in required if c not in cols]
    if missing:
        shown = ", ".join(c if len(c) > 1 else c.upper() for c in missing)
        coll.error(file, line, f"header lacks column(s): {shown}")
        return None
    return {c: cols.index(c) for c in cols}


def read_ceval_csv(
    file: str | None, raw: bytes, coll: Collector, *, subject: str | None, dev: bool
) -> None:
    """C-Eval: header ``id, question, A, B, C, D, answer[, explanation]``."""
    rows = csv_records(file, raw, coll)
    if not rows:
        return
    idx = _header_index(file, rows[0], ["id", "question", "a", "b", "c", "d", "answer"], coll)
    if idx is None:
        return
    width = len(rows[0][1])
    for line, row in rows[1:]:
        if len(row) != width:
            coll.error(file, line, f"expected {width} columns, got {len(row)}")
            continue
        raw_id = row[idx["id"]].strip()
        if not raw_id:
            coll.error(file, line, "id is empty")
            continue
        meta = dict(_subject_meta(subject) or {})
        if "explanation" in idx and row[idx["explanation"]].strip():
            meta["explanation"] = row[idx["explanation"]].strip()
        _choice_item(
            coll,
            file,
            line,
            item_id(raw_id, subject=subject, dev=dev),
            row[idx["question"]],
            [row[idx[c]] for c in "abcd"],
            row[idx["answer"]],
            dev=dev,
            shown_id=raw_id,
            meta=meta or None,
        )


CMMLU_HEADER = ",Question,A,B,C,D,Answer"


def read_cmmlu_csv(
    file: str | None, raw: bytes, coll: Collector, *, subject: str | None, dev: bool
) -> None:
    """CMMLU: header ``,Question,A,B,C,D,Answer`` (an unnamed index column first, as pandas
    writes it); the index becomes the item's id."""
    rows = csv_records(file, raw, coll)
    if not rows:
        return
    hline, header = rows[0]
    if not header or header[0].strip():
        coll.error(
            file,
            hline,
            f"header must be {CMMLU_HEADER!r} (an unnamed index column first), "
            f"got {','.join(header)!r}",
        )
        return
    idx = _header_index(file, rows[0], ["question", "a", "b", "c", "d", "answer"], coll)
    if idx is None:
        return
    for line, row in rows[1:]:
        if len(row) != len(header):
            coll.error(file, line, f"expected {len(header)} columns, got {len(row)}")
            continue
        raw_id = row[0].strip()
        if not raw_id:
            coll.error(file, line, "index (first column) is empty")
            continue
        _choice_item(
            coll,
            file,
            line,
            item_id(raw_id, subject=subject, dev=dev),
            row[idx["question"]],
            [row[idx[c]] for c in "abcd"],
            row[idx["answer"]],
            dev=dev,
            shown_id=raw_id,
            meta=_subject_meta(subject),
        )


# ---------------------------------------------------------------- JSON formats


def _str_field(obj: dict[str, Any], key: str) -> str | None:
    v = obj.get(key)
    return v if isinstance(v, str) and v.strip() else None


def read_gsm8k_jsonl(
    file: str | None, raw: bytes, coll: Collector, *, subject: str | None, dev: bool
) -> None:
    """GSM8K ``{"question", "answer": "…reasoning… #### 72"}``: label = the number after
    ``####`` (commas removed); the full answer is kept as ``meta.solution`` (the worked example
    of few-shot prompts, as lm-evaluation-harness shows it)."""
    for n, (line, obj) in enumerate(jsonl_records(file, raw, coll), start=1):
        q, a = _str_field(obj, "question"), obj.get("answer")
        if q is None:
            coll.error(file, line, "question missing or empty")
            continue
        if not isinstance(a, str) or "####" not in a:
            coll.error(file, line, "answer missing or without '#### <number>'")
            continue
        final = a.rsplit("####", 1)[1].strip().replace(",", "")
        try:
            float(final)
        except ValueError:
            coll.error(file, line, f"final answer {final!r} after '####' is not a number")
            continue
        item = {
            "id": item_id(n, subject=subject, dev=dev),
            "input": q.strip(),
            "label": final,
            "meta": {"solution": a.strip()},
        }
        coll.add(file, line, item, dev=dev)


def hellaswag_preprocess(text: str) -> str:
    """lm-evaluation-harness's HellaSwag clean-up (WikiHow ``[title]`` markers, brackets)."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _int_label(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def read_hellaswag_jsonl(
    file: str | None, raw: bytes, coll: Collector, *, subject: str | None, dev: bool
) -> None:
    """HellaSwag ``hellaswag_{train,val}.jsonl``: input = ``activity_label: ctx_a Ctx_b``
    cleaned as lm-evaluation-harness does; choices = the four endings; label = their index."""
    for line, obj in jsonl_records(file, raw, coll):
        ind = obj.get("ind")
        if isinstance(ind, bool) or not isinstance(ind, int | str) or not str(ind).strip():
            coll.error(file, line, "ind missing (the item's id)")
            continue
        problems = [
            f"{k} missing or not a string"
            for k in ("activity_label", "ctx_a", "ctx_b")
            if not isinstance(obj.get(k), str)
        ]
        endings = obj.get("endings")
        if not isinstance(endings, list) or len(endings) != 4:
            problems.append("endings must be a list of 4 strings")
        elif not all(isinstance(e, str) for e in endings):
            problems.append("endings must be a list of 4 strings")
        label = _int_label(obj.get("label"))
        if "label" not in obj or obj["label"] in (None, ""):
            problems.append("label missing (the public test split has no labels; use val)")
        elif label is None or not 0 <= label < 4:
            problems.append(f"label {obj.get('label')!r} is not 0, 1, 2 or 3")
        if problems:
            for p in problems:
                coll.error(file, line, p)
            continue
        assert isinstance(endings, list) and label is not None
        ctx = obj["ctx_a"] + " " + obj["ctx_b"].capitalize()
        meta = {
            k: obj[k]
            for k in ("activity_label", "source_id", "split_type")
            if isinstance(obj.get(k), str)
        }
        item = {
            "id": item_id(str(ind).strip(), subject=subject, dev=dev),
            "input": hellaswag_preprocess(obj["activity_label"] + ": " + ctx),
            "choices": [hellaswag_preprocess(e) for e in endings],
            "label": LETTERS[label],
            "meta": meta,
        }
        coll.add(file, line, item, dev=dev, shown_id=str(ind).strip())


def read_arc_jsonl(
    file: str | None, raw: bytes, coll: Collector, *, subject: str | None, dev: bool
) -> None:
    """ARC ``{"id", "question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}``;
    labels "A".."E" or "1".."5" are mapped to our letters by position."""
    for line, obj in jsonl_records(file, raw, coll):
        raw_id = obj.get("id")
        question = obj.get("question")
        if not isinstance(raw_id, str) or not raw_id.strip():
            coll.error(file, line, "id missing or empty")
            continue
        if not isinstance(question, dict) or _str_field(question, "stem") is None:
            coll.error(file, line, "question.stem missing or empty")
            continue
        choices = question.get("choices")
        if not isinstance(choices, list) or not all(
            isinstance(c, dict)
            and isinstance(c.get("text"), str)
            and isinstance(c.get("label"), str)
            for c in choices
        ):
            coll.error(file, line, "question.choices must be a list of {text, label}")
            continue
        labels = [str(c["label"]).strip() for c in choices]
        if len(set(labels)) != len(labels):
            coll.error(file, line, f"choice labels repeat: {', '.join(labels)}")
            continue
        key = obj.get("answerKey")
        key = str(key).strip() if isinstance(key, str | int) and not isinstance(key, bool) else None
        if key is None or key not in labels:
            coll.error(
                file,
                line,
                f"answerKey {obj.get('answerKey')!r} is not one of the labels {', '.join(labels)}",
            )
            continue
        if len(labels) > len(LETTERS):
            coll.error(file, line, f"{len(labels)} choices: at most {len(LETTERS)}")
            continue
        item = {
            "id": item_id(raw_id.strip(), subject=subject, dev=dev),
            "input": question["stem"].strip(),
            "choices": [c["text"].strip() for c in choices],
            "label": LETTERS[labels.index(key)],
        }
        coll.add(file, line, item, dev=dev, shown_id=raw_id.strip())


def read_boolq_jsonl(
    file: str | None, raw: bytes, coll: Collector, *, subject: str | None, dev: bool
) -> None:
    """BoolQ ``{"question", "passage", "answer": bool, "title"}``: input = the passage then
    ``Question: <question>?`` (as lm-evaluation-harness asks it); choices yes/no, label A/B."""
    for n, (line, obj) in enumerate(jsonl_records(file, raw, coll), start=1):
        q, p, a = _str_field(obj, "question"), _str_field(obj, "passage"), obj.get("answer")
        problems = []
        if q is None:
            problems.append("question missing or empty")
        if p is None:
            problems.append("passage missing or empty")
        if not isinstance(a, bool):
            problems.append(f"answer {a!r} is not true or false")
        if problems or q is None or p is None:
            for msg in problems:
                coll.error(file, line, msg)
            continue
        question = q.strip()
        if not question.endswith("?"):
            question += "?"
        item: dict[str, Any] = {
            "id": item_id(n, subject=subject, dev=dev),
            "input": f"{p.strip()}\nQuestion: {question}",
            "choices": ["yes", "no"],
            "label": "A" if a else "B",
        }
        if _str_field(obj, "title"):
            item["meta"] = {"title": obj["title"].strip()}
        coll.add(file, line, item, dev=dev)


def _mc1_targets(targets: object) -> tuple[list[str], list[int]] | str:
    """(choices, labels) from the HF ``{choices, labels}`` or mc_task.json ``{text: 0|1}``."""
    if isinstance(targets, dict) and set(targets) == {"choices", "labels"}:
        choices, labels = targets["choices"], targets["labels"]
        if not isinstance(choices, list) or not isinstance(labels, list):
            return "mc1_targets.choices and .labels must be lists"
        if len(choices) != len(labels):
            return f"mc1_targets has {len(choices)} choices but {len(labels)} labels"
    elif isinstance(targets, dict):
        choices, labels = list(targets), list(targets.values())
    else:
        return "mc1_targets missing (an object of choices and 0/1 labels)"
    if not all(isinstance(c, str) for c in choices):
        return "mc1_targets choices must be strings"
    if not all(isinstance(v, int) and not isinstance(v, bool) and v in (0, 1) for v in labels):
        return "mc1_targets labels must be 0 or 1"
    return choices, labels


def read_truthfulqa_mc1(
    file: str | None, raw: bytes, coll: Collector, *, subject: str | None, dev: bool
) -> None:
    """TruthfulQA MC1: ``mc_task.json`` (a JSON array) or the HF export as JSONL; each
    ``{"question", "mc1_targets"}`` with exactly one true choice. The public files list the
    true choice first; a letter-answering model could then score 1.0 by always saying "A", so
    the choices are put in an order drawn from the question's text (the same order on every
    import, whatever the file's position) and the label follows the true choice."""
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    reader = json_array_records if head == b"[" else jsonl_records
    for n, (line, obj) in enumerate(reader(file, raw, coll), start=1):
        q = _str_field(obj, "question")
        if q is None:
            coll.error(file, line, "question missing or empty")
            continue
        parsed = _mc1_targets(obj.get("mc1_targets"))
        if isinstance(parsed, str):
            coll.error(file, line, parsed)
            continue
        choices, labels = parsed
        if labels.count(1) != 1:
            coll.error(
                file, line, f"mc1_targets must mark exactly one choice 1, got {labels.count(1)}"
            )
            continue
        if len(choices) > len(LETTERS):
            coll.error(file, line, f"{len(choices)} choices: at most {len(LETTERS)}")
            continue
        order = _stable_order(q.strip(), len(choices))
        item = {
            "id": item_id(n, subject=subject, dev=dev),
            "input": q.strip(),
            "choices": [choices[i].strip() for i in order],
            "label": LETTERS[order.index(labels.index(1))],
        }
        coll.add(file, line, item, dev=dev)


def _stable_order(key: str, n: int) -> list[int]:
    """A permutation of ``range(n)`` fixed by ``key`` (sha256-seeded, the same on every
    machine and Python version)."""
    seed = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return random.Random(seed).sample(range(n), n)


def read_plain_jsonl(
    file: str | None, raw: bytes, coll: Collector, *, subject: str | None, dev: bool
) -> None:
    """Our own item format (SPEC §6), validated and canonicalised."""
    for line, obj in jsonl_records(file, raw, coll):
        if dev and "id" in obj:
            obj = {**obj, "id": item_id(obj["id"], subject=subject, dev=dev)}
        coll.add(file, line, obj, dev=dev or obj.get("split") == "dev")
