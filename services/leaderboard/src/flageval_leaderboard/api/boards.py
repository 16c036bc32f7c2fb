"""``GET /api/leaderboards/{domain}``: the public boards (anyone may read them)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response

from flageval_contracts.enums import Domain
from flageval_leaderboard.boards.schemas import BoardOut
from flageval_leaderboard.boards.service import OVERALL, BoardCache
from flageval_platform.errors import NotFound
from flageval_platform.service import ServiceContext

DOMAINS = tuple(d.value for d in Domain)


def board_cache(ctx: ServiceContext) -> BoardCache:
    cache = ctx.state.get("board_cache")
    if cache is None:
        cache = ctx.state["board_cache"] = BoardCache(ctx.db)
    assert isinstance(cache, BoardCache)
    return cache


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/leaderboards", tags=["leaderboards"])

    @api.get("")
    async def domains() -> dict[str, list[str]]:
        return {"domains": list(DOMAINS)}

    @api.get("/{domain}", response_model=BoardOut)
    async def board(
        domain: str,
        sort: str = Query(
            default=OVERALL,
            min_length=1,
            max_length=300,
            description="A column key (dataset:<id>, task:<id>, overall) or submitted_at.",
        ),
        order: Literal["asc", "desc"] | None = Query(
            default=None, description="Default: better first (the column's direction)."
        ),
    ) -> Response:
        if domain not in DOMAINS:
            raise NotFound(f"No leaderboard {domain!r}; boards: {', '.join(DOMAINS)}.")
        body = await board_cache(ctx).json(domain, sort=sort, order=order)
        return Response(body, media_type="application/json")

    return api
