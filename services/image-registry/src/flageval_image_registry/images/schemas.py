"""Request and reply bodies of ``/api/images`` and ``/api/admin/images``.

Every field rule of SPEC §2 Image (and the original guide's import form) is checked here; unknown
fields are refused (``extra="forbid"``) and values must have the right JSON type (strict).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, model_validator

from flageval_contracts.enums import ReviewDecision

if TYPE_CHECKING:
    from flageval_image_registry.images.models import Image

MAX_DOCKERFILE_BYTES = 64 * 1024

_NAME_CHARS = re.compile(r"[a-z0-9.-]*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Docker's reference grammar (distribution/reference): path components, domain, tag, digest.
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_PRIVATE_SUFFIXES = (".local", ".localhost", ".internal", ".lan", ".home", ".corp", ".intranet")


def check_name(value: str) -> str:
    """3 to 128 chars of ``[a-z0-9-.]``, a lowercase letter first, a letter or digit last."""
    if not 3 <= len(value) <= 128:
        raise ValueError("name must be 3 to 128 characters long")
    if not _NAME_CHARS.fullmatch(value):
        raise ValueError("name may only contain lowercase letters a-z, digits 0-9, '-' and '.'")
    if not ("a" <= value[0] <= "z"):
        raise ValueError("name must start with a lowercase letter")
    if not (value[-1].isascii() and value[-1].isalnum()):
        raise ValueError("name must end with a lowercase letter or a digit")
    # The name becomes a path component of a registry reference, which these would break.
    if ".." in value or ".-" in value or "-." in value:
        raise ValueError("name must not have '..', '.-' or '-.' (not a valid image name)")
    return value


def check_tag(value: str) -> str:
    """Docker's tag syntax; ``latest`` (any case) is forbidden: an imported tag never moves."""
    if value.lower() == "latest":
        raise ValueError("tag 'latest' is not allowed: give a fixed tag, e.g. v1.0")
    if not _TAG.fullmatch(value):
        raise ValueError(
            "tag must be 1 to 128 characters of letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'"
        )
    return value


def _check_registry_host(host: str) -> None:
    hostname, _, port = host.partition(":")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"registry port '{port}' is not a valid port")
    lowered = hostname.lower().strip("[]")
    try:
        address = ipaddress.ip_address(lowered)
    except ValueError:
        address = None
    if address is not None:
        if not address.is_global:
            raise ValueError("the registry must be public, not a local or private address")
        return
    labels = lowered.split(".")
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"registry host '{hostname}' is not a valid host name")
    if lowered == "localhost" or lowered.endswith(_PRIVATE_SUFFIXES) or len(labels) < 2:
        raise ValueError("the registry must be a public registry, not a local host")


