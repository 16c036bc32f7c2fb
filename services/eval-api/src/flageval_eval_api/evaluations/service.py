"""Evaluations: create, read, list and edit, with every rule of SPEC §2.

Shapes and formats are checked by ``schemas.py``; this module checks a whole evaluation against
its domain's rules and the catalog (datasets, tasks, adaptation methods, card types, model types),
stores it, and announces it through the outbox in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import new_envelope
from flageval_contracts.enums import Domain
from flageval_contracts.events import EvaluationChanged
from flageval_eval_api.catalog.service import Catalog, load_catalog
from flageval_eval_api.evaluations.models import Evaluation, utcnow
from flageval_eval_api.evaluations.schemas import EvaluationCreate, EvaluationUpdate, TaskChoice
from flageval_eval_api.evaluations.secrets import ApiKeyCipher
from flageval_eval_api.images.service import usable_image_ids
from flageval_platform.errors import Conflict, NotFound, Unprocessable
from flageval_platform.logging import get_correlation_id
from flageval_platform.outbox import Messaging

PRODUCER = "eval-api"
CATALOG_HINT = "see GET /api/catalog"

Loc = tuple[str | int, ...]


class InvalidEvaluation(Unprocessable):
    """One or more rules broken; the reply lists each like FastAPI's own 422s (``loc``, ``msg``)."""

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems

    @property
    def detail(self) -> Any:
        return [
            {"type": "value_error", "loc": ["body", *loc], "msg": message}
            for loc, message in self.problems
        ]


class NameTaken(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"An evaluation named '{name}' already exists; names are unique across the platform.",
            code="name_taken",
        )


@dataclass(frozen=True)
class DomainRules:
    """What SPEC §2 fixes per domain (the catalog supplies the data these rules refer to)."""

    label: str
    #: "datasets" (NLP, safety) or "tasks" (CV, multimodal, audio).
    selects: str
    deploy_modes: tuple[str, ...]
    robustness: bool
    #: None: any model type of the catalog.
    model_types: tuple[str, ...] | None = None
    adaptation_methods: bool = False
    api_needs_model_and_key: bool = False


RULES: dict[Domain, DomainRules] = {
    Domain.NLP: DomainRules("NLP", "datasets", ("private", "api"), robustness=True),
    Domain.CV: DomainRules(
        "CV",
        "tasks",
        ("private",),
        robustness=True,
        model_types=("backbone",),
        adaptation_methods=True,
    ),
    Domain.MULTIMODAL: DomainRules("Multimodal", "tasks", ("private", "api"), robustness=True),
    Domain.AUDIO: DomainRules("Audio", "tasks", ("private",), robustness=False),
    Domain.SAFETY: DomainRules(
        "Safety", "datasets", ("api",), robustness=False, api_needs_model_and_key=True
    ),
}


