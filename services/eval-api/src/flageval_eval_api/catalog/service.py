"""The catalog: per domain, the datasets and tasks one can evaluate on, how a model may be
deployed, and the card types private deployments may ask for.

Built-in datasets and tasks come from :mod:`flageval_eval_api.catalog.seed` (built and checked
once, at import); card types and the datasets administrators registered
(:mod:`flageval_eval_api.datasets`, current version of each) are rows, so :func:`load_catalog`
costs two small queries.

The catalog is honest about data: a dataset's size, version and content hash come from its data
(the current registered version, or the demo data shipped with the platform), never from
constants, and ``has_data`` says whether a run could read it. Every dataset is listed, with or
without data, so the console can grey out (admins) or hide (users) the ones without; creating
an evaluation or starting a run on one is refused (README "Datasets").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_datasets import load_demo_dataset
from flageval_eval_api.catalog import seed
from flageval_eval_api.catalog.models import CardTypeRow
from flageval_eval_api.datasets import service as registered
from flageval_eval_api.datasets.models import RegisteredDataset
from flageval_platform.errors import Conflict


@dataclass(frozen=True)
class CardType:
    id: str
    name: str
    gpu_memory_gib: int
    max_gpus: int


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    domain: str
    task: str
    language: str
    metric: str
    #: Items evaluated by the current version; None without data.
    size: int | None
    #: The current version; None without data.
    version: str | None
    #: TC260-003 category ``A1``..``A5`` (safety only), else None.
    category: str | None
    #: Graded by people (NLP "Chinese open QA"): counts against the human-evaluation quota.
    subjective: bool = False
    #: Registered by an administrator (SPEC §6) rather than built in.
    registered: bool = False
    #: Registered only: sha256 of the current version's ``data.jsonl`` and the runner's content
    #: hash (canonical card + data, what results record).
    sha256: str | None = None
    content_sha256: str | None = None
    #: Where a run's runner finds the data: ``demo:<id>``, an object-key prefix, or None.
    source: str | None = None
    #: Where the data comes from and its license (built-ins: ``seed.SOURCE_NOTES``).
    source_note: str | None = None
    #: Registered versions (old ones stay readable for reproducibility and resumed runs).
    versions: int = 0

    @property
    def has_data(self) -> bool:
        """Whether a run can read this dataset (demo data or a registered version)."""
        return self.source is not None


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    domain: str
    #: CV only: the heads one may pick for this task; empty where there is nothing to pick.
    adaptation_methods: tuple[str, ...]
    #: Ids of this task's datasets (each exists in the domain's ``datasets``).
    datasets: tuple[str, ...]


@dataclass(frozen=True)
class DomainCatalog:
    domain: str
    datasets: dict[str, Dataset]
    tasks: dict[str, Task]
    deploy_modes: tuple[str, ...]
    #: "accuracy" is always on; "robustness", where listed, is optional.
    dimensions: tuple[str, ...]
    has_validation: bool
    #: Model types one may declare for this domain (CV: backbone only).
    model_types: tuple[str, ...] = ()
    #: Safety only: category id (A1..A5) → name.
    categories: dict[str, str] = field(default_factory=dict)

    def task_of(self, dataset_id: str) -> Task:
        """The task a dataset of this domain belongs to (KeyError for an unknown dataset)."""
        return self.tasks[self.datasets[dataset_id].task]

    def datasets_in_category(self, category: str) -> tuple[Dataset, ...]:
        return tuple(d for d in self.datasets.values() if d.category == category)


@dataclass(frozen=True)
class Catalog:
    domains: dict[str, DomainCatalog]
    card_types: dict[str, CardType]
    #: Every model type of any domain, in a stable order.
    model_types: tuple[str, ...]


def _build_domains() -> dict[str, DomainCatalog]:
    """The code-defined part of the catalog, checked for consistency."""
    datasets: dict[str, dict[str, Dataset]] = {d: {} for d in seed.DOMAINS}
    seen: set[str] = set()
    for domain, id_, name, task, language, metric in seed.DATASETS:
        if id_ in seen:
            raise ValueError(f"dataset id {id_!r} is used twice")
        seen.add(id_)
        category = seed.SAFETY_TASK_CATEGORY[task] if domain == "safety" else None
        size = version = content_sha256 = source = None
        if id_ in seed.DEMO_DATASETS:
            # Small files shipped with the library: their facts are read once, at import.
            demo = load_demo_dataset(id_)
            size, version = len(demo.items), demo.card.version
            content_sha256, source = demo.content_sha256, f"demo:{id_}"
        datasets[domain][id_] = Dataset(
            id=id_,
            name=name,
            domain=domain,
            task=task,
            language=language,
            metric=metric,
            size=size,
            version=version,
            category=category,
            subjective=id_ in seed.SUBJECTIVE_DATASETS,
            content_sha256=content_sha256,
            source=source,
            source_note=seed.SOURCE_NOTES.get(id_),
        )
    tasks: dict[str, dict[str, Task]] = {d: {} for d in seed.DOMAINS}
    for domain, id_, name, methods in seed.TASKS:
        members = tuple(d.id for d in datasets[domain].values() if d.task == id_)
        if not members:
            raise ValueError(f"task {domain}/{id_} has no datasets")
        tasks[domain][id_] = Task(
            id=id_, name=name, domain=domain, adaptation_methods=methods, datasets=members
        )
    for domain, by_id in datasets.items():
        for dataset in by_id.values():
            if dataset.task not in tasks[domain]:
                raise ValueError(f"dataset {dataset.id} names unknown task {dataset.task}")
    return {
        domain: DomainCatalog(
            domain=domain,
            datasets=datasets[domain],
            tasks=tasks[domain],
            deploy_modes=tuple(info["deploy_modes"]),
            dimensions=tuple(info["dimensions"]),
            has_validation=bool(info["has_validation"]),
            model_types=tuple(info["model_types"]),
            categories=dict(seed.SAFETY_CATEGORIES) if domain == "safety" else {},
        )
        for domain, info in seed.DOMAINS.items()
    }


_DOMAINS = _build_domains()
_MODEL_TYPES = tuple(dict.fromkeys(t for d in _DOMAINS.values() for t in d.model_types))


def _card_type(row: CardTypeRow) -> CardType:
    return CardType(
        id=row.id, name=row.name, gpu_memory_gib=row.gpu_memory_gib, max_gpus=row.max_gpus
    )


def _registered_dataset(row: RegisteredDataset, versions: int) -> Dataset:
    card = row.card
    return Dataset(
        id=row.name,
        name=row.name,
        domain=row.domain,
        task=row.task,
        language=str(card.get("language", "")),
        metric=registered.catalog_metric(card),
        size=row.size,
        version=row.version,
        category=seed.SAFETY_TASK_CATEGORY.get(row.task) if row.domain == "safety" else None,
        subjective=registered.is_subjective(card),
        registered=True,
        sha256=row.sha256,
        content_sha256=row.content_sha256,
        source=row.prefix,
        source_note=str(card.get("description") or "") or None,
        versions=versions,
    )


def _attach_data(builtin: Dataset, row: RegisteredDataset, versions: int) -> Dataset:
    """A built-in dataset with the data an administrator attached (its current version)."""
    return dataclasses.replace(
        builtin,
        size=row.size,
        version=row.version,
        sha256=row.sha256,
        content_sha256=row.content_sha256,
        source=row.prefix,
        versions=versions,
    )


def _merge_registered(
    domains: dict[str, DomainCatalog], rows: dict[str, list[RegisteredDataset]]
) -> None:
    """Attach registered data to built-in datasets and add the other registered datasets to
    their domain and task (rows naming a domain or task the catalog no longer has, or a
    built-in id under another domain or task, are left out). ``rows``: name → its versions,
    newest first."""
    for name, versions in rows.items():
        row = versions[0]
        domain = domains.get(row.domain)
        if domain is None or row.task not in domain.tasks:
            continue
        builtin = domain.datasets.get(name)
        if builtin is not None:
            if not builtin.registered and builtin.task == row.task:
                domain.datasets[name] = _attach_data(builtin, row, len(versions))
            continue
        if any(name in d.datasets for d in domains.values()):
            continue
        domain.datasets[row.name] = _registered_dataset(row, len(versions))
        task = domain.tasks[row.task]
        domain.tasks[row.task] = dataclasses.replace(task, datasets=(*task.datasets, row.name))


async def load_catalog(*, session: AsyncSession) -> Catalog:
    """The whole catalog: two queries (card types, registered datasets); the rest is prebuilt."""
    rows = await session.scalars(
        select(CardTypeRow).order_by(CardTypeRow.gpu_memory_gib.desc(), CardTypeRow.id)
    )
    card_types = {row.id: _card_type(row) for row in rows}
    # Fresh dicts per call, so a caller that mutates its copy cannot change anyone else's.
    domains = {
        name: dataclasses.replace(
            d, datasets=dict(d.datasets), tasks=dict(d.tasks), categories=dict(d.categories)
        )
        for name, d in _DOMAINS.items()
    }
    _merge_registered(domains, await registered.versions_by_name(session))
    return Catalog(
        domains=domains,
        card_types=card_types,
        model_types=_MODEL_TYPES,
    )


async def add_card_type(
    *, session: AsyncSession, id: str, name: str, gpu_memory_gib: int, max_gpus: int
) -> CardType:
    """Register a card type; 409 when one with this id exists (also under concurrent adds)."""
    if await session.get(CardTypeRow, id) is not None:
        raise Conflict(f"Card type {id!r} already exists", code="card_type_exists")
    row = CardTypeRow(
        id=id, name=name, gpu_memory_gib=gpu_memory_gib, max_gpus=max_gpus, builtin=False
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent add of the same id won
        raise Conflict(f"Card type {id!r} already exists", code="card_type_exists") from exc
    return _card_type(row)


def _dataset_document(dataset: Dataset) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": dataset.id,
        "name": dataset.name,
        "task": dataset.task,
        "language": dataset.language,
        "metric": dataset.metric,
        "has_data": dataset.has_data,
        # size and item_count: the same number (size is SPEC §3's name), None without data.
        "size": dataset.size,
        "item_count": dataset.size,
        "version": dataset.version,
        "versions": dataset.versions,
        "content_sha256": dataset.content_sha256,
        "source_note": dataset.source_note,
        "subjective": dataset.subjective,
        "registered": dataset.registered,
    }
    if dataset.category is not None:
        doc["category"] = dataset.category
    if dataset.sha256 is not None:
        doc["sha256"] = dataset.sha256
    return doc


def _domain_document(domain: DomainCatalog) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "datasets": [_dataset_document(d) for d in domain.datasets.values()],
        "tasks": [
            {
                "id": t.id,
                "name": t.name,
                "adaptation_methods": list(t.adaptation_methods),
                "datasets": list(t.datasets),
            }
            for t in domain.tasks.values()
        ],
        "dimensions": list(domain.dimensions),
        "deploy_modes": list(domain.deploy_modes),
        "has_validation": domain.has_validation,
        "model_types": list(domain.model_types),
    }
    if domain.categories:
        doc["categories"] = [
            {
                "id": category,
                "name": name,
                "datasets": [d.id for d in domain.datasets_in_category(category)],
            }
            for category, name in domain.categories.items()
        ]
    return doc


def catalog_document(catalog: Catalog) -> dict[str, Any]:
    """``GET /api/catalog`` exactly as SPEC §3 lays it out (plus a few extra keys)."""
    return {
        "domains": {name: _domain_document(d) for name, d in catalog.domains.items()},
        "card_types": [
            {
                "id": c.id,
                "name": c.name,
                "gpu_memory_gib": c.gpu_memory_gib,
                "max_gpus": c.max_gpus,
            }
            for c in catalog.card_types.values()
        ],
        "model_types": list(catalog.model_types),
    }


async def dataset_states(*, session: AsyncSession) -> list[dict[str, Any]]:
    """``GET /api/admin/datasets``: every catalog dataset (built-in or registered) with its
    data state and every registered version, newest first."""
    by_name = await registered.versions_by_name(session)
    catalog = await load_catalog(session=session)
    out = []
    for domain in catalog.domains.values():
        for dataset in domain.datasets.values():
            doc = _dataset_document(dataset)
            doc["domain"] = domain.domain
            doc["builtin"] = not dataset.registered
            doc["demo"] = dataset.id in seed.DEMO_DATASETS
            doc["versions"] = [registered.version_document(r) for r in by_name.get(dataset.id, [])]
            out.append(doc)
    return out
