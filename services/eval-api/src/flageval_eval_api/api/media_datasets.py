"""``POST /api/admin/datasets/uploads/{upload_id}/register`` (administrators): register a media
dataset uploaded with a dataset upload token (the upload service issues those).

Body (optional JSON): ``{"catalog_task": …}`` — the catalog task of the card's domain (a
built-in dataset id has its own). 201 with the registered version; 404 for an unknown or
unfinished upload; 409 when it is registered already or the version exists; 413 for a card
over 64 KiB or a manifest over 200 MiB; 422 listing every problem (``{"source": "card"|
"manifest"|"upload", "line": N|null, "message"}``). Nothing is recorded unless it succeeds.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from flageval_eval_api.datasets import media
from flageval_platform.identity import Identity, require_admin
from flageval_platform.service import ServiceContext


class RegisterUploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog_task: str | None = Field(default=None, max_length=64)


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No complete media dataset upload with this id"},
    409: {"description": "The upload or this version is registered already"},
    413: {"description": "The card is over 64 KiB or the manifest over 200 MiB"},
    422: {"description": "Every problem of the card, the manifest (by line) and the media"},
}


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(tags=["datasets"])

    def admin(request: Request) -> Identity:
        return require_admin(ctx.current_identity(request))

    @api.post(
        "/api/admin/datasets/uploads/{upload_id}/register", status_code=201, responses=_ERRORS
    )
    async def register_media_dataset(
        upload_id: uuid.UUID,
        body: RegisterUploadIn | None = Body(default=None),
        identity: Identity = Depends(admin),
    ) -> dict[str, Any]:
        row = await media.register_upload(
            db=ctx.db,
            store=ctx.store,
            upload_id=upload_id,
            catalog_task=body.catalog_task if body else None,
            registered_by=identity.user_id,
        )
        return media.document(row, upload_id)

    return api
