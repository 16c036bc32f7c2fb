"""Load and validate a dataset: card JSON + JSONL items (SPEC §6).

Every problem is reported at once in a :class:`DatasetError` whose ``errors`` carry the
1-based line number of the offending JSONL line (``line=None`` for card problems).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .card import DatasetCard, Task

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_REPORTED_ERRORS = 50
_NUMBER_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class LineError:
    line: int | None  # 1-based line; None = the card (or, with ``file``, the whole file)
    message: str
    # The source file the line belongs to, for inputs of several files (an importer's folder:
    # "test/anatomy_test.csv line 3: …"); None = the one JSONL data file.
    file: str | None = None

    def __str__(self) -> str:
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file} line {self.line}"
            return f"{where}: {self.message}"
        return f"card: {self.message}" if self.line is None else f"line {self.line}: {self.message}"


class DatasetError(ValueError):
    """A card or data file failed validation; ``errors`` lists every problem found."""

    def __init__(self, errors: list[LineError]):
        self.errors = errors
        shown = [str(e) for e in errors[:MAX_REPORTED_ERRORS]]
        more = len(errors) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more")
        super().__init__("invalid dataset:\n" + "\n".join(shown))

    @property
    def lines(self) -> list[int]:
        return [e.line for e in self.errors if e.line is not None]


class Item(BaseModel):
    """One JSONL line. ``split="dev"`` items are few-shot exemplars, never evaluated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    input: str = Field(min_length=1)
    choices: list[str] | None = None
    label: str | None = None
    references: list[str] | None = None
    split: Literal["test", "dev"] = "test"
    meta: dict[str, Any] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v

    @field_validator("input")
    @classmethod
    def _input(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("input is blank")
        return v

    @field_validator("choices")
    @classmethod
    def _choices(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if not 2 <= len(v) <= len(LETTERS):
            raise ValueError(f"choices must have 2..{len(LETTERS)} entries, got {len(v)}")
        if any(not c.strip() for c in v):
            raise ValueError("a choice is blank")
        return v

    @field_validator("label", mode="before")
    @classmethod
    def _label(cls, v: object) -> object:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return str(v)
        return v

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.choices or [])]

    @property
    def gold_references(self) -> list[str]:
        """Acceptable answers for generative scoring: ``references`` or else ``[label]``."""
        if self.references:
            return list(self.references)
        return [self.label] if self.label is not None else []


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Dataset:
    card: DatasetCard
    items: list[Item]  # evaluated items (split "test"), file order
    dev: list[Item] = field(default_factory=list)  # few-shot exemplars (split "dev"), file order
    content_sha256: str = ""

    @property
    def name(self) -> str:
        return self.card.name

    def card_bytes(self) -> bytes:
        """Canonical card JSON (sorted keys, no whitespace, absent optionals dropped)."""
        return canonical_json(self.card.model_dump(mode="json", exclude_none=True))

    def data_bytes(self) -> bytes:
        """Canonical JSONL: one canonical item per line (dev items first), trailing newline."""
        lines = [
            canonical_json(it.model_dump(mode="json", exclude_none=True, exclude_defaults=True))
            for it in [*self.dev, *self.items]
        ]
        return b"".join(line + b"\n" for line in lines)


def compute_sha256(card_bytes: bytes, data_bytes: bytes) -> str:
    """sha256 over canonical card bytes + b"\\n" + canonical data bytes."""
    h = hashlib.sha256()
    h.update(card_bytes)
    h.update(b"\n")
    h.update(data_bytes)
    return h.hexdigest()