def check_source_url(value: str) -> str:
    """A reference ``docker pull`` accepts from a public registry: ``[host[:port]/]repo[:tag][@digest]``.

    No scheme, no credentials, no spaces, no local or private registry hosts.
    """
    if not value:
        raise ValueError("source_url is required")
    if len(value) > 512:
        raise ValueError("source_url must be at most 512 characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("source_url must not contain spaces or control characters")
    if "://" in value:
        raise ValueError(
            "source_url is an image reference as given to 'docker pull' (e.g. "
            "nvcr.io/nvidia/pytorch:23.03-py3), without http:// or https://"
        )
    reference, at, digest = value.partition("@")
    if at:
        if "@" in digest or not _DIGEST.fullmatch(digest):
            raise ValueError(
                "source_url must not contain credentials; '@' only introduces a "
                "digest such as @sha256:<64 hex digits>"
            )
    parts = reference.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        _check_registry_host(first)
        parts = parts[1:]
    last = parts[-1]
    if ":" in last:
        last, _, tag = last.partition(":")
        if not _TAG.fullmatch(tag):
            raise ValueError(f"source_url tag '{tag}' is not a valid tag")
        parts[-1] = last
    if not all(_PATH_COMPONENT.fullmatch(p) for p in parts):
        raise ValueError(
            "source_url repository must be lowercase path components separated by '/', "
            "e.g. nvcr.io/nvidia/pytorch:23.03-py3 or pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel"
        )
    if len("/".join(parts)) > 255:
        raise ValueError("source_url repository name must be at most 255 characters")
    return value


def check_dockerfile(value: str) -> str:
    if not value.strip():
        raise ValueError("dockerfile is required (reviewers read it)")
    if len(value.encode()) > MAX_DOCKERFILE_BYTES:
        raise ValueError("dockerfile must be at most 64 KiB")
    if "\x00" in value:
        raise ValueError("dockerfile must be text")
    return value


def check_description(value: str) -> str:
    if len(value) > 256:
        raise ValueError("description must be at most 256 characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise ValueError("description must not contain control characters")
    return value


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class ImageCreate(BaseModel):
    """``POST /api/images``: a request to import an image from a public registry."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, AfterValidator(check_name)]
    #: None: a timestamp in the platform timezone, e.g. ``20261127-153045``.
    tag: Annotated[StrictStr, AfterValidator(check_tag)] | None = None
    import_mode: Literal["public"] = "public"
    source_url: Annotated[StrictStr, AfterValidator(check_source_url)]
    dockerfile: Annotated[StrictStr, AfterValidator(check_dockerfile)]
    description: Annotated[StrictStr, AfterValidator(check_description)] = ""


class ReviewRequest(BaseModel):
    """``POST /api/admin/images/{id}/review``; a rejection needs a reason the user can act on."""

    model_config = ConfigDict(extra="forbid")

    decision: ReviewDecision
    reason: Annotated[StrictStr, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> Self:
        if self.reason is not None:
            self.reason = self.reason.strip() or None
        if self.decision == ReviewDecision.REJECT and not self.reason:
            raise ValueError("reason is required (1 to 500 characters) to reject an image")
        return self


class FindingOut(BaseModel):
    line: int | None
    severity: Literal["blocking", "warning", "hint"]
    rule: str
    message: str
    hint: str | None = None


class PresetOut(BaseModel):
    id: uuid.UUID
    name: str
    tag: str
    description: str
    framework: str | None
    card_types: list[str]
    tags: list[str]
    domain: str | None
    source_url: str

    @classmethod
    def from_row(cls, row: Image) -> PresetOut:
        return cls(
            id=row.id,
            name=row.name,
            tag=row.tag,
            description=row.description,
            framework=row.framework,
            card_types=list(row.card_types),
            tags=list(row.tags),
            domain=row.domain,
            source_url=row.source_url,
        )


class ImageOut(BaseModel):
    """A custom image as its owner sees it."""

    id: uuid.UUID
    name: str
    tag: str
    description: str
    import_mode: str
    source_url: str
    dockerfile: str
    status: str
    reason: str | None
    findings: list[FindingOut]
    registry_ref: str | None
    created_at: datetime
    reviewed_at: datetime | None
    imported_at: datetime | None

    @classmethod
    def fields_of(cls, row: Image) -> dict[str, Any]:
        return {
            "id": row.id,
            "name": row.name,
            "tag": row.tag,
            "description": row.description,
            "import_mode": row.import_mode,
            "source_url": row.source_url,
            "dockerfile": row.dockerfile or "",
            "status": row.status,
            "reason": row.reason,
            "findings": row.findings,
            "registry_ref": row.registry_ref,
            "created_at": _aware(row.created_at),
            "reviewed_at": _aware(row.reviewed_at),
            "imported_at": _aware(row.imported_at),
        }

    @classmethod
    def from_row(cls, row: Image) -> ImageOut:
        return cls(**cls.fields_of(row))


class AdminImageOut(ImageOut):
    """A custom image as a reviewer sees it: with its owner and who reviewed it."""

    owner_id: uuid.UUID
    owner_username: str | None
    reviewed_by: uuid.UUID | None

    @classmethod
    def from_row(cls, row: Image) -> AdminImageOut:
        assert row.owner_id is not None
        return cls(
            **cls.fields_of(row),
            owner_id=row.owner_id,
            owner_username=row.owner_username,
            reviewed_by=row.reviewed_by,
        )


class ImageList(BaseModel):
    preset: list[PresetOut]
    custom: list[ImageOut]
