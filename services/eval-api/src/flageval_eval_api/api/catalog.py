"""``GET /api/catalog`` (public) and ``POST /api/admin/card-types`` (administrators)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from flageval_eval_api.catalog import service
from flageval_eval_api.catalog.schemas import CardTypeIn, CardTypeOut
from flageval_platform.identity import Identity, require_admin
from flageval_platform.service import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(tags=["catalog"])

    def admin(request: Request) -> Identity:
        # A dependency, so 401/403 come before any complaint about the body.
        return require_admin(ctx.current_identity(request))

    @api.get("/api/catalog")
    async def get_catalog() -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            catalog = await service.load_catalog(session=session)
        return service.catalog_document(catalog)

    @api.post("/api/admin/card-types", status_code=201, response_model=CardTypeOut)
    async def add_card_type(body: CardTypeIn, _identity: Identity = Depends(admin)) -> CardTypeOut:
        async with ctx.db.transaction() as session:
            card = await service.add_card_type(
                session=session,
                id=body.id,
                name=body.name,
                gpu_memory_gib=body.gpu_memory_gib,
                max_gpus=body.max_gpus,
            )
        return CardTypeOut(
            id=card.id, name=card.name, gpu_memory_gib=card.gpu_memory_gib, max_gpus=card.max_gpus
        )

    return api
