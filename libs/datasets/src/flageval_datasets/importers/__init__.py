"""Importers from the public formats of the catalog's NLP datasets to the card + JSONL format
(SPEC §6), as functions (:func:`convert_upload` for the admin API, :func:`convert`) and a CLI:

    python -m flageval_datasets.importers FORMAT IN OUT_DIR --name NAME --language en|zh
        [--split S] [--few-shot N] [--dev DEV_FILE] [--version V] [--task T] [--metric M]

``IN`` is a file, a folder, or a .zip/.tar/.tar.gz archive. :data:`FORMAT_TABLE` is the one
place that says, per format, what it reads, the task/metric and the few-shot count (the papers'
or the Open LLM Leaderboard's; applied only when the input has exemplars, else 0).

Folder formats (``mmlu``, ``cmmlu``, ``ceval``) make ONE dataset of every subject: items carry
``meta.subject`` (scores per subject and their averages are the runner's), ids are
``<subject>-<n>`` (row number, or the file's own id column) and ``<subject>-dev-<n>`` for the
few-shot exemplars, which come from ``dev/`` and are shown per subject. File formats read one
file (the evaluation split); inside a folder/archive they also take the few-shot exemplars from
the training file beside it, keeping its first ``few_shot`` items (what the runner shows).

Every problem is reported at once as a :class:`~flageval_datasets.loader.DatasetError` whose
errors name the file and line ("test/anatomy_test.csv line 3: …"); nothing is written then.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ..card import DatasetCard
from ..loader import Dataset, DatasetError, LineError, canonical_json, load_dataset, parse_card
from . import formats as f
from .sources import SingleFile, SourceFiles, is_archive, open_archive, open_folder


class Reader(Protocol):
    def __call__(
        self, file: str | None, raw: bytes, coll: f.Collector, *, subject: str | None, dev: bool
    ) -> None: ...


@dataclass(frozen=True)
class Format:
    """One importable format.

    ``layout="folder"``: per-subject CSVs under ``<split>/``, matched by ``subject_file``
    (``{split}`` is replaced). ``layout="file"``: one file; inside a folder/archive the
    evaluation file per split is found by ``split_files`` and exemplars by ``shots_file``
    (regexes on the file name)."""

    name: str
    description: str
    reader: Reader
    task: str
    metric: str
    few_shot: int
    layout: Literal["file", "folder"]
    splits: tuple[str, ...]  # evaluation splits; the first is the default
    subject_file: str = ""
    split_files: dict[str, str] = field(default_factory=dict)
    shots_file: str | None = None
    prompt_template: str | None = None
    hint: str = ""  # the folder layout, for "nothing found" errors


_SUFFIXED = r"(?P<subject>[A-Za-z0-9][A-Za-z0-9_.-]*?)_{split}\.csv"
FORMAT_TABLE: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Format(
            "mmlu",
            "MMLU data folder (dev|val|test/<subject>_<split>.csv, no header: question,A,B,C,D,"
            "answer) or a .zip/.tar/.tar.gz of it; all subjects in one dataset, 5-shot from dev",
            f.read_mmlu_csv,
            "choice_qa",
            "accuracy",
            5,
            "folder",
            ("test", "val"),
            subject_file=_SUFFIXED,
            hint="dev/, val/ or test/ holding <subject>_<split>.csv",
        ),
        Format(
            "cmmlu",
            "CMMLU data folder (dev|test/<subject>.csv, header ',Question,A,B,C,D,Answer') or an "
            "archive of it; all subjects in one dataset, 5-shot from dev",
            f.read_cmmlu_csv,
            "choice_qa",
            "accuracy",
            5,
            "folder",
            ("test",),
            subject_file=r"(?P<subject>[A-Za-z0-9][A-Za-z0-9_.-]*?)(?:_{split})?\.csv",
            hint="dev/ and test/ holding <subject>.csv",
        ),
        Format(
            "ceval",
            "C-Eval folder (val|dev/<subject>_<split>.csv, header id,question,A,B,C,D,answer"
            "[,explanation]) or an archive of it; the val split (test has no answers), 5-shot "
            "from dev",
            f.read_ceval_csv,
            "choice_qa",
            "accuracy",
            5,
            "folder",
            ("val",),
            subject_file=_SUFFIXED,
            hint="dev/ and val/ holding <subject>_<split>.csv",
        ),
        Format(
            "gsm8k-jsonl",
            "GSM8K test.jsonl ({question, answer: '… #### 72'}); in a folder/archive train.jsonl "
            "gives 5-shot worked examples",
            f.read_gsm8k_jsonl,
            "math",
            "exact_match",
            5,
            "file",
            ("test",),
            split_files={"test": r"test\.jsonl"},
            shots_file=r"train\.jsonl",
        ),
        Format(
            "hellaswag-jsonl",
            "HellaSwag hellaswag_val.jsonl (ctx_a, ctx_b, activity_label, endings, label); in a "
            "folder/archive hellaswag_train.jsonl gives 10-shot exemplars",
            f.read_hellaswag_jsonl,
            "choice_qa",
            "accuracy",
            10,
            "file",
            ("val",),
            split_files={"val": r"hellaswag_val\.jsonl"},
            shots_file=r"hellaswag_train\.jsonl",
        ),
        Format(
            "arc-jsonl",
            "ARC ARC-Challenge-Test.jsonl (id, question {stem, choices [{text, label}]}, "
            "answerKey; labels A-E or 1-5) or -Dev; in a folder/archive -Train gives 25-shot",
            f.read_arc_jsonl,
            "choice_qa",
            "accuracy",
            25,
            "file",
            ("test", "dev"),
            split_files={
                "test": r"ARC-(?:Challenge|Easy)-Test\.jsonl",
                "dev": r"ARC-(?:Challenge|Easy)-Dev\.jsonl",
            },
            shots_file=r"ARC-(?:Challenge|Easy)-Train\.jsonl",
        ),
        Format(
            "boolq-jsonl",
            "BoolQ dev.jsonl ({question, passage, answer: bool, title}); yes/no choices, 0-shot",
            f.read_boolq_jsonl,
            "choice_qa",
            "accuracy",
            0,
            "file",
            ("dev",),
            split_files={"dev": r"dev\.jsonl"},
            shots_file=r"train\.jsonl",
            # The passage comes first and the question is part of the input (lm-eval's prompt).
            prompt_template="{input}\n{choices}\nAnswer:",
        ),
        Format(
            "truthfulqa-mc1",
            "TruthfulQA MC1: mc_task.json (JSON array) or the HF JSONL ({question, mc1_targets}); "
            "choices in file order (not shuffled: the gold is A in the public data), 0-shot",
            f.read_truthfulqa_mc1,
            "choice_qa",
            "accuracy",
            0,
            "file",
            ("validation",),
            split_files={"validation": r"mc_task\.json|.*truthful.*\.jsonl?"},
        ),
        Format(
            "mmlu-csv",
            "one MMLU-style CSV (no header: question,A,B,C,D,answer); --dev adds exemplars",
            f.read_mmlu_csv,
            "choice_qa",
            "accuracy",
            5,
            "file",
            ("test",),
        ),
        Format(
            "ceval-csv",
            "one C-Eval-style CSV (header id,question,A,B,C,D,answer[,explanation]); --dev adds "
            "exemplars",
            f.read_ceval_csv,
            "choice_qa",
            "accuracy",
            5,
            "file",
            ("val",),
        ),
        Format(
            "jsonl",
            "our own item JSONL (SPEC §6), validated and canonicalised",
            f.read_plain_jsonl,
            "generative_qa",
            "quasi_exact_match",
            0,
            "file",
            ("test",),
        ),
    )
}
FORMATS: dict[str, str] = {name: fmt.description for name, fmt in FORMAT_TABLE.items()}


def _fail(file: str | None, message: str) -> DatasetError:
    return DatasetError([LineError(None, message, file)])


def _format(fmt: str) -> Format:
    if fmt not in FORMAT_TABLE:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    return FORMAT_TABLE[fmt]


def _split(spec: Format, split: str | None) -> str:
    if split is None:
        return spec.splits[0]
    if split not in spec.splits:
        raise ValueError(
            f"split {split!r} unknown for {spec.name}; one of {', '.join(spec.splits)}"
        )
    return split


@dataclass
class _Plan:
    """Which files to read: (label, reader of bytes, subject, dev?)."""

    files: list[tuple[str | None, Callable[[], bytes], str | None, bool]]
    has_shots: bool
    subjects: list[str] = field(default_factory=list)
    dev_files: dict[str, str] = field(default_factory=dict)  # subject → dev file path


def _plan_folder(spec: Format, src: SourceFiles, split: str) -> _Plan:
    found: dict[str, dict[str, str]] = {}  # split → subject → path
    roots: set[str] = set()
    for s in {split, "dev"}:
        pat = re.compile(
            rf"(?:(?P<root>.*)/)?{s}/" + spec.subject_file.replace("{split}", s) + r"$"
        )
        for name in src.names:
            m = pat.fullmatch(name)
            if m:
                found.setdefault(s, {})[m["subject"]] = name
                roots.add(m["root"] or "")
    if split not in found:
        raise _fail(src.label, f"no {split}/ files found for {spec.name} (expected {spec.hint})")
    if len(roots) > 1:
        raise _fail(
            src.label,
            f"{spec.name} files under several folders ({', '.join(sorted(roots))}): upload one",
        )
    subjects = sorted(found[split])
    dev = found.get("dev", {})
    files: list[tuple[str | None, Callable[[], bytes], str | None, bool]] = []
    for subject in subjects:
        if subject in dev:
            files.append((dev[subject], _reader(src, dev[subject]), subject, True))
        path = found[split][subject]
        files.append((path, _reader(src, path), subject, False))
    return _Plan(files, has_shots=bool(dev), subjects=subjects, dev_files=dev)


def _reader(src: SourceFiles, name: str) -> Callable[[], bytes]:
    return lambda: src.read(name)


def _one_match(src: SourceFiles, pattern: str, what: str) -> str | None:
    pat = re.compile(pattern)
    hits = [n for n in src.names if pat.fullmatch(n.rsplit("/", 1)[-1])]
    if len(hits) > 1:
        raise _fail(src.label, f"several {what} files: {', '.join(hits)}; upload one")
    return hits[0] if hits else None


def _plan_file(
    spec: Format, src: SourceFiles | SingleFile, split: str, dev: SingleFile | None
) -> _Plan:
    if isinstance(src, SingleFile):
        files: list[tuple[str | None, Callable[[], bytes], str | None, bool]] = []
        if dev is not None:
            files.append((dev.label, lambda: dev.data, None, True))
        files.append((src.label if src.label != "" else None, lambda: src.data, None, False))
        return _Plan(files, has_shots=dev is not None)
    if not spec.split_files:
        raise _fail(src.label, f"{spec.name} reads one file, not a folder or archive")
    path = _one_match(src, spec.split_files[split], f"{split} split")
    if path is None:
        raise _fail(
            src.label,
            f"no {split} file for {spec.name} (a file named like "
            f"{spec.split_files[split].replace(chr(92), '').replace('(?:', '(')})",
        )
    files = []
    shots = _one_match(src, spec.shots_file, "few-shot") if spec.shots_file else None
    if shots is not None:
        files.append((shots, _reader(src, shots), None, True))
    files.append((path, _reader(src, path), None, False))
    return _Plan(files, has_shots=shots is not None)


def _build_card(
    spec: Format,
    *,
    name: str,
    language: str,
    version: str,
    few_shot: int,
    split: str,
    task: str | None,
    metric: str | None,
    domain: str,
    prompt_template: str | None,
) -> DatasetCard:
    card: dict[str, Any] = {
        "name": name,
        "domain": domain,
        "task": task or spec.task,
        "language": language,
        "metric": metric or spec.metric,
        "few_shot": few_shot,
        "version": version,
    }
    if card["task"] == "open_qa" and metric is None:
        card["metric"] = "none"
    template = prompt_template if prompt_template is not None else spec.prompt_template
    if template is not None and task in (None, spec.task):
        card["prompt_template"] = template
    if spec.name != "jsonl":
        card["description"] = f"Imported from the public {spec.name} format (split {split})."
    return parse_card(canonical_json(card))


def import_dataset(
    fmt: str,
    source: SourceFiles | SingleFile,
    *,
    name: str,
    language: str,
    version: str = "1",
    few_shot: int | None = None,
    split: str | None = None,
    task: str | None = None,
    metric: str | None = None,
    domain: str = "nlp",
    prompt_template: str | None = None,
    dev: SingleFile | None = None,
) -> tuple[bytes, bytes, Dataset]:
    """Import ``source`` → (canonical card JSON, canonical data JSONL, validated Dataset).

    ``few_shot=None`` takes the format's default when the input has exemplars, else 0.
    Raises :class:`DatasetError` (a ValueError) listing every problem with its file and line,
    ``ValueError`` for an unknown format or split."""
    spec = _format(fmt)
    chosen = _split(spec, split)
    if dev is not None and not isinstance(source, SingleFile):
        raise ValueError("a separate exemplar file goes with a single data file, not a folder")
    if spec.layout == "folder":
        if isinstance(source, SingleFile):
            raise _fail(
                source.label or "upload",
                f"{spec.name} needs the data folder or a .zip/.tar/.tar.gz archive of it",
            )
        plan = _plan_folder(spec, source, chosen)
    else:
        plan = _plan_file(spec, source, chosen, dev)
    shots = few_shot if few_shot is not None else (spec.few_shot if plan.has_shots else 0)
    card = _build_card(
        spec,
        name=name,
        language=language,
        version=version,
        few_shot=shots,
        split=chosen,
        task=task,
        metric=metric,
        domain=domain,
        prompt_template=prompt_template,
    )
    coll = f.Collector(card)
    if isinstance(source, SourceFiles):
        source.prefetch([label for label, *_rest in plan.files if label is not None])
    for label, read, subject, is_dev in plan.files:
        spec.reader(label, read(), coll, subject=subject, dev=is_dev)
    if spec.layout == "file":
        # Only the first few_shot exemplars are ever shown; a training split is not stored.
        coll.dev = coll.dev[: card.few_shot]
        if len(coll.dev) < card.few_shot and not coll.errors:
            shots_file = next((lb for lb, _r, _s, is_dev in plan.files if is_dev), None)
            coll.error(
                shots_file or source.label or None,
                None,
                f"few_shot is {card.few_shot} but "
                + (
                    f"the exemplar file has only {len(coll.dev)} items"
                    if shots_file
                    else "no exemplars were given (a training file beside the data, or --dev)"
                ),
            )
    for subject in plan.subjects:
        n = sum(1 for it in coll.dev if (it.meta or {}).get("subject") == subject)
        if n < card.few_shot and not coll.errors:
            where = plan.dev_files.get(subject, f"dev/ (no file for {subject!r})")
            coll.error(
                where,
                None,
                f"few_shot is {card.few_shot} but subject {subject!r} has {n} dev items",
            )
    if coll.errors:
        # file by file in reading order, line by line within a file
        order = {label: n for n, (label, *_rest) in enumerate(plan.files)}
        raise DatasetError(
            sorted(
                coll.errors,
                key=lambda e: (order.get(e.file, len(order)), e.line or sys.maxsize),
            )
        )
    data = b"".join(
        canonical_json(it.model_dump(mode="json", exclude_none=True, exclude_defaults=True)) + b"\n"
        for it in [*coll.dev, *coll.items]
    )
    ds = load_dataset(canonical_json(card.model_dump(mode="json", exclude_none=True)), data)
    return ds.card_bytes(), ds.data_bytes(), ds


def convert_upload(
    fmt: str,
    payload: bytes,
    *,
    name: str,
    language: str,
    version: str = "1",
    few_shot: int | None = None,
    split: str | None = None,
) -> tuple[bytes, bytes, Dataset]:
    """Import an admin's upload: ``payload`` is the single file (CSV/JSONL/JSON) or a
    .zip/.tar/.tar.gz archive (required for the folder formats). Archives are read in memory
    with bounded size and member count; absolute or ``..`` member paths are refused.

    Returns (canonical card JSON, canonical data JSONL, validated Dataset). Raises
    :class:`DatasetError` (a ValueError: errors name the file and line) or ``ValueError``
    (unknown format or split)."""
    source: SourceFiles | SingleFile = (
        open_archive(payload) if is_archive(payload) else SingleFile("upload", payload)
    )
    return import_dataset(
        fmt,
        source,
        name=name,
        language=language,
        version=version,
        few_shot=few_shot,
        split=split,
    )


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
    """Convert one file ``raw`` (or an archive) and an optional file of few-shot exemplars in
    the same format → (card JSON, data JSONL, validated Dataset). Errors carry line numbers
    (the exemplar file's as "dev file line N")."""
    source: SourceFiles | SingleFile = open_archive(raw) if is_archive(raw) else SingleFile("", raw)
    return import_dataset(
        fmt,
        source,
        name=name,
        language=language,
        version=version,
        few_shot=few_shot,
        task=task,
        metric=metric,
        domain=domain,
        prompt_template=prompt_template,
        dev=SingleFile("dev file", dev) if dev is not None else None,
    )


def main(argv: list[str] | None = None) -> int:
    """The CLI; writes ``OUT_DIR/card.json`` and ``OUT_DIR/data.jsonl`` only when valid."""
    ap = argparse.ArgumentParser(
        prog="python -m flageval_datasets.importers",
        description="Convert a public dataset format into a FlagEval card + JSONL.",
        epilog="formats:\n" + "\n".join(f"  {k}: {v}" for k, v in FORMATS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("format", choices=list(FORMATS))
    ap.add_argument("input", type=Path, help="a file, a folder or a .zip/.tar/.tar.gz archive")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--language", required=True, choices=["en", "zh"])
    ap.add_argument("--split", help="evaluation split (default: the format's first)")
    ap.add_argument("--task")
    ap.add_argument("--metric")
    ap.add_argument("--few-shot", type=int, help="default: the format's, when exemplars exist")
    ap.add_argument("--dev", type=Path, help="few-shot exemplars, same format as a single file")
    ap.add_argument("--version", default="1")
    ap.add_argument("--domain", default="nlp")
    ap.add_argument("--prompt-template")
    args = ap.parse_args(argv)
    try:
        source: SourceFiles | SingleFile
        if args.input.is_dir():
            source = open_folder(args.input)
        else:
            raw = args.input.read_bytes()
            label = args.input.name
            source = open_archive(raw, label) if is_archive(raw) else SingleFile(label, raw)
        card, data, ds = import_dataset(
            args.format,
            source,
            name=args.name,
            language=args.language,
            version=args.version,
            few_shot=args.few_shot,
            split=args.split,
            task=args.task,
            metric=args.metric,
            domain=args.domain,
            prompt_template=args.prompt_template,
            dev=SingleFile(args.dev.name, args.dev.read_bytes()) if args.dev else None,
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
    subjects = {(it.meta or {}).get("subject") for it in ds.items} - {None}
    print(
        f"wrote {args.out_dir}/card.json and data.jsonl: {len(ds.items)} items"
        + (f" in {len(subjects)} subjects" if subjects else "")
        + f", {len(ds.dev)} dev, sha256 {ds.content_sha256}"
    )
    return 0


__all__ = [
    "FORMATS",
    "FORMAT_TABLE",
    "Format",
    "SingleFile",
    "SourceFiles",
    "convert",
    "convert_upload",
    "import_dataset",
    "main",
    "open_archive",
    "open_folder",
]
