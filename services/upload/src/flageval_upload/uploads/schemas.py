"""Request and response shapes. The protocol ones use the CLI's exact (camelCase) keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

# -- flageval-serving protocol (SPEC §4) --------------------------------------------------------


class FileIn(BaseModel):
    filename: StrictStr
    sizeKb: StrictInt = Field(ge=1)


class CreateFilesIn(BaseModel):
    """``POST /api/evaluations/models/files``."""

    token: StrictStr | None = None
    files: list[FileIn]


class ProtocolChunk(BaseModel):
    num: int
    sizeKb: int
    ks3Ready: bool


class ProtocolFile(BaseModel):
    id: int
    filename: str
    sizeKb: int
    ks3Ready: bool
    chunks: list[ProtocolChunk]


class FileList(BaseModel):
    results: list[ProtocolFile]


class FileListing(FileList):
    """``op_file`` ``ls``."""

    canSendTargets: bool


class ChunkAccepted(BaseModel):
    status: Literal[200] = 200


class Removed(BaseModel):
    """``op_file`` ``rm``: 0 when the files are gone."""

    ret: int = 0


# -- platform API (SPEC §3) ---------------------------------------------------------------------


class UploadTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Administrators only: the token may write the protected ``targets/`` folder.
    can_send_targets: StrictBool = False


class UploadTokenOut(BaseModel):
    token: str
    expires_at: datetime
    command: str
    bundle_version: int


class BundleFileOut(BaseModel):
    path: str
    size_bytes: int | None
    sha256: str | None


class BundleOut(BaseModel):
    id: uuid.UUID
    version: int
    status: str
    total_bytes: int
    files: list[BundleFileOut]
    problems: list[str]
    created_at: datetime
    completed_at: datetime | None
