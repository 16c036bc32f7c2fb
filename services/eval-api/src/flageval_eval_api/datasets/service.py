"""Registering a dataset (SPEC §6): validate the card and the JSONL data with the runner's own
parser (so what the platform accepts is exactly what a run can load), then store the objects
and record the version.

The card is the runner's card unchanged. Which *catalog* task the dataset belongs to is not a
card field (the card's ``task`` is the harness task type, e.g. ``choice_qa``, and the runner
rejects unknown card fields), so it is given beside the card: the ``catalog_task`` form field.

A card named after a built-in dataset (``mmlu``) attaches data to it: its domain, catalog task
(defaulted when left out) and metric must be the built-in's. Demo datasets ship their own data
and cannot be replaced. Every registration is a new version that becomes the current one; old
versions stay stored and readable (results record the version they used).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_datasets import (
    Dataset,
    DatasetCard,
    DatasetError,
    Language,
    Task,
    check_items,
    compute_sha256,
    importers,
)
from flageval_datasets.loader import LONE_SURROGATE, has_lone_surrogate
from flageval_eval_api.catalog import seed
from flageval_eval_api.datasets.models import RegisteredDataset, dataset_prefix
from flageval_platform.db import Database
from flageval_platform.errors import Conflict, PlatformError, Unprocessable
from flageval_platform.storage import ObjectStore

MAX_CARD_BYTES = 64 * 1024
MAX_DATA_BYTES = 200 * 1024 * 1024
MAX_DATA_LINES = 1_000_000
#: At most this many problems are listed in a 422 (a last entry counts the rest).
MAX_REPORTED_PROBLEMS = 100

#: Card fields a registration must give (``prompt_template`` and ``description`` are optional).
REQUIRED_CARD_FIELDS = ("name", "domain", "task", "language", "metric", "few_shot", "version")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class BuiltinDataset:
    domain: str
    task: str
    metric: str


#: Built-in catalog ids → what data attached to them must match.
BUILTINS: dict[str, BuiltinDataset] = {
    id_: BuiltinDataset(domain, task, metric)
    for domain, id_, _name, task, _language, metric in seed.DATASETS
}
_DOMAIN_TASKS: dict[str, tuple[str, ...]] = {
    domain: tuple(t for d, t, _name, _methods in seed.TASKS if d == domain)
    for domain in seed.DOMAINS
}

Source = Literal["form", "card", "data"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a registration: a form part, a card field (``field``; None for the
    card as a whole) or a data line (``line``, 1-based; None for the file as a whole)."""

    source: Source
    message: str
    field: str | None = None
    line: int | None = None
    #: The imported file the line belongs to (imports of a folder or archive), else None.
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.source == "data":
            doc: dict[str, Any] = {"source": "data", "line": self.line, "message": self.message}
            if self.file is not None:
                doc["file"] = self.file
            return doc
        return {"source": self.source, "field": self.field, "message": self.message}


def _problem_list(problems: list[Problem]) -> list[dict[str, Any]]:
    shown = [p.as_dict() for p in problems[:MAX_REPORTED_PROBLEMS]]
    rest = len(problems) - len(shown)
    if rest > 0:
        shown.append({"source": "data", "line": None, "message": f"... and {rest} more problems"})
    return shown


