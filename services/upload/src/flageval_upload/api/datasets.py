"""Media dataset uploads for administrators: a token for the CLI, and the upload's progress.

``POST /api/admin/datasets/uploads`` ``{dataset, version}`` → 201 ``{upload_id, token,
expires_at, command}``; ``GET /api/admin/datasets/uploads/{upload_id}`` → status and files.
Registering the complete upload is eval-api's (``…/uploads/{upload_id}/register``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from flageval_platform.identity import Identity, require_admin
from flageval_platform.service import ServiceContext
from flageval_upload.config import upload_settings
from flageval_upload.datasets import service
from flageval_upload.models import aware
from flageval_upload.uploads.schemas import BundleFileOut
from flageval_upload.uploads.tokens import upload_command


class DatasetUploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A catalog dataset id or a new name (lower-case letters, digits and '-').
    dataset: str = Field(pattern=service.NAME_RE.pattern)
    #: The version the card will carry.
    version: str = Field(pattern=service.VERSION_RE.pattern)


class DatasetUploadTokenOut(BaseModel):
    upload_id: uuid.UUID
    dataset: str
    version: str
    token: str
    expires_at: datetime
    command: str


class DatasetUploadOut(BaseModel):
    upload_id: uuid.UUID
    dataset: str
    version: str
    #: uploading → complete → valid | invalid (the layout check of the file names).
    status: str
    problems: list[str]
    total_bytes: int
    files_ready: int
    files: list[BundleFileOut]
    created_at: datetime
    completed_at: datetime | None


def router(ctx: ServiceContext) -> APIRouter:
    settings = upload_settings(ctx.settings)
    api = APIRouter(prefix="/api/admin/datasets/uploads", tags=["datasets"])

    def admin(request: Request) -> Identity:
        return require_admin(ctx.current_identity(request))

    @api.post("", status_code=201, response_model=DatasetUploadTokenOut)
    async def create_dataset_upload(
        body: DatasetUploadIn, identity: Identity = Depends(admin)
    ) -> DatasetUploadTokenOut:
        """A dataset upload token for the CLI, shown this once, and the command that uses it."""
        async with ctx.db.transaction() as session:
            issued = await service.create_token(
                session=session,
                identity=identity,
                dataset=body.dataset,
                version=body.version,
                ttl_seconds=settings.upload_token_ttl_seconds,
            )
        return DatasetUploadTokenOut(
            upload_id=issued.bundle.id,
            dataset=body.dataset,
            version=body.version,
            token=issued.token,
            expires_at=issued.expires_at,
            command=upload_command(
                ctx.settings.effective_public_url, issued.token, service.COMMAND_DIR
            ),
        )

    @api.get("/{upload_id}", response_model=DatasetUploadOut)
    async def get_dataset_upload(
        upload_id: uuid.UUID, identity: Identity = Depends(admin)
    ) -> DatasetUploadOut:
        """Progress of a dataset upload: status, files in so far, problems."""
        async with ctx.db.transaction() as session:
            bundle, files, ready = await service.get_upload(session=session, upload_id=upload_id)
        return DatasetUploadOut(
            upload_id=bundle.id,
            dataset=bundle.dataset or "",
            version=bundle.dataset_version or "",
            status=bundle.status,
            problems=list(bundle.problems or []),
            total_bytes=bundle.total_bytes,
            files_ready=ready,
            files=files,
            created_at=aware(bundle.created_at),
            completed_at=aware(bundle.completed_at) if bundle.completed_at else None,
        )

    return api
