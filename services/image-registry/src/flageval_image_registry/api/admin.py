"""``/api/admin/images``: the review queue and approve/reject (administrators only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from flageval_image_registry.images import service
from flageval_image_registry.images.models import ImageStatus
from flageval_image_registry.images.schemas import AdminImageOut, ReviewRequest
from flageval_platform.identity import Identity, require_admin
from flageval_platform.params import Limit, Offset
from flageval_platform.service import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/admin/images", tags=["admin"])

    def admin(request: Request) -> Identity:
        return require_admin(ctx.current_identity(request))

    @api.get("", response_model=list[AdminImageOut])
    async def list_images(
        status: ImageStatus | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
        _admin: Identity = Depends(admin),
    ) -> list[AdminImageOut]:
        async with ctx.db.transaction() as session:
            rows = await service.list_for_review(
                session=session, status=status, limit=limit, offset=offset
            )
            return [AdminImageOut.from_row(r) for r in rows]

    @api.get("/{image_id}", response_model=AdminImageOut)
    async def get_image(image_id: str, _admin: Identity = Depends(admin)) -> AdminImageOut:
        async with ctx.db.transaction() as session:
            return AdminImageOut.from_row(await service.get_any(session=session, image_id=image_id))

    @api.post("/{image_id}/review", response_model=AdminImageOut)
    async def review_image(
        image_id: str, body: ReviewRequest, identity: Identity = Depends(admin)
    ) -> AdminImageOut:
        async with ctx.db.transaction() as session:
            image = await service.review(
                session=session,
                messaging=ctx.messaging,
                reviewer_id=identity.user_id,
                image_id=image_id,
                body=body,
            )
        if image.status == ImageStatus.APPROVED.value:
            # After the commit: the worker must see the approval it imports.
            ctx.state["import_worker"].kick(image.id)
        return AdminImageOut.from_row(image)

    return api