class DatasetRejected(Unprocessable):
    """422 whose ``detail`` is the list of problems, each naming its field or line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("The dataset was rejected.", code="invalid_dataset")
        self.problems = problems

    @property
    def detail(self) -> Any:
        return _problem_list(self.problems)


class DatasetTooLarge(PlatformError):
    status_code = 413

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message, code="dataset_too_large")
        self.problems = [problem]

    @property
    def detail(self) -> Any:
        return _problem_list(self.problems)


@dataclass(frozen=True)
class ValidUpload:
    """A card and data that passed every check, with what the row records."""

    card: DatasetCard
    catalog_task: str
    card_bytes: bytes
    data_bytes: bytes
    size: int
    dev_size: int
    sha256: str
    content_sha256: str

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def domain(self) -> str:
        return self.card.domain


def _count_lines(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def check_sizes(card_bytes: bytes, data_bytes: bytes) -> None:
    """413 when the card or the data is over its limit."""
    if len(card_bytes) > MAX_CARD_BYTES:
        raise DatasetTooLarge(
            Problem("card", f"the card is larger than {MAX_CARD_BYTES // 1024} KiB")
        )
    if len(data_bytes) > MAX_DATA_BYTES:
        raise DatasetTooLarge(
            Problem("data", f"the data is larger than {MAX_DATA_BYTES // (1024 * 1024)} MiB")
        )


def _pydantic_problems(exc: ValidationError, skip: set[str]) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = err["loc"]
        # A model-level complaint (loc ()) is the card's metric not fitting its task.
        field = str(loc[0]) if loc else "metric"
        if field in skip:
            continue
        message = err["msg"].removeprefix("Value error, ")
        if len(loc) > 1:
            message = f"{'.'.join(str(p) for p in loc[1:])}: {message}"
        problems.append(Problem("card", message, field=field))
    return problems


def _check_catalog_task(domain: object, catalog_task: str | None) -> list[Problem]:
    if not catalog_task:
        hint = ""
        if isinstance(domain, str) and domain in _DOMAIN_TASKS:
            hint = f" (one of {domain}'s tasks: {', '.join(_DOMAIN_TASKS[domain])})"
        return [Problem("form", f"required: the catalog task of the dataset{hint}", "catalog_task")]
    if isinstance(domain, str) and domain in _DOMAIN_TASKS:
        if catalog_task not in _DOMAIN_TASKS[domain]:
            return [
                Problem(
                    "form",
                    f"{catalog_task!r} is not a task of domain {domain!r} "
                    f"(one of: {', '.join(_DOMAIN_TASKS[domain])})",
                    "catalog_task",
                )
            ]
    return []


def check_card(
    card_bytes: bytes, catalog_task: str | None
) -> tuple[DatasetCard | None, list[Problem]]:
    """The card (None when it is invalid) and every problem of the card and ``catalog_task``."""
    try:
        raw = json.loads(card_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        return None, [Problem("card", "not valid UTF-8"), *_check_catalog_task(None, catalog_task)]
    except json.JSONDecodeError as exc:
        return None, [
            Problem("card", f"not valid JSON ({exc.msg} at line {exc.lineno})"),
            *_check_catalog_task(None, catalog_task),
        ]
    if not isinstance(raw, dict):
        return None, [
            Problem("card", "must be a JSON object"),
            *_check_catalog_task(None, catalog_task),
        ]
    if has_lone_surrogate(raw):
        return None, [Problem("card", LONE_SURROGATE), *_check_catalog_task(None, catalog_task)]

    problems: list[Problem] = []
    flagged: set[str] = set()

    def flag(field: str, message: str) -> None:
        flagged.add(field)
        problems.append(Problem("card", message, field=field))

    for field in REQUIRED_CARD_FIELDS:
        if field not in raw:
            flag(field, "required")
    name = raw.get("name")
    if "name" in raw:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            flag(
                "name",
                "must be 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit",
            )
        elif name in seed.DEMO_DATASETS:
            flag("name", f"{name!r} is a demo dataset: its data ships with the platform")
    version = raw.get("version")
    if "version" in raw and (not isinstance(version, str) or not _VERSION_RE.fullmatch(version)):
        flag(
            "version",
            "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter "
            "or digit",
        )
    few_shot = raw.get("few_shot")
    if "few_shot" in raw and (not isinstance(few_shot, int) or isinstance(few_shot, bool)):
        flag("few_shot", "must be an integer")
    domain = raw.get("domain")
    if "domain" in raw and domain not in _DOMAIN_TASKS:
        flag("domain", f"must be one of the catalog's domains: {', '.join(_DOMAIN_TASKS)}")

    card: DatasetCard | None = None
    try:
        card = DatasetCard.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, flagged))
    builtin = BUILTINS.get(name) if isinstance(name, str) else None
    if card is not None and builtin is not None:
        problems.extend(_check_builtin(str(name), builtin, card))
    card_ok = not problems
    problems.extend(_check_catalog_task(domain, catalog_task))
    if builtin is not None and catalog_task and catalog_task != builtin.task:
        problems.append(
            Problem(
                "form",
                f"the built-in dataset {name!r} belongs to task {builtin.task!r}",
                "catalog_task",
            )
        )
    return (card if card_ok else None), problems


def _check_builtin(name: str, builtin: BuiltinDataset, card: DatasetCard) -> list[Problem]:
    """Data attached to a built-in dataset must fit its catalog entry."""
    problems = []
    if card.domain != builtin.domain:
        problems.append(
            Problem(
                "card",
                f"the built-in dataset {name!r} is a {builtin.domain} dataset",
                field="domain",
            )
        )
    metric = catalog_metric(card.model_dump(mode="json"))
    if metric != builtin.metric:
        problems.append(
            Problem(
                "card",
                f"the built-in dataset {name!r} is scored by {builtin.metric!r}; this card's "
                f"metric gives {metric!r}",
                field="metric",
            )
        )
    return problems


def default_catalog_task(card_bytes: bytes, catalog_task: str | None) -> str | None:
    """``catalog_task`` as given, or the built-in's task for a card named after one."""
    if catalog_task:
        return catalog_task
    try:
        raw = json.loads(card_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return catalog_task
    name = raw.get("name") if isinstance(raw, dict) else None
    builtin = BUILTINS.get(name) if isinstance(name, str) else None
    return builtin.task if builtin is not None else catalog_task


def validate_upload(card_bytes: bytes, data_bytes: bytes, catalog_task: str | None) -> ValidUpload:
    """Check everything (CPU-bound: run it in a thread); :class:`DatasetRejected` lists every
    problem of the card, the form and each data line."""
    check_sizes(card_bytes, data_bytes)
    catalog_task = default_catalog_task(card_bytes, catalog_task)
    card, problems = check_card(card_bytes, catalog_task)
    items: list[Any] = []
    dev: list[Any] = []
    lines = _count_lines(data_bytes)
    if lines > MAX_DATA_LINES:
        problems.append(
            Problem("data", f"more than {MAX_DATA_LINES:,} lines", line=MAX_DATA_LINES + 1)
        )
    else:
        items, dev, errors = check_items(card, data_bytes)
        problems.extend(Problem("data", e.message, line=e.line) for e in errors)
    if problems or card is None:
        raise DatasetRejected(problems)
    loaded = Dataset(card=card, items=items, dev=dev)
    return ValidUpload(
        card=card,
        catalog_task=str(catalog_task),
        card_bytes=card_bytes,
        data_bytes=data_bytes,
        size=len(items),
        dev_size=len(dev),
        sha256=hashlib.sha256(data_bytes).hexdigest(),
        content_sha256=compute_sha256(loaded.card_bytes(), loaded.data_bytes()),
    )


#: An import's upload (the public file or archive) is bounded like registered data.
MAX_IMPORT_BYTES = MAX_DATA_BYTES
#: The card's bound on few-shot exemplars.
MAX_FEW_SHOT = 25


@dataclass(frozen=True)
class ImportForm:
    """``POST /api/admin/datasets/import``'s fields, as sent (checked by :func:`check_import`)."""

    format: str | None
    dataset: str | None
    language: str | None
    version: str | None = None
    few_shot: str | None = None
    catalog_task: str | None = None
    #: The split to evaluate where the format offers several (e.g. MMLU ``val``).
    split: str | None = None


def check_import(form: ImportForm) -> list[Problem]:
    """Every problem of the import form's fields (the file is checked by the importer)."""
    problems = []
    if not form.format:
        problems.append(
            Problem("form", f"required: one of {', '.join(importers.FORMATS)}", "format")
        )
    elif form.format not in importers.FORMATS:
        problems.append(
            Problem(
                "form",
                f"unknown format {form.format!r}: one of {', '.join(importers.FORMATS)}",
                "format",
            )
        )
    if not form.dataset:
        problems.append(Problem("form", "required: the catalog id of the dataset", "dataset"))
    elif not _NAME_RE.fullmatch(form.dataset):
        problems.append(
            Problem(
                "form",
                "must be 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit",
                "dataset",
            )
        )
    languages = [lang.value for lang in Language]
    if form.language not in languages:
        problems.append(Problem("form", f"required: one of {', '.join(languages)}", "language"))
    if form.version is not None and not _VERSION_RE.fullmatch(form.version):
        problems.append(
            Problem(
                "form",
                "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-', starting with a "
                "letter or digit",
                "version",
            )
        )
    if form.few_shot is not None and not (
        form.few_shot.isascii() and form.few_shot.isdigit() and int(form.few_shot) <= MAX_FEW_SHOT
    ):
        problems.append(Problem("form", f"must be an integer from 0 to {MAX_FEW_SHOT}", "few_shot"))
    return problems


def import_upload(form: ImportForm, payload: bytes, version: str) -> ValidUpload:
    """Convert a public file or archive with the dataset library's importer, then check the
    result exactly as a registration (CPU-bound: run it in a thread). :class:`DatasetRejected`
    lists every problem, each data problem with its file and line."""
    if len(payload) > MAX_IMPORT_BYTES:
        raise DatasetTooLarge(
            Problem("form", f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
        )
    problems = check_import(form)
    if problems:
        raise DatasetRejected(problems)
    assert form.format and form.dataset and form.language
    try:
        card_bytes, data_bytes, _dataset = importers.convert_upload(
            form.format,
            payload,
            name=form.dataset,
            language=form.language,
            version=version,
            few_shot=int(form.few_shot) if form.few_shot is not None else None,
            split=form.split,
        )
    except DatasetError as exc:
        raise DatasetRejected(
            [
                Problem("card", e.message)
                if e.line is None and e.file is None
                else Problem("data", e.message, line=e.line, file=e.file)
                for e in exc.errors
            ]
        ) from exc
    except ValueError as exc:  # what the importer refuses outright (e.g. a split it lacks)
        raise DatasetRejected(
            [Problem("form", str(exc), "split" if form.split else "format")]
        ) from exc
    return validate_upload(card_bytes, data_bytes, form.catalog_task)


async def next_version(*, db: Database, name: str) -> str:
    """The version an import gets when none is given: one more than the versions so far."""
    async with db.transaction() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(RegisteredDataset)
            .where(RegisteredDataset.name == name)
        )
    return str((count or 0) + 1)


async def register(
    *, db: Database, store: ObjectStore, upload: ValidUpload, registered_by: uuid.UUID
) -> RegisteredDataset:
    """Record a new version and store its objects; 409 for a version that exists, or a name
    already registered in another domain or task.

    The row is flushed first (so the unique constraints reserve the name and version against a
    concurrent registration before anything is written), then ``data.jsonl``, then
    ``card.json``, and only then committed: the row becomes visible after both objects exist,
    and any error rolls it back. A crash in between leaves objects without a row, never the
    reverse; registering again overwrites them.
    """
    name, version = upload.name, upload.version
    async with db.transaction() as session:
        row = await add_version(
            session,
            name=name,
            version=version,
            domain=upload.domain,
            task=upload.catalog_task,
            card=upload.card.model_dump(mode="json", exclude_none=True),
            size=upload.size,
            dev_size=upload.dev_size,
            data_bytes=len(upload.data_bytes),
            sha256=upload.sha256,
            content_sha256=upload.content_sha256,
            registered_by=registered_by,
        )
        prefix = dataset_prefix(name, version)
        await store.put(f"{prefix}/data.jsonl", upload.data_bytes)
        await store.put(f"{prefix}/card.json", upload.card_bytes)
    return row


async def add_version(
    session: AsyncSession,
    *,
    name: str,
    version: str,
    domain: str,
    task: str,
    card: dict[str, Any],
    size: int,
    dev_size: int,
    data_bytes: int,
    sha256: str,
    content_sha256: str,
    registered_by: uuid.UUID,
) -> RegisteredDataset:
    """Add (and flush) the next version of ``name``: 409 for a version that exists, for a name
    registered under another domain or task, or when a concurrent registration won the race."""
    versions = list(
        await session.scalars(
            select(RegisteredDataset)
            .where(RegisteredDataset.name == name)
            .order_by(RegisteredDataset.seq.desc())
        )
    )
    if any(v.version == version for v in versions):
        raise Conflict(
            f"Version {version!r} of dataset {name!r} is already registered; give the card a "
            "new version.",
            code="dataset_version_exists",
        )
    latest = versions[0] if versions else None
    if latest is not None and (latest.domain, latest.task) != (domain, task):
        raise Conflict(
            f"Dataset {name!r} is registered under {latest.domain}/{latest.task}; a new "
            "version must keep its domain and catalog task.",
            code="dataset_task_mismatch",
        )
    row = RegisteredDataset(
        id=uuid.uuid4(),
        name=name,
        version=version,
        seq=(latest.seq + 1) if latest is not None else 1,
        domain=domain,
        task=task,
        card=card,
        size=size,
        dev_size=dev_size,
        data_bytes=data_bytes,
        sha256=sha256,
        content_sha256=content_sha256,
        registered_by=registered_by,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent registration of this name won
        raise Conflict(
            f"Dataset {name!r} was registered concurrently; try again.",
            code="dataset_version_exists",
        ) from exc
    return row


async def versions_by_name(session: AsyncSession) -> dict[str, list[RegisteredDataset]]:
    """Every registered version, by dataset name, newest (the current one) first."""
    rows = await session.scalars(
        select(RegisteredDataset).order_by(RegisteredDataset.name, RegisteredDataset.seq.desc())
    )
    by_name: dict[str, list[RegisteredDataset]] = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(row)
    return by_name


async def current_versions(session: AsyncSession) -> list[RegisteredDataset]:
    """The current (latest registered) version of every registered dataset, by name."""
    return [versions[0] for versions in (await versions_by_name(session)).values()]


def version_document(row: RegisteredDataset) -> dict[str, Any]:
    """One version in ``GET /api/admin/datasets``."""
    return {
        "version": row.version,
        "item_count": row.size,
        "dev_count": row.dev_size,
        "content_sha256": row.content_sha256,
        "sha256": row.sha256,
        "registered_at": row.registered_at.isoformat(),
        "registered_by": str(row.registered_by),
    }


def is_subjective(card: dict[str, Any]) -> bool:
    """Open QA has no automatic metric: people grade it (human-evaluation quota)."""
    return card.get("task") == Task.open_qa.value


def catalog_metric(card: dict[str, Any]) -> str:
    """The card's metric in the catalog's spelling (``exact_match`` → ``exact-match``)."""
    metric = str(card.get("metric", ""))
    if metric == "none":
        return "human-rating" if is_subjective(card) else "none"
    return metric.replace("_", "-")


def document(row: RegisteredDataset) -> dict[str, Any]:
    """The 201 reply of ``POST /api/admin/datasets``."""
    return {
        "id": row.name,
        "version": row.version,
        "domain": row.domain,
        "task": row.task,
        "card": row.card,
        "size": row.size,
        "dev_size": row.dev_size,
        "data_bytes": row.data_bytes,
        "sha256": row.sha256,
        "content_sha256": row.content_sha256,
        "source": row.prefix,
        "registered_at": row.registered_at.isoformat(),
    }
