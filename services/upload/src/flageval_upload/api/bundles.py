"""Upload tokens and bundle versions of an evaluation (SPEC §3), for its approved owner."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Depends

from flageval_platform.identity import Identity, require_approved
from flageval_platform.service import ServiceContext
from flageval_upload.config import upload_settings
from flageval_upload.uploads import service, tokens
from flageval_upload.uploads.schemas import BundleOut, UploadTokenIn, UploadTokenOut


def router(ctx: ServiceContext) -> APIRouter:
    settings = upload_settings(ctx.settings)
    api = APIRouter(prefix="/api/evaluations/{evaluation_id}", tags=["uploads"])

    @api.post("/upload-tokens", status_code=201, response_model=UploadTokenOut)
    async def create_upload_token(
        evaluation_id: uuid.UUID,
        body: UploadTokenIn | None = Body(default=None),
        identity: Identity = Depends(ctx.current_identity),
    ) -> UploadTokenOut:
        """A token for the CLI, shown this once, and the command line that uses it."""
        require_approved(identity)
        async with ctx.db.transaction() as session:
            issued = await tokens.create_token(
                session=session,
                identity=identity,
                evaluation_id=evaluation_id,
                ttl_seconds=settings.upload_token_ttl_seconds,
                can_send_targets=body.can_send_targets if body else False,
            )
        return UploadTokenOut(
            token=issued.token,
            expires_at=issued.expires_at,
            command=tokens.upload_command(ctx.settings.effective_public_url, issued.token),
            bundle_version=issued.bundle.version,
        )

    @api.get("/bundles", response_model=list[BundleOut])
    async def list_bundles(
        evaluation_id: uuid.UUID, identity: Identity = Depends(ctx.current_identity)
    ) -> list[BundleOut]:
        """Bundle versions, newest first, with their files, status and problems."""
        async with ctx.db.transaction() as session:
            return await service.list_bundles(
                session=session, identity=identity, evaluation_id=evaluation_id
            )

    return api