def _pydantic_messages(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{loc}: {msg}" if loc else msg)
    return out


LONE_SURROGATE = "holds a lone surrogate (\\ud800-\\udfff without its pair): not valid Unicode"


def has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string with a lone surrogate (JSON's ``\\ud800``
    escapes decode to one; no encoder, database or file can store it)."""
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


def card_object(card_json: bytes | str) -> dict[str, Any]:
    """A card's JSON object; :class:`DatasetError` (``line=None``) when it is not JSON, not an
    object, or holds a lone surrogate."""
    try:
        raw = json.loads(card_json)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError([LineError(None, f"not valid JSON: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise DatasetError([LineError(None, "must be a JSON object")])
    if has_lone_surrogate(raw):
        raise DatasetError([LineError(None, LONE_SURROGATE)])
    return raw


def parse_card(card_json: bytes | str) -> DatasetCard:
    raw = card_object(card_json)
    try:
        return DatasetCard.model_validate(raw)
    except ValidationError as exc:
        raise DatasetError([LineError(None, m) for m in _pydantic_messages(exc)]) from exc


def _task_checks(card: DatasetCard, item: Item) -> list[str]:
    """Item rules that depend on the card's task."""
    task = card.task
    problems: list[str] = []
    if task in (Task.choice_qa, Task.classification) and item.choices is not None:
        if item.label is None:
            problems.append("label missing (gold option letter)")
        elif item.label.strip() not in item.letters:
            problems.append(
                f"label {item.label!r} is not among the choices' letters {', '.join(item.letters)}"
            )
    elif task == Task.choice_qa:
        problems.append("choices missing (choice_qa needs a list of options)")
    elif task == Task.classification and item.label is None:
        problems.append("label missing")
    elif task == Task.generative_qa and not item.gold_references:
        problems.append("label or references required for generative_qa")
    elif task == Task.math:
        if item.label is None:
            problems.append("label missing (the numeric answer)")
        elif not _NUMBER_RE.search(item.label.split("####")[-1]):
            problems.append(f"label {item.label!r} has no number")
    if task in (Task.generative_qa, Task.math, Task.open_qa) and item.choices is not None:
        problems.append(f"choices not allowed for task {task.value}")
    return problems


def jsonl_bytes(data: bytes | str) -> bytes:
    """A JSONL text as bytes without its UTF-8 BOM (empty: the file has no line at all)."""
    raw = data.encode() if isinstance(data, str) else data
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw


def jsonl_objects(
    data: bytes | str, errors: list[LineError]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every line of a JSONL text that is a JSON object of valid
    text; every other line (not UTF-8, blank, not JSON, not an object, a lone surrogate) is
    appended to ``errors`` with its 1-based number instead. A UTF-8 BOM is allowed."""
    raw = jsonl_bytes(data)
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError:
            errors.append(LineError(lineno, "not valid UTF-8"))
            continue
        if not text:
            errors.append(LineError(lineno, "blank line"))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(LineError(lineno, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(obj, dict):
            errors.append(LineError(lineno, "not a JSON object"))
            continue
        if has_lone_surrogate(obj):
            errors.append(LineError(lineno, LONE_SURROGATE))
            continue
        yield lineno, obj


def check_items(
    card: DatasetCard | None, data_jsonl: bytes | str
) -> tuple[list[Item], list[Item], list[LineError]]:
    """Validate JSONL data against a (valid) card: ``(items, dev, errors)``.

    Line errors carry their 1-based line number; whole-file problems (empty file, no evaluation
    items, too few dev items for ``few_shot``) have ``line=None``. With ``card=None`` (the card
    itself is invalid) only the card-independent rules are checked.
    """
    errors: list[LineError] = []
    items: list[Item] = []
    dev: list[Item] = []
    seen: dict[str, int] = {}
    for lineno, obj in jsonl_objects(data_jsonl, errors):
        try:
            item = Item.model_validate(obj)
        except ValidationError as exc:
            errors.extend(LineError(lineno, m) for m in _pydantic_messages(exc))
            continue
        if item.id in seen:
            errors.append(
                LineError(lineno, f"duplicate id {item.id!r} (first on line {seen[item.id]})")
            )
            continue
        seen[item.id] = lineno
        if card is not None:
            errors.extend(LineError(lineno, p) for p in _task_checks(card, item))
        (dev if item.split == "dev" else items).append(item)

    if not jsonl_bytes(data_jsonl):
        errors.append(LineError(None, "data file is empty"))
    elif not items and not any(e.line is not None for e in errors):
        errors.append(LineError(None, "no evaluation items (every item has split 'dev')"))
    if card is not None and card.few_shot > len(dev):
        errors.append(
            LineError(
                None,
                f"few_shot is {card.few_shot} but the data has only {len(dev)} dev items "
                '(mark exemplars with "split": "dev")',
            )
        )
    return items, dev, errors


def load_dataset(card_json: bytes | str, data_jsonl: bytes | str) -> Dataset:
    """Validate a card and its JSONL data; raise :class:`DatasetError` listing every problem."""
    errors: list[LineError] = []
    card: DatasetCard | None = None
    try:
        card = parse_card(card_json)
    except DatasetError as exc:
        errors.extend(exc.errors)
    items, dev, item_errors = check_items(card, data_jsonl)
    errors.extend(item_errors)
    if errors or card is None:
        raise DatasetError(errors)

    ds = Dataset(card=card, items=items, dev=dev)
    sha = compute_sha256(ds.card_bytes(), ds.data_bytes())
    return Dataset(card=card, items=items, dev=dev, content_sha256=sha)


def demo_dataset_names() -> list[str]:
    """Names of the demo datasets shipped in ``flageval_datasets/demo_data``."""
    from importlib.resources import files

    root = files("flageval_datasets").joinpath("demo_data")
    return sorted(p.name for p in root.iterdir() if p.joinpath("card.json").is_file())


def load_demo_dataset(name: str) -> Dataset:
    from importlib.resources import files

    d = files("flageval_datasets").joinpath("demo_data", name)
    return load_dataset(d.joinpath("card.json").read_bytes(), d.joinpath("data.jsonl").read_bytes())
