"""Importers from common public formats to the card + JSONL format (SPEC §6).

    python -m flageval_datasets.importers FORMAT IN OUT_DIR --name NAME --language en|zh
        [--task T] [--metric M] [--few-shot N --dev DEV_IN] [--version V] [--prompt-template T]

Formats:

* ``mmlu-csv``  — no header; rows ``question, A, B, C, D, answer`` (answer = letter).
* ``gsm8k-jsonl`` — lines ``{"question": …, "answer": "…reasoning… #### 72"}``; the label is
  the number after ``####`` (commas removed), the full answer kept as ``meta.solution``
  (used as the worked example in few-shot prompts).
* ``ceval-csv`` — header ``id, question, A, B, C, D, answer[, explanation]``.
* ``jsonl`` — already our item format; validated and canonicalised.

``--dev`` takes a second file in the same format whose items become the few-shot split.
Errors name the input file's line numbers. Writes ``OUT_DIR/card.json`` and
``OUT_DIR/data.jsonl`` only when everything is valid.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from .card import Task
from .loader import Dataset, DatasetError, LineError, canonical_json, load_dataset

FORMATS = ("mmlu-csv", "gsm8k-jsonl", "ceval-csv", "jsonl")
DEFAULTS: dict[str, tuple[str, str]] = {  # format → (task, metric)
    "mmlu-csv": ("choice_qa", "accuracy"),
    "ceval-csv": ("choice_qa", "accuracy"),
    "gsm8k-jsonl": ("math", "exact_match"),
    "jsonl": ("generative_qa", "quasi_exact_match"),
}
CHOICE_LETTERS = "ABCD"


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError([LineError(line, "not valid UTF-8")]) from exc


def _csv_rows(raw: bytes) -> list[tuple[int, list[str]]]:
    """(starting line number, cells) per CSV record; blank records skipped."""
    f = io.StringIO(_text(raw), newline="")
    reader = csv.reader(f)
    out: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(c.strip() for c in row):
                out.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError([LineError(reader.line_num, f"bad CSV: {exc}")]) from exc
    return out


def _choice_item(
    lineno: int,
    item_id: str,
    question: str,
    options: list[str],
    answer: str,
    errors: list[LineError],
) -> dict[str, Any] | None:
    problems = []
    if not question.strip():
        problems.append("question is empty")
    if any(not o.strip() for o in options):
        problems.append("an option is empty")
    ans = answer.strip().upper()
    if ans not in CHOICE_LETTERS:
        problems.append(f"answer {answer!r} is not one of A, B, C, D")
    if problems:
        errors.extend(LineError(lineno, p) for p in problems)
        return None
    return {
        "id": item_id,
        "input": question.strip(),
        "choices": [o.strip() for o in options],
        "label": ans,
    }


def convert_mmlu_csv(raw: bytes, prefix: str) -> list[dict[str, Any]]:
    errors: list[LineError] = []
    items = []
    for n, (lineno, row) in enumerate(_csv_rows(raw), start=1):
        if len(row) != 6:
            errors.append(
                LineError(lineno, f"expected 6 columns (question,A,B,C,D,answer), got {len(row)}")
            )
            continue
        it = _choice_item(lineno, f"{prefix}{n}", row[0], row[1:5], row[5], errors)
        if it:
            items.append(it)
    if errors:
        raise DatasetError(errors)
    return items


def convert_ceval_csv(raw: bytes, prefix: str) -> list[dict[str, Any]]:
    rows = _csv_rows(raw)
    if not rows:
        raise DatasetError([LineError(1, "empty file (a header row is required)")])
    hline, header = rows[0]
    cols = [h.strip().lower() for h in header]
    required = ["id", "question", "a", "b", "c", "d", "answer"]
    missing = [c for c in required if c not in cols]
    if missing:
        raise DatasetError([LineError(hline, f"header lacks column(s): {', '.join(missing)}")])
    idx = {c: cols.index(c) for c in cols}
    errors: list[LineError] = []
    items = []
    seen: dict[str, int] = {}
    for lineno, row in rows[1:]:
        if len(row) != len(cols):
            errors.append(LineError(lineno, f"expected {len(cols)} columns, got {len(row)}"))
            continue
        raw_id = row[idx["id"]].strip()
        if not raw_id:
            errors.append(LineError(lineno, "id is empty"))
            continue
        item_id = f"{prefix}{raw_id}"
        if item_id in seen:
            errors.append(
                LineError(lineno, f"duplicate id {raw_id!r} (first on line {seen[item_id]})")
            )
            continue
        seen[item_id] = lineno
        options = [row[idx[c]] for c in "abcd"]
        it = _choice_item(
            lineno, item_id, row[idx["question"]], options, row[idx["answer"]], errors
        )
        if it is None:
            continue
        if "explanation" in idx and row[idx["explanation"]].strip():
            it["meta"] = {"explanation": row[idx["explanation"]].strip()}
        items.append(it)
    if errors:
        raise DatasetError(errors)
    return items


def _jsonl_objects(raw: bytes) -> list[tuple[int, Any]]:
    out = []
    errors = []
    for lineno, line in enumerate(_text(raw).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            out.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            errors.append(LineError(lineno, f"not valid JSON ({exc.msg})"))
    if errors:
        raise DatasetError(errors)
    return out


def convert_gsm8k_jsonl(raw: bytes, prefix: str) -> list[dict[str, Any]]:
    errors: list[LineError] = []
    items = []
    for n, (lineno, obj) in enumerate(_jsonl_objects(raw), start=1):
        if not isinstance(obj, dict):
            errors.append(LineError(lineno, "not a JSON object"))
            continue
        q, a = obj.get("question"), obj.get("answer")
        if not isinstance(q, str) or not q.strip():
            errors.append(LineError(lineno, "question missing or empty"))
            continue
        if not isinstance(a, str) or "####" not in a:
            errors.append(LineError(lineno, "answer missing or without '#### <number>'"))
            continue
        final = a.rsplit("####", 1)[1].strip().replace(",", "")
        try:
            float(final)
        except ValueError:
            errors.append(LineError(lineno, f"final answer {final!r} after '####' is not a number"))
            continue
        items.append(
            {
                "id": f"{prefix}{n}",
                "input": q.strip(),
                "label": final,
                "meta": {"solution": a.strip()},
            }
        )
    if errors:
        raise DatasetError(errors)
    return items


def convert_jsonl(raw: bytes, prefix: str) -> list[dict[str, Any]]:
    items = []
    errors = []
    for lineno, obj in _jsonl_objects(raw):
        if not isinstance(obj, dict):
            errors.append(LineError(lineno, "not a JSON object"))
            continue
        items.append(obj)
    if errors:
        raise DatasetError(errors)
    return items


CONVERTERS = {
    "mmlu-csv": convert_mmlu_csv,
    "gsm8k-jsonl": convert_gsm8k_jsonl,
    "ceval-csv": convert_ceval_csv,
    "jsonl": convert_jsonl,
}


def convert(
    fmt: str,
    raw: bytes,
    *,
    name: str,
    language: str,
    task: str | None = None,
    metric: str | None = None,
    few_shot: int = 0,
    version: str = "1",
    domain: str = "nlp",
    dev: bytes | None = None,
    prompt_template: str | None = None,
) -> tuple[bytes, bytes, Dataset]:
    """Convert ``raw`` (and an optional dev file) → (card JSON, data JSONL, validated Dataset)."""
    if fmt not in CONVERTERS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    conv = CONVERTERS[fmt]
    d_task, d_metric = DEFAULTS[fmt]
    card: dict[str, Any] = {
        "name": name,
        "domain": domain,
        "task": task or d_task,
        "language": language,
        "metric": metric or d_metric,
        "few_shot": few_shot,
        "version": version,
    }
    if prompt_template is not None:
        card["prompt_template"] = prompt_template
    if card["task"] == Task.open_qa.value and metric is None:
        card["metric"] = "none"
    items = conv(raw, "")
    dev_items: list[dict[str, Any]] = []
    if dev is not None:
        try:
            dev_items = conv(dev, "dev-")
        except DatasetError as exc:
            raise DatasetError(
                [LineError(e.line, f"(dev file) {e.message}") for e in exc.errors]
            ) from exc
        for it in dev_items:
            it["split"] = "dev"
    card_bytes = canonical_json(card)
    data_bytes = b"".join(canonical_json(it) + b"\n" for it in [*dev_items, *items])
    ds = load_dataset(card_bytes, data_bytes)
    return ds.card_bytes(), ds.data_bytes(), ds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m flageval_datasets.importers",
        description="Convert a public dataset format into a FlagEval card + JSONL.",
    )
    ap.add_argument("format", choices=FORMATS)
    ap.add_argument("input", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--language", required=True, choices=["en", "zh"])
    ap.add_argument("--task")
    ap.add_argument("--metric")
    ap.add_argument("--few-shot", type=int, default=0)
    ap.add_argument("--dev", type=Path, help="few-shot exemplars, same format as the input")
    ap.add_argument("--version", default="1")
    ap.add_argument("--domain", default="nlp")
    ap.add_argument("--prompt-template")
    args = ap.parse_args(argv)
    try:
        card, data, ds = convert(
            args.format,
            args.input.read_bytes(),
            name=args.name,
            language=args.language,
            task=args.task,
            metric=args.metric,
            few_shot=args.few_shot,
            version=args.version,
            domain=args.domain,
            dev=args.dev.read_bytes() if args.dev else None,
            prompt_template=args.prompt_template,
        )
    except DatasetError as exc:
        print(f"{args.input}: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "card.json").write_bytes(card + b"\n")
    (args.out_dir / "data.jsonl").write_bytes(data)
    print(
        f"wrote {args.out_dir}/card.json and data.jsonl: {len(ds.items)} items, "
        f"{len(ds.dev)} dev, sha256 {ds.content_sha256}"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
