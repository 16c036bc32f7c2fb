"""The catalog: per domain, the datasets and tasks one can evaluate on, how a model may be
deployed, and the card types private deployments may ask for.

Datasets and tasks come from :mod:`flageval_eval_api.catalog.seed` (built and checked once, at
import); card types are rows, so :func:`load_catalog` costs one small query.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_eval_api.catalog import seed
from flageval_eval_api.catalog.models import CardTypeRow
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
    size: int
    version: str
    #: TC260-003 category ``A1``..``A5`` (safety only), else None.
    category: str | None
    #: Graded by people (NLP "Chinese open QA"): counts against the human-evaluation quota.
    subjective: bool = False


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
    for domain, id_, name, task, language, metric, size, version in seed.DATASETS:
        if id_ in seen:
            raise ValueError(f"dataset id {id_!r} is used twice")
        seen.add(id_)
        category = seed.SAFETY_TASK_CATEGORY[task] if domain == "safety" else None
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


async def load_catalog(*, session: AsyncSession) -> Catalog:
    """The whole catalog: one query (card types); the rest is prebuilt."""
    rows = await session.scalars(
        select(CardTypeRow).order_by(CardTypeRow.gpu_memory_gib.desc(), CardTypeRow.id)
    )
    # Fresh dicts per call, so a caller that mutates its copy cannot change anyone else's.
    domains = {
        name: dataclasses.replace(
            d, datasets=dict(d.datasets), tasks=dict(d.tasks), categories=dict(d.categories)
        )
        for name, d in _DOMAINS.items()
    }
    return Catalog(
        domains=domains,
        card_types={row.id: _card_type(row) for row in rows},
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
        "size": dataset.size,
        "version": dataset.version,
        "subjective": dataset.subjective,
    }
    if dataset.category is not None:
        doc["category"] = dataset.category
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
