"""``/api/images``: presets and the caller's own custom images; import requests."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from flageval_image_registry.images import service
from flageval_image_registry.images.schemas import ImageCreate, ImageList, ImageOut, PresetOut
from flageval_platform.identity import Identity, require_approved
from flageval_platform.service import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/images", tags=["images"])

    def approved(request: Request) -> Identity:
        # A dependency, so 401/403 come before any complaint about the body.
        return require_approved(ctx.current_identity(request))

    @api.get("", response_model=ImageList)
    async def list_images(identity: Identity = Depends(approved)) -> ImageList:
        async with ctx.db.transaction() as session:
            presets = await service.list_presets(session=session)
            mine = await service.list_mine(session=session, owner_id=identity.user_id)
            return ImageList(
                preset=[PresetOut.from_row(r) for r in presets],
                custom=[ImageOut.from_row(r) for r in mine],
            )

    @api.post("", status_code=201, response_model=ImageOut)
    async def request_import(body: ImageCreate, identity: Identity = Depends(approved)) -> ImageOut:
        async with ctx.db.transaction() as session:
            image = await service.create(
                session=session,
                owner_id=identity.user_id,
                owner_username=identity.username,
                body=body,
                timezone=ctx.settings.timezone,
            )
        return ImageOut.from_row(image)

    @api.get("/{image_id}", response_model=ImageOut)
    async def get_image(image_id: str, identity: Identity = Depends(approved)) -> ImageOut:
        async with ctx.db.transaction() as session:
            image = await service.get_mine(
                session=session, owner_id=identity.user_id, image_id=image_id
            )
            return ImageOut.from_row(image)

    return api
