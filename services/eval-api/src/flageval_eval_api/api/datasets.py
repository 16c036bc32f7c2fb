"""``POST /api/admin/datasets`` (administrators): register a dataset or a new version of one.

Multipart form: ``card`` (the card JSON, a file or a text field), ``data`` (the JSONL file) and
``catalog_task`` (the catalog task of the card's domain the dataset belongs to). 201 with the
registered version; 401/403 before the body is read; 413 for a card over 64 KiB or data over
200 MiB; 422 listing every problem (``{"source": "card", "field": …, "message": …}``,
``{"source": "data", "line": N, "message": …}``, ``{"source": "form", "field": …, …}``);
409 for a version that exists. Nothing is stored unless the whole registration succeeds.

``POST /api/admin/datasets/import`` (administrators): the same registration from a dataset's
public file or archive, converted by the dataset library's importer. Multipart form:
``format`` (an importer format, e.g. ``mmlu``), ``dataset`` (the catalog id, e.g. ``mmlu``),
``language``, optional ``version`` (default: one more than the versions so far), ``few_shot``,
``split`` (formats with several) and ``catalog_task`` (defaulted for built-in datasets), and the
file part ``data``. 413 over
200 MiB; 422 listing every problem with its file and line; the rest as above.

``GET /api/admin/datasets`` (administrators): every catalog dataset with its data state and
every registered version, for the console's datasets page.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile

from flageval_eval_api.catalog import service as catalog_service
from flageval_eval_api.datasets import service
from flageval_eval_api.datasets.service import DatasetRejected, Problem
from flageval_platform.identity import Identity, require_admin
from flageval_platform.service import ServiceContext


async def _part(value: UploadFile | str | None, limit: int) -> bytes | None:
    """A form part's bytes, read up to ``limit + 1`` (enough to tell it is too large)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    return await value.read(limit + 1)


# The form is read by hand (parts are size-checked as they are read); this describes it in
# the OpenAPI document, with the errors besides the platform's 401/403.
_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["card", "data"],
                    "properties": {
                        "card": {"type": "string", "format": "binary"},
                        "data": {"type": "string", "format": "binary"},
                        "catalog_task": {"type": "string"},
                    },
                }
            }
        },
    }
}
_IMPORT_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["format", "dataset", "language", "data"],
                    "properties": {
                        "format": {"type": "string", "enum": list(service.importers.FORMATS)},
                        "dataset": {"type": "string"},
                        "language": {"type": "string", "enum": ["en", "zh"]},
                        "version": {"type": "string"},
                        "few_shot": {"type": "integer", "minimum": 0, "maximum": 25},
                        "catalog_task": {"type": "string"},
                        "split": {"type": "string"},
                        "data": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The multipart body is malformed"},
    409: {"description": "This version of the dataset is already registered"},
    413: {"description": "The card is over 64 KiB or the data over 200 MiB"},
    422: {"description": "Every problem of the card, the data and the form"},
}


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(tags=["datasets"])

    def admin(request: Request) -> Identity:
        # A dependency, so 401/403 come before any complaint about the body.
        return require_admin(ctx.current_identity(request))

    @api.get("/api/admin/datasets")
    async def list_datasets(_identity: Identity = Depends(admin)) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            datasets = await catalog_service.dataset_states(session=session)
        return {"datasets": datasets}

    @api.post("/api/admin/datasets", status_code=201, responses=_ERRORS, openapi_extra=_FORM)
    async def register_dataset(
        request: Request, identity: Identity = Depends(admin)
    ) -> dict[str, Any]:
        async with request.form(max_files=4, max_fields=16) as form:
            card = await _part(form.get("card"), service.MAX_CARD_BYTES)
            data = await _part(form.get("data"), service.MAX_DATA_BYTES)
            task = form.get("catalog_task")
        missing = [
            Problem("form", "required (the card JSON)", field="card") if card is None else None,
            Problem("form", "required (the JSONL file)", field="data") if data is None else None,
        ]
        problems = [p for p in missing if p is not None]
        if problems:
            raise DatasetRejected(problems)
        assert card is not None and data is not None
        catalog_task = task.strip() if isinstance(task, str) else None
        upload = await asyncio.to_thread(service.validate_upload, card, data, catalog_task)
        row = await service.register(
            db=ctx.db, store=ctx.store, upload=upload, registered_by=identity.user_id
        )
        return service.document(row)

    @api.post(
        "/api/admin/datasets/import", status_code=201, responses=_ERRORS, openapi_extra=_IMPORT_FORM
    )
    async def import_dataset(
        request: Request, identity: Identity = Depends(admin)
    ) -> dict[str, Any]:
        async with request.form(max_files=2, max_fields=16) as form:
            payload = await _part(form.get("data"), service.MAX_IMPORT_BYTES)
            fields = {
                key: value.strip() if isinstance(value := form.get(key), str) else None
                for key in (
                    "format",
                    "dataset",
                    "language",
                    "version",
                    "few_shot",
                    "catalog_task",
                    "split",
                )
            }
        fields = {k: v or None for k, v in fields.items()}
        entered = service.ImportForm(**fields)
        problems = service.check_import(entered)
        if payload is None:
            problems.append(Problem("form", "required (the public file or archive)", field="data"))
        if problems:
            raise DatasetRejected(problems)
        assert payload is not None and entered.dataset is not None
        version = entered.version or await service.next_version(db=ctx.db, name=entered.dataset)
        upload = await asyncio.to_thread(service.import_upload, entered, payload, version)
        row = await service.register(
            db=ctx.db, store=ctx.store, upload=upload, registered_by=identity.user_id
        )
        return {**service.document(row), "format": entered.format}

    return api