def _quoted(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _model_types(catalog: Catalog, domain: Domain) -> tuple[str, ...]:
    return catalog.domains[domain].model_types or catalog.model_types


def _no_data(dataset: str) -> str:
    return f"dataset '{dataset}' has no data yet"


class _Checker:
    """Collects every problem of one evaluation, so a reply names them all at once."""

    def __init__(
        self,
        body: EvaluationCreate,
        catalog: Catalog,
        *,
        has_api_key: bool,
        usable_images: set[str],
    ) -> None:
        self.body = body
        self.catalog = catalog
        #: Presets and the owner's approved custom images (the image registry's word).
        self.usable_images = usable_images
        self.domain_catalog = catalog.domains[body.domain]
        self.rules = RULES[body.domain]
        #: Whether the evaluation will have an API key (given now, or kept from before).
        self.has_api_key = has_api_key
        self.problems: list[tuple[Loc, str]] = []

    def problem(self, loc: Loc, message: str) -> None:
        self.problems.append((loc, message))

    def columns(self) -> dict[str, Any]:
        """The evaluation's column values, or :class:`InvalidEvaluation` with every problem."""
        body, rules = self.body, self.rules
        values: dict[str, Any] = {
            "description": body.description,
            "datasets": None,
            "tasks": None,
        }
        if rules.selects == "datasets":
            if body.tasks is not None:
                self.problem(("tasks",), f"{rules.label} evaluations choose datasets, not tasks")
            values["datasets"] = self._datasets(body.datasets)
        else:
            if body.datasets is not None:
                self.problem(
                    ("datasets",),
                    f"{rules.label} evaluations choose tasks (each with its datasets), "
                    "not top-level datasets",
                )
            values["tasks"] = self._tasks(body.tasks)
        values.update(self._deployment())
        values["robustness"] = self._robustness()
        values.update(self._model_info())
        if self.problems:
            raise InvalidEvaluation(self.problems)
        return values

    def _datasets(self, chosen: list[str] | None) -> list[str]:
        label = self.rules.label
        if not chosen:
            self.problem(("datasets",), f"choose at least one {label} dataset ({CATALOG_HINT})")
            return []
        known = self.domain_catalog.datasets
        seen: set[str] = set()
        for i, dataset in enumerate(chosen):
            if dataset in seen:
                self.problem(("datasets", i), f"dataset '{dataset}' is listed twice")
            elif dataset not in known:
                self.problem(
                    ("datasets", i), f"'{dataset}' is not a {label} dataset ({CATALOG_HINT})"
                )
            elif not known[dataset].has_data:
                self.problem(("datasets", i), _no_data(dataset))
            seen.add(dataset)
        return list(chosen)

    def _tasks(self, chosen: list[TaskChoice] | None) -> list[dict[str, Any]]:
        label = self.rules.label
        if not chosen:
            self.problem(("tasks",), f"choose at least one {label} task ({CATALOG_HINT})")
            return []
        known = self.domain_catalog.tasks
        resolved: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i, choice in enumerate(chosen):
            if choice.task in seen:
                self.problem(("tasks", i, "task"), f"task '{choice.task}' is listed twice")
                continue
            seen.add(choice.task)
            task = known.get(choice.task)
            if task is None:
                self.problem(
                    ("tasks", i, "task"),
                    f"'{choice.task}' is not a {label} task: one of {_quoted(known)}",
                )
                continue
            method = choice.adaptation_method
            if self.rules.adaptation_methods:
                if method is None:
                    self.problem(
                        ("tasks", i, "adaptation_method"),
                        f"choose an adaptation method for task '{task.id}': one of "
                        f"{_quoted(task.adaptation_methods)}",
                    )
                elif method not in task.adaptation_methods:
                    self.problem(
                        ("tasks", i, "adaptation_method"),
                        f"'{method}' is not an adaptation method of task '{task.id}': one of "
                        f"{_quoted(task.adaptation_methods)}",
                    )
            elif method is not None:
                self.problem(
                    ("tasks", i, "adaptation_method"),
                    f"only CV tasks take an adaptation method, not {label} ones",
                )
            # A task without a dataset list means all of its datasets that have data.
            datasets = [d for d in task.datasets if self.domain_catalog.datasets[d].has_data]
            if choice.datasets is None and not datasets:
                self.problem(
                    ("tasks", i, "task"),
                    f"task '{task.id}' has no dataset with data yet: "
                    + "; ".join(_no_data(d) for d in task.datasets),
                )
            if choice.datasets is not None:
                datasets = self._task_datasets(i, task.id, tuple(task.datasets), choice.datasets)
            resolved.append({"task": task.id, "adaptation_method": method, "datasets": datasets})
        return resolved

    def _task_datasets(
        self, i: int, task_id: str, offered: tuple[str, ...], chosen: list[str]
    ) -> list[str]:
        if not chosen:
            self.problem(
                ("tasks", i, "datasets"),
                f"choose at least one dataset of task '{task_id}', or leave 'datasets' out "
                "for all of them",
            )
        seen: set[str] = set()
        for j, dataset in enumerate(chosen):
            if dataset in seen:
                self.problem(("tasks", i, "datasets", j), f"dataset '{dataset}' is listed twice")
            elif dataset not in offered:
                self.problem(
                    ("tasks", i, "datasets", j),
                    f"'{dataset}' is not a dataset of task '{task_id}': one of {_quoted(offered)}",
                )
            elif not self.domain_catalog.datasets[dataset].has_data:
                self.problem(("tasks", i, "datasets", j), _no_data(dataset))
            seen.add(dataset)
        return list(chosen)

    def _deployment(self) -> dict[str, Any]:
        body, rules = self.body, self.rules
        values: dict[str, Any] = dict.fromkeys(
            ("image_id", "priority", "card_type", "gpus", "api_endpoint", "api_model_name")
        )
        mode: str | None = body.deploy_mode
        if mode is None:
            if len(rules.deploy_modes) > 1:
                self.problem(
                    ("deploy_mode",), f"deploy_mode is required: {_quoted(rules.deploy_modes)}"
                )
                return {"deploy_mode": None, **values}
            mode = rules.deploy_modes[0]
        if mode not in rules.deploy_modes:
            only = "privately" if rules.deploy_modes == ("private",) else "through an API"
            self.problem(("deploy_mode",), f"{rules.label} evaluations can only be deployed {only}")
        values["deploy_mode"] = mode
        if mode == "private":
            if body.api is not None:
                self.problem(("api",), "'api' belongs to an API deployment; this one is private")
            values.update(self._private())
        else:
            if body.private is not None:
                self.problem(
                    ("private",), "'private' belongs to a private deployment; this one is an API"
                )
            values.update(self._api())
        return values

    def _private(self) -> dict[str, Any]:
        private = self.body.private
        if private is None:
            self.problem(
                ("private",),
                "a private deployment needs 'private': {image_id, card_type, gpus, priority}",
            )
            return {}
        if private.image_id not in self.usable_images:
            self.problem(
                ("private", "image_id"),
                f"image '{private.image_id}' cannot be used: choose a preset image or one of "
                "your approved custom images (GET /api/images)",
            )
        card = self.catalog.card_types.get(private.card_type)
        if card is None:
            self.problem(
                ("private", "card_type"),
                f"unknown card type '{private.card_type}': one of "
                f"{_quoted(self.catalog.card_types)}",
            )
        elif private.gpus > card.max_gpus:
            self.problem(
                ("private", "gpus"),
                f"card type '{card.id}' offers at most {card.max_gpus} GPUs on one machine "
                "(runs are single-node)",
            )
        return {
            "image_id": private.image_id,
            "priority": private.priority.value,
            "card_type": private.card_type,
            "gpus": private.gpus,
        }

    def _api(self) -> dict[str, Any]:
        api = self.body.api
        if api is None:
            self.problem(("api",), "an API deployment needs 'api': {endpoint, model_name, api_key}")
            return {}
        if self.rules.api_needs_model_and_key:
            label = self.rules.label
            if api.model_name is None:
                self.problem(
                    ("api", "model_name"), f"{label} evaluations need the online model name"
                )
            if not self.has_api_key:
                self.problem(("api", "api_key"), f"{label} evaluations need the API key")
        return {"api_endpoint": api.endpoint, "api_model_name": api.model_name}

    def _robustness(self) -> bool:
        dimensions = self.body.dimensions
        robustness = bool(dimensions and dimensions.robustness)
        if robustness and not self.rules.robustness:
            self.problem(
                ("dimensions", "robustness"),
                f"{self.rules.label} evaluations measure accuracy only; robustness is not offered",
            )
        return robustness

    def _model_info(self) -> dict[str, Any]:
        info = self.body.model_info
        model_type = info.model_type if info else None
        allowed = self.rules.model_types or _model_types(self.catalog, self.body.domain)
        if model_type is None and self.rules.model_types and len(self.rules.model_types) == 1:
            model_type = self.rules.model_types[0]  # CV: a backbone, whether said or not
        elif model_type is not None and model_type not in allowed:
            self.problem(
                ("model_info", "model_type"),
                f"{self.rules.label} evaluations take model type {_quoted(allowed)}, "
                f"not '{model_type}'",
            )
        return {
            "model_type": model_type,
            "paper_url": info.paper_url if info else None,
            "model_url": info.model_url if info else None,
        }


async def _publish(
    session: AsyncSession, messaging: Messaging, type_: str, evaluation: Evaluation
) -> None:
    payload = EvaluationChanged(
        evaluation_id=evaluation.id,
        owner_id=evaluation.owner_id,
        domain=Domain(evaluation.domain),
        name=evaluation.name,
    )
    envelope = new_envelope(type_, payload, producer=PRODUCER, correlation_id=get_correlation_id())
    await messaging.enqueue(session, envelope)


async def create(
    *,
    session: AsyncSession,
    messaging: Messaging,
    cipher: ApiKeyCipher,
    owner_id: uuid.UUID,
    body: EvaluationCreate,
) -> Evaluation:
    """Store a new evaluation and enqueue ``evaluation.created``; 422 on a broken rule, 409 on a
    taken name (the unique constraint decides concurrent creates; the pre-check only words it)."""
    catalog = await load_catalog(session=session)
    has_key = body.api is not None and body.api.api_key is not None
    images = await usable_image_ids(session=session, owner_id=owner_id)
    columns = _Checker(body, catalog, has_api_key=has_key, usable_images=images).columns()
    if await session.scalar(select(Evaluation.id).where(Evaluation.name == body.name)):
        raise NameTaken(body.name)
    now = utcnow()
    evaluation = Evaluation(
        id=uuid.uuid4(),
        owner_id=owner_id,
        domain=body.domain.value,
        name=body.name,
        created_at=now,
        updated_at=now,
        **columns,
    )
    if body.api is not None and body.api.api_key is not None:
        evaluation.api_key_encrypted = cipher.encrypt(body.api.api_key, evaluation_id=evaluation.id)
    session.add(evaluation)
    try:
        await session.flush()
    except IntegrityError:
        raise NameTaken(body.name) from None
    await _publish(session, messaging, "evaluation.created", evaluation)
    return evaluation


async def get(*, session: AsyncSession, owner_id: uuid.UUID, evaluation_id: str) -> Evaluation:
    """The caller's evaluation; 404 for a malformed id, a missing one, or someone else's."""
    try:
        key = uuid.UUID(evaluation_id)
    except ValueError:
        raise NotFound("Evaluation not found") from None
    evaluation = await session.get(Evaluation, key)
    if evaluation is None or evaluation.owner_id != owner_id:
        raise NotFound("Evaluation not found")
    return evaluation


async def list_mine(
    *,
    session: AsyncSession,
    owner_id: uuid.UUID,
    limit: int,
    offset: int,
    domain: Domain | None = None,
) -> list[Evaluation]:
    """The caller's evaluations, newest first."""
    query = select(Evaluation).where(Evaluation.owner_id == owner_id)
    if domain is not None:
        query = query.where(Evaluation.domain == domain.value)
    query = (
        query.order_by(Evaluation.created_at.desc(), Evaluation.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(query)).all())


def _as_body(evaluation: Evaluation) -> dict[str, Any]:
    """The stored evaluation as a create body (without its API key), for merging a PATCH."""
    body: dict[str, Any] = {
        "domain": evaluation.domain,
        "name": evaluation.name,
        "description": evaluation.description,
        "datasets": evaluation.datasets,
        "tasks": evaluation.tasks,
        "deploy_mode": evaluation.deploy_mode,
        "dimensions": {"robustness": evaluation.robustness},
        "private": None,
        "api": None,
        "model_info": {
            "model_type": evaluation.model_type,
            "paper_url": evaluation.paper_url,
            "model_url": evaluation.model_url,
        },
    }
    if evaluation.deploy_mode == "private":
        body["private"] = {
            "image_id": evaluation.image_id,
            "priority": evaluation.priority,
            "card_type": evaluation.card_type,
            "gpus": evaluation.gpus,
        }
    else:
        body["api"] = {"endpoint": evaluation.api_endpoint, "model_name": evaluation.api_model_name}
    return body


_SECTIONS = ("dimensions", "private", "api", "model_info")


async def update(
    *,
    session: AsyncSession,
    messaging: Messaging,
    cipher: ApiKeyCipher,
    owner_id: uuid.UUID,
    evaluation_id: str,
    patch: EvaluationUpdate,
) -> Evaluation:
    """Apply ``patch`` and enqueue ``evaluation.updated``; the result must satisfy every rule.

    Sections merge field by field into what is stored; switching ``deploy_mode`` drops the other
    mode's section. The API key is kept when ``api.api_key`` is left out, replaced when given,
    and removed when ``null``.
    """
    evaluation = await get(session=session, owner_id=owner_id, evaluation_id=evaluation_id)
    changes = patch.model_dump(exclude_unset=True)
    problems: list[tuple[Loc, str]] = []
    for field in ("name", "domain"):
        if field in changes and changes.pop(field) != getattr(evaluation, field):
            problems.append(((field,), f"'{field}' cannot be changed after creation"))
    if problems:
        raise InvalidEvaluation(problems)

    merged = _as_body(evaluation)
    api_key_change = changes.get("api") or {}
    replaces_key = "api_key" in api_key_change
    new_key = api_key_change.pop("api_key", None)
    for field, value in changes.items():
        if field in _SECTIONS and value is not None and merged[field] is not None:
            merged[field] = {**merged[field], **value}
        else:
            merged[field] = "" if field == "description" and value is None else value
    if merged["deploy_mode"] != evaluation.deploy_mode:
        stale = "api" if merged["deploy_mode"] == "private" else "private"
        if stale not in changes:
            merged[stale] = None
    try:
        body = EvaluationCreate.model_validate(merged)
    except ValidationError as exc:
        raise InvalidEvaluation(
            [(tuple(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        ) from None
    keeps_key = (
        not replaces_key
        and body.api is not None
        and evaluation.deploy_mode == "api"
        and evaluation.api_key_encrypted is not None
    )
    catalog = await load_catalog(session=session)
    has_key = new_key is not None if replaces_key else keeps_key
    images = await usable_image_ids(session=session, owner_id=evaluation.owner_id)
    columns = _Checker(body, catalog, has_api_key=has_key, usable_images=images).columns()
    for column, value in columns.items():
        setattr(evaluation, column, value)
    if body.api is None:
        evaluation.api_key_encrypted = None
    elif replaces_key:
        evaluation.api_key_encrypted = (
            cipher.encrypt(new_key, evaluation_id=evaluation.id) if new_key is not None else None
        )
    elif not keeps_key:
        evaluation.api_key_encrypted = None
    evaluation.updated_at = utcnow()
    await session.flush()
    await _publish(session, messaging, "evaluation.updated", evaluation)
    return evaluation
