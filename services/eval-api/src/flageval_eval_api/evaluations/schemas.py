"""Request and reply bodies of ``/api/evaluations``.

These models check shape, types, formats and lengths; which datasets, tasks, card types and deploy
modes a domain allows is checked against the catalog in ``service.py``. Unknown fields are refused
everywhere (``extra="forbid"``), so a typo never passes silently.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from flageval_contracts.enums import Domain, Priority

if TYPE_CHECKING:
    from flageval_eval_api.evaluations.models import Evaluation

_NAME_CHARS = re.compile(r"[a-z0-9-]*")
_IMAGE_ID = re.compile(r"[a-z0-9][a-z0-9._:/-]{0,199}")
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def check_name(value: str) -> str:
    """SPEC §2: 3 to 32 chars of ``[a-z0-9-]``, a lowercase letter first, a letter or digit last."""
    if not 3 <= len(value) <= 32:
        raise ValueError("name must be 3 to 32 characters long")
    if not _NAME_CHARS.fullmatch(value):
        raise ValueError("name may only contain lowercase letters a-z, digits 0-9 and '-'")
    if not ("a" <= value[0] <= "z"):
        raise ValueError("name must start with a lowercase letter")
    if value[-1] == "-":
        raise ValueError("name must end with a lowercase letter or a digit")
    return value


def check_http_url(value: str) -> str:
    """A well-formed absolute http(s) URL; kept as written (no normalisation)."""
    if len(value) > 2048:
        raise ValueError("URL must be at most 2048 characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("URL must not contain spaces or control characters")
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("URL must start with http:// or https://")
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError:
        raise ValueError("not a valid http(s) URL") from None
    return value


def check_image_id(value: str) -> str:
    # Only the format here: whether the image exists (preset, or the owner's approved custom
    # image) is the image registry's answer, asked when a run starts.
    if not _IMAGE_ID.fullmatch(value):
        raise ValueError(
            "image_id must be 1 to 200 characters of a-z, 0-9, '.', '_', ':', '/', '-', "
            "starting with a letter or digit"
        )
    return value


def check_api_key(value: str) -> str:
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("api_key must not contain spaces or control characters")
    return value


def check_text(value: str) -> str:
    # PostgreSQL refuses NUL in text, and no control character belongs in a description.
    if any((ord(c) < 32 and c not in "\n\r\t") or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


def check_single_line(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters or line breaks")
    return value


Name = Annotated[StrictStr, AfterValidator(check_name)]
Description = Annotated[StrictStr, Field(max_length=256), AfterValidator(check_text)]
ModelName = Annotated[
    StrictStr, Field(min_length=1, max_length=256), AfterValidator(check_single_line)
]
Url = Annotated[StrictStr, AfterValidator(check_http_url)]
ImageId = Annotated[StrictStr, AfterValidator(check_image_id)]
ApiKey = Annotated[StrictStr, Field(min_length=1, max_length=4096), AfterValidator(check_api_key)]
Identifier = Annotated[StrictStr, Field(min_length=1, max_length=128)]
DeployMode = Literal["private", "api"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskChoice(_Body):
    """One task of a CV, multimodal or audio evaluation."""

    task: Identifier
    #: CV only: one of the task's adaptation methods (e.g. linear probe, UPerNet).
    adaptation_method: Identifier | None = None
    #: A subset of the task's datasets; left out, all of them.
    datasets: list[Identifier] | None = Field(default=None, max_length=200)


class Dimensions(_Body):
    #: Accuracy is always evaluated; accepted so a reply can be sent back as is.
    accuracy: Literal[True] | None = None
    robustness: StrictBool = False


class PrivateDeployment(_Body):
    image_id: ImageId
    priority: Priority = Priority.MEDIUM
    card_type: Identifier
    #: GPUs on one machine (single-node only), at most what the card type offers.
    gpus: StrictInt = Field(default=1, ge=1)


class ApiDeployment(_Body):
    endpoint: Url
    model_name: ModelName | None = None
    #: Stored encrypted; replies only say whether one is set.
    api_key: ApiKey | None = None


class ModelInfo(_Body):
    model_type: Identifier | None = None
    paper_url: Url | None = None
    model_url: Url | None = None


class EvaluationCreate(_Body):
    domain: Domain
    name: Name
    description: Description = ""
    #: NLP and safety.
    datasets: list[Identifier] | None = Field(default=None, max_length=500)
    #: CV, multimodal and audio.
    tasks: list[TaskChoice] | None = Field(default=None, max_length=50)
    #: Left out where the domain allows only one (CV and audio: private; safety: api).
    deploy_mode: DeployMode | None = None
    dimensions: Dimensions | None = None
    private: PrivateDeployment | None = None
    api: ApiDeployment | None = None
    model_info: ModelInfo | None = None


class DimensionsPatch(_Body):
    accuracy: Literal[True] | None = None
    robustness: StrictBool | None = None


class PrivateDeploymentPatch(_Body):
    image_id: ImageId | None = None
    priority: Priority | None = None
    card_type: Identifier | None = None
    gpus: StrictInt | None = Field(default=None, ge=1)


class ApiDeploymentPatch(_Body):
    endpoint: Url | None = None
    model_name: ModelName | None = None
    #: Left out: the stored key is kept. A string: replaces it. ``null``: removes it.
    api_key: ApiKey | None = None


class EvaluationUpdate(_Body):
    """Fields to change; sections (``private``, ``api``, …) merge into what is stored.

    ``name`` and ``domain`` cannot change: they are accepted only with their current value.
    """

    name: StrictStr | None = None
    domain: StrictStr | None = None
    description: Description | None = None
    datasets: list[Identifier] | None = Field(default=None, max_length=500)
    tasks: list[TaskChoice] | None = Field(default=None, max_length=50)
    deploy_mode: DeployMode | None = None
    dimensions: DimensionsPatch | None = None
    private: PrivateDeploymentPatch | None = None
    api: ApiDeploymentPatch | None = None
    model_info: ModelInfo | None = None


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class TaskOut(BaseModel):
    task: str
    adaptation_method: str | None
    datasets: list[str]


class DimensionsOut(BaseModel):
    accuracy: bool = True
    robustness: bool


class PrivateDeploymentOut(BaseModel):
    image_id: str
    priority: Priority
    card_type: str
    gpus: int


class ApiDeploymentOut(BaseModel):
    endpoint: str
    model_name: str | None
    api_key_set: bool


class ModelInfoOut(BaseModel):
    model_type: str | None
    paper_url: str | None
    model_url: str | None


class EvaluationOut(BaseModel):
    id: uuid.UUID
    domain: Domain
    name: str
    description: str
    #: NLP and safety; ``null`` for the others.
    datasets: list[str] | None
    #: CV, multimodal and audio; ``null`` for the others.
    tasks: list[TaskOut] | None
    deploy_mode: DeployMode
    dimensions: DimensionsOut
    private: PrivateDeploymentOut | None
    api: ApiDeploymentOut | None
    model_info: ModelInfoOut
    owner_id: uuid.UUID
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Evaluation) -> EvaluationOut:
        private = None
        if row.deploy_mode == "private":
            private = PrivateDeploymentOut(
                image_id=row.image_id or "",
                priority=Priority(row.priority or Priority.MEDIUM),
                card_type=row.card_type or "",
                gpus=row.gpus or 1,
            )
        api = None
        if row.deploy_mode == "api":
            api = ApiDeploymentOut(
                endpoint=row.api_endpoint or "",
                model_name=row.api_model_name,
                api_key_set=row.api_key_encrypted is not None,
            )
        tasks: Any = row.tasks
        return cls(
            id=row.id,
            domain=Domain(row.domain),
            name=row.name,
            description=row.description,
            datasets=row.datasets,
            tasks=[TaskOut.model_validate(t) for t in tasks] if tasks is not None else None,
            deploy_mode=row.deploy_mode,  # type: ignore[arg-type]
            dimensions=DimensionsOut(robustness=row.robustness),
            private=private,
            api=api,
            model_info=ModelInfoOut(
                model_type=row.model_type, paper_url=row.paper_url, model_url=row.model_url
            ),
            owner_id=row.owner_id,
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
        )
