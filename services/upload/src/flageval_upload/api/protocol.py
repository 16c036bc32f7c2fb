"""The ``flageval-serving`` 0.2.5 upload protocol (SPEC §4): no login, the upload token decides.

Every reply is JSON. A user's mistake is a 4xx with a ``detail`` the CLI prints (it stops on a
4xx and retries a 5xx five times). The CLI reads ``results`` from the two listing replies
without looking at the status, so their errors carry an empty ``results`` too: the CLI then
goes on to a request whose error it does print, instead of failing on a missing key.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect

from flageval_platform.errors import BadRequest, NotFound, PlatformError, Unprocessable
from flageval_platform.request_guard import check_json_text
from flageval_platform.service import ServiceContext
from flageval_upload.config import upload_settings
from flageval_upload.uploads import service
from flageval_upload.uploads.chunkbody import RequestBody, multipart_boundary, multipart_field
from flageval_upload.uploads.schemas import (
    ChunkAccepted,
    CreateFilesIn,
    FileList,
    FileListing,
    Removed,
)

FILES_PATH = "/api/evaluations/models/files"
CHUNKS_PATH = "/api/evaluations/models/files/{file_id}/chunks"
OP_FILE_PATH = "/api/evaluations/manage/op_file"
MAX_FILE_ID = 2**63 - 1  # BIGINT
#: A file list of 10,000 long names is about 1 MiB of JSON.
MAX_PLAN_BODY = 32 * 1024 * 1024

# The bodies are read by hand (streamed, or with the CLI's own error messages); these describe
# them in the OpenAPI document.
_PLAN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["token", "files"],
                    "properties": {
                        "token": {"type": "string"},
                        "files": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["filename", "sizeKb"],
                                "properties": {
                                    "filename": {"type": "string"},
                                    "sizeKb": {"type": "integer", "minimum": 1},
                                },
                            },
                        },
                    },
                }
            }
        },
    }
}
_CHUNK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
_OP_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["command", "token"],
                    "properties": {
                        "command": {"type": "string", "enum": ["ls", "rm"]},
                        "token": {"type": "string"},
                        "src_path": {"type": "string"},
                        "opt": {"type": "integer"},
                    },
                }
            }
        },
    }
}

# What the protocol answers besides success (the platform documents their body): the token
# decides (401 none, unknown or expired; 404 its bundle is gone; 409 the version is sealed).
_TOKEN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No upload token, or one that is unknown or expired"},
    404: {"description": "The token's bundle (or the named file) does not exist"},
    409: {"description": "The bundle version is sealed: create a new upload token"},
    422: {"description": "A parameter or the request is not valid"},
}
_PLAN_ERRORS: dict[int | str, dict[str, Any]] = {
    **_TOKEN_ERRORS,
    400: {"description": "The request body is not valid JSON"},
    403: {"description": "Only an admin's token may send target files"},
    413: {"description": "The file list, or a planned file, is too large"},
}
_CHUNK_ERRORS: dict[int | str, dict[str, Any]] = {
    **_TOKEN_ERRORS,
    400: {"description": "The multipart body is malformed or was cut short"},
    413: {"description": "The chunk is too large"},
}
_OP_FILE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_TOKEN_ERRORS,
    400: {"description": "The form is malformed"},
    403: {"description": "Target files can be removed only with an admin's token"},
}


def _error_with(exc: PlatformError, **empty: Any) -> JSONResponse:
    """The usual error body (``detail``, ``code``) plus the empty listing the CLI reads."""
    return JSONResponse({**exc.body(), **empty}, status_code=exc.status_code, headers=exc.headers)


def _describe(exc: ValidationError) -> str:
    """Where and what is wrong, without echoing the submitted values."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        parts.append(f"{where}: {error.get('msg')}")
    return "The file list is not valid: " + "; ".join(parts)


async def _json_body(request: Request, limit: int) -> Any:
    received = bytearray()
    async for data in request.stream():
        received += data
        if len(received) > limit:
            raise service.PayloadTooLarge(f"The request is larger than {limit} bytes.")
    # The platform's body guard scans JSON and text bodies; one sent without a type is not.
    check_json_text(bytes(received))
    try:
        return json.loads(received)
    except (ValueError, RecursionError):
        raise BadRequest("The request body is not valid JSON.") from None


