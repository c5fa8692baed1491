"""The gateway's HTTP API (FastAPI; its OpenAPI description is served at /docs):

    GET  /v1/info                          who this gateway is and what it serves
    GET  /v1/datasets/{datasetId}/schema   a served dataset's schema (hashes to its schemaHash)
    POST /v1/grants/{grantId}/deliveries   a signed request -> a marked copy + a signed receipt
    GET  /v1/log                           the attempt log, one JSON entry a line

Every refusal is a JSON document {"error": {"grantId", "rule", "message", "field", "args"}} with
a 4xx status (503 when the chain could not be read or written: nothing was delivered); no
response carries a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from cityledger.gateway.deliveries import Deliverer
from cityledger.gateway.refusals import Refusal, RefusalDocument
from cityledger.sdk.delivery import RECEIPT_HEADER, SignedRequest
from cityledger.sdk.models import DatasetId, hex32

log = logging.getLogger("cityledger.gateway")

HEX32 = r"^0x[0-9a-fA-F]{64}$"
_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": RefusalDocument} for status in (400, 401, 403, 404, 409, 413, 421, 422, 503)
}


class DatasetInfo(BaseModel):
    name: str
    datasetId: str
    schemaHash: str
    columns: list[str]


class GatewayInfo(BaseModel):
    gateway: str
    url: str
    chainId: int
    dataGrants: str
    datasets: list[DatasetInfo]


def _field(error: Any) -> str:
    """Where a validation error is, as the request names it: request.fields[1], signature."""
    if error.get("type") == "json_invalid":
        return "body"
    field = ""
    for part in error["loc"]:
        if part == "body":
            continue
        field += f"[{part}]" if isinstance(part, int) else f".{part}"
    return field.lstrip(".") or "body"


def _refusal_response(refusal: Refusal) -> JSONResponse:
    return JSONResponse(refusal.document().model_dump(), status_code=refusal.status)


def create_app(deliverer: Deliverer, info: GatewayInfo, attempt_log: FilePath) -> FastAPI:
    app = FastAPI(
        title="cityledger data gateway",
        summary="Marked copies of a city's datasets, under grants checked and recorded on chain.",
        version="1",
        redoc_url=None,
    )
    sources = deliverer.sources

    @app.exception_handler(Refusal)
    async def refused(request: Request, refusal: Refusal) -> JSONResponse:
        return _refusal_response(refusal)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid"}
        field = _field(first)
        grant = request.path_params.get("grant_id")
        return _refusal_response(
            Refusal(
                "MalformedRequest",
                grant if isinstance(grant, str) else None,
                {"field": field, "reason": str(first["msg"])},
                field=field,
            )
        )

    @app.exception_handler(HTTPException)
    async def not_here(request: Request, exc: HTTPException) -> JSONResponse:
        refusal = Refusal("NotFound", None, {"detail": str(exc.detail)})
        return JSONResponse(refusal.document().model_dump(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s %s failed", request.method, request.url.path)
        grant = request.path_params.get("grant_id")
        refusal = Refusal("InternalError", grant if isinstance(grant, str) else None, {})
        return JSONResponse(refusal.document().model_dump(), status_code=500)

    @app.get("/v1/info")
    def gateway_info() -> GatewayInfo:
        """This gateway's agency address, its URL, the chain, and the datasets it serves."""
        return info

    @app.get("/v1/datasets/{dataset_id}/schema", responses={404: {"model": RefusalDocument}})
    def dataset_schema(dataset_id: Annotated[str, Path(pattern=HEX32)]) -> dict[str, Any]:
        """The dataset's schema: its keccak256 canonical JSON is the schemaHash on chain."""
        dataset = sources.datasets.get(DatasetId(hex32(dataset_id)))
        if dataset is None:
            raise HTTPException(404, f"this gateway serves no dataset {dataset_id}")
        return dataset.schema.to_json_object()

    @app.post(
        "/v1/grants/{grant_id}/deliveries",
        response_class=FileResponse,
        responses={
            200: {
                "description": "The marked copy; the signed receipt is in the "
                f"{RECEIPT_HEADER} header (base64url JSON).",
                "content": {
                    "text/csv": {},
                    "application/vnd.apache.parquet": {},
                    "application/jsonl": {},
                    "application/octet-stream": {},
                },
            },
            **_REFUSALS,
        },
    )
    def deliver(grant_id: Annotated[str, Path(pattern=HEX32)], body: SignedRequest) -> FileResponse:
        """A copy of the granted columns of the matching rows, marked for the grant, recorded on
        chain (with its fingerprint commitment) before it is sent."""
        prepared = deliverer.deliver(grant_id, body)
        return FileResponse(
            prepared.path,
            media_type=prepared.media_type,
            filename=prepared.filename,
            headers={RECEIPT_HEADER: prepared.receipt.header()},
            background=BackgroundTask(prepared.path.unlink, missing_ok=True),
        )

    @app.get("/v1/log", response_class=StreamingResponse)
    def attempts() -> StreamingResponse:
        """Every request this gateway answered, one JSON entry a line: the leaves of the RFC 9162
        tree it anchors on chain (check a copy with `cityledger audit verify-log`)."""
        size = attempt_log.stat().st_size if attempt_log.exists() else 0

        def read() -> Iterator[bytes]:
            left = size
            with attempt_log.open("rb") as file:
                while left > 0:
                    chunk = file.read(min(left, 1 << 16))
                    if not chunk:
                        return
                    left -= len(chunk)
                    yield chunk

        return StreamingResponse(read(), media_type="application/jsonl")

    return app
