"""``/api/evaluations``: create, list mine, read and edit evaluations (approved users only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from flageval_contracts.enums import Domain
from flageval_eval_api.evaluations import service
from flageval_eval_api.evaluations.schemas import EvaluationCreate, EvaluationOut, EvaluationUpdate
from flageval_eval_api.evaluations.secrets import ApiKeyCipher
from flageval_platform.identity import Identity, require_approved
from flageval_platform.params import Limit, Offset
from flageval_platform.service import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/evaluations", tags=["evaluations"])
    cipher = ApiKeyCipher(ctx.secret_key)

    def approved(request: Request) -> Identity:
        # A dependency, so 401/403 come before any complaint about the body.
        return require_approved(ctx.current_identity(request))

    @api.post("", status_code=201, response_model=EvaluationOut)
    async def create_evaluation(
        body: EvaluationCreate, identity: Identity = Depends(approved)
    ) -> EvaluationOut:
        async with ctx.db.transaction() as session:
            evaluation = await service.create(
                session=session,
                messaging=ctx.messaging,
                cipher=cipher,
                owner_id=identity.user_id,
                body=body,
            )
        return EvaluationOut.from_row(evaluation)

    @api.get("", response_model=list[EvaluationOut])
    async def list_evaluations(
        limit: Limit = 50,
        offset: Offset = 0,
        domain: Domain | None = None,
        identity: Identity = Depends(approved),
    ) -> list[EvaluationOut]:
        async with ctx.db.transaction() as session:
            rows = await service.list_mine(
                session=session,
                owner_id=identity.user_id,
                limit=limit,
                offset=offset,
                domain=domain,
            )
            return [EvaluationOut.from_row(r) for r in rows]

    @api.get("/{evaluation_id}", response_model=EvaluationOut)
    async def get_evaluation(
        evaluation_id: str, identity: Identity = Depends(approved)
    ) -> EvaluationOut:
        async with ctx.db.transaction() as session:
            evaluation = await service.get(
                session=session, owner_id=identity.user_id, evaluation_id=evaluation_id
            )
            return EvaluationOut.from_row(evaluation)

    @api.patch("/{evaluation_id}", response_model=EvaluationOut)
    async def update_evaluation(
        evaluation_id: str, patch: EvaluationUpdate, identity: Identity = Depends(approved)
    ) -> EvaluationOut:
        async with ctx.db.transaction() as session:
            evaluation = await service.update(
                session=session,
                messaging=ctx.messaging,
                cipher=cipher,
                owner_id=identity.user_id,
                evaluation_id=evaluation_id,
                patch=patch,
            )
        return EvaluationOut.from_row(evaluation)

    return api