def _whole_number(value: str | None, name: str) -> int:
    if value is None:
        raise Unprocessable(f"The query parameter {name} is required.")
    try:
        return int(value)
    except ValueError:
        raise Unprocessable(f"{name} must be a whole number.") from None


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def router(ctx: ServiceContext) -> APIRouter:
    settings = upload_settings(ctx.settings)
    api = APIRouter(tags=["flageval-serving upload protocol"])

    @api.get(FILES_PATH, response_model=FileList, responses=_TOKEN_ERRORS)
    async def list_files(token: str | None = None) -> Any:
        """The token's bundle: every file with its chunk plan and what is already in."""
        try:
            files = await service.list_files(db=ctx.db, store=ctx.store, token=token)
        except PlatformError as exc:
            return _error_with(exc, results=[])
        return FileList(results=files)

    @api.post(FILES_PATH, response_model=FileList, responses=_PLAN_ERRORS, openapi_extra=_PLAN_BODY)
    async def create_files(request: Request) -> FileList:
        """Plan chunks for the files of the request (replacing files of the same name)."""
        body = await _json_body(request, MAX_PLAN_BODY)
        try:
            plan = CreateFilesIn.model_validate(body)
        except ValidationError as exc:
            raise Unprocessable(_describe(exc)) from None
        files = await service.create_files(
            db=ctx.db, store=ctx.store, settings=settings, token=plan.token, files=plan.files
        )
        return FileList(results=files)

    @api.post(
        CHUNKS_PATH,
        response_model=ChunkAccepted,
        responses=_CHUNK_ERRORS,
        openapi_extra=_CHUNK_BODY,
    )
    async def upload_chunk(
        file_id: str,
        request: Request,
        chunk_num: str | None = None,
        token: str | None = None,
        is_update: str | None = None,
    ) -> ChunkAccepted:
        """One chunk as multipart field ``file``, streamed into the object store."""
        body = RequestBody(request.receive)
        try:
            if not (file_id.isascii() and file_id.isdigit() and len(file_id) <= 19) or (
                int(file_id) > MAX_FILE_ID
            ):
                raise NotFound(f"There is no file {file_id[:40]!r}.")
            num = _whole_number(chunk_num, "chunk_num")
            if is_update not in (None, "0", "1"):
                raise Unprocessable("is_update must be 0 or 1.")
            boundary = multipart_boundary(request.headers.get("content-type"))
            await service.upload_chunk(
                db=ctx.db,
                store=ctx.store,
                token=token,
                file_id=int(file_id),
                chunk_num=num,
                data=multipart_field(body.chunks(), boundary),
            )
        except ClientDisconnect:
            raise BadRequest("The chunk upload was interrupted.") from None
        finally:
            # The CLI sends the whole body before it reads the reply: read what is left, so
            # that it gets the reply (an early one included) rather than a reset connection.
            await body.drain()
        return ChunkAccepted()

    @api.post(
        OP_FILE_PATH,
        response_model=FileListing | Removed,
        responses=_OP_FILE_ERRORS,
        openapi_extra=_OP_FILE_BODY,
    )
    async def op_file(request: Request) -> Any:
        """``ls`` (``{"results", "canSendTargets"}``) and ``rm`` (``{"ret": 0}``)."""
        form = await request.form()
        command = _text(form, "command")
        token = _text(form, "token")
        path = _text(form, "src_path") or ""
        if command == "ls":
            try:
                files, can_send_targets = await service.list_path(db=ctx.db, token=token, path=path)
            except PlatformError as exc:
                return _error_with(exc, results=[], canSendTargets=False)
            return FileListing(results=files, canSendTargets=can_send_targets)
        if command == "rm":
            await service.remove_path(db=ctx.db, store=ctx.store, token=token, path=path)
            return Removed(ret=0)
        raise Unprocessable(f"Unknown command {command!r}: use ls or rm.")

    return api
