"""The FastAPI app of `dslforge serve`: native routes, probes, metrics, error rendering, and the
guard middleware around it all. Build it with :func:`create_app`.

No ``from __future__ import annotations`` here: FastAPI reads the request models from the
handlers' annotations at definition time, and they are built per config in a closure.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dsl import DSLError, DSLSyntaxError
from engine.serving.backend import diagnostic_json
from engine.serving.http_errors import HTTPError, error_payload
from engine.serving.limits import ApiKeyGuard, ASGIApp, BodyGuard, RequestMetrics
from engine.serving.openai_api import add_openai_routes
from engine.serving.schemas import ErrorResponse, GenerateResponse, ValidateResponse, build_schemas
from engine.serving.service import ClientGone, GenerationService

log = logging.getLogger("dslforge.serve")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": what} for code, what in [
        (401, "missing or wrong API key"), (408, "the body arrived too slowly"),
        (413, "the body is over the size limit"), (422, "a field is invalid or names nothing served"),
        (503, "queue full or shutting down; see Retry-After"), (504, "no answer within the request timeout"),
    ]
}


def create_app(service: GenerationService) -> ASGIApp:
    """The ASGI app: FastAPI routes inside the metrics, API-key and body guards.

    The batcher starts and stops with the app's lifespan.
    """
    config = service.config
    schemas = build_schemas(config)
    GenerateRequest = schemas.generate
    ValidateRequest = schemas.validate

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.batcher.start()
        try:
            yield
        finally:
            await service.batcher.stop()

    app = FastAPI(
        title="dslforge serve",
        summary="Natural language to programs that always parse, with dynamic batching.",
        version="1",
        lifespan=lifespan,
    )

    @app.post("/v1/generate", response_model=GenerateResponse, responses=_ERRORS, tags=["generate"])
    async def generate(body: GenerateRequest, request: Request) -> Any:  # type: ignore[valid-type]
        """A program for a natural-language request, decoded under the DSL's grammar."""
        params = service.params(text=body.text, dsl=body.dsl, adapter=body.adapter, tenant=body.tenant,
                                max_new_tokens=body.max_new_tokens, temperature=body.temperature, seed=body.seed)
        outcome, job = await service.generate(params, request.receive)
        return {
            "code": outcome.code, "finish_reason": outcome.finish_reason,
            "diagnostics": [diagnostic_json(d) for d in outcome.diagnostics],
            "n_tokens": outcome.n_tokens, "prompt_tokens": outcome.prompt_tokens,
            "dsl": params.dsl, "adapter": params.adapter, "tenant": params.tenant,
            "timings": service.timings(outcome, job),
        }

    @app.post("/v1/validate", response_model=ValidateResponse, responses=_ERRORS, tags=["generate"])
    async def validate(body: ValidateRequest) -> Any:  # type: ignore[valid-type]
        """Check a program with the DSL's parser and catalog; no model involved."""
        served = service.backend.dsls
        name = body.dsl if body.dsl is not None else next(iter(served))
        if name not in served:
            raise HTTPError(422, "unknown_dsl", f"dsl {name!r} is not served here; served: {sorted(served)}",
                            param="dsl")
        language = served[name]

        def check() -> dict[str, Any]:
            diagnostics = language.validate(body.code)
            try:
                canonical: str | None = language.format(body.code)
            except DSLSyntaxError:
                canonical = None
            return {"valid": not diagnostics, "canonical": canonical,
                    "diagnostics": [diagnostic_json(d) for d in diagnostics]}

        try:
            return await asyncio.to_thread(check)  # a 100k-character program parses for a while
        except DSLError as e:
            raise HTTPError(422, "invalid_program", str(e), param="code") from None

    @app.get("/healthz", tags=["probes"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (also while draining)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"], responses={503: {"model": ErrorResponse}})
    async def readyz() -> Any:
        """Readiness: 200 while the server admits requests; 503 after SIGTERM."""
        if service.draining:
            return JSONResponse(error_payload(503, "draining", "the server is shutting down"), status_code=503)
        return {"status": "ready", "dsls": list(service.backend.dsls), "model": service.backend.model_name,
                "adapters": service.backend.adapters}

    @app.get("/metrics", tags=["probes"], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text format."""
        return PlainTextResponse(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    add_openai_routes(app, service, schemas)
    _add_error_handlers(app)
    routes = frozenset(r.path for r in app.routes if hasattr(r, "path"))
    guarded = BodyGuard(app, max_bytes=config.max_body_bytes, timeout_s=config.body_timeout_s)
    return RequestMetrics(ApiKeyGuard(guarded, keys=config.api_keys), metrics=service.metrics, routes=routes)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPError)
    async def http_error(_: Request, e: HTTPError) -> JSONResponse:
        return JSONResponse(error_payload(e.status, e.kind, e.message, param=e.param, details=e.details),
                            status_code=e.status, headers=e.headers)

    @app.exception_handler(ClientGone)
    async def client_gone(_: Request, __: ClientGone) -> Response:
        return Response(status_code=499)  # never delivered: the client is gone

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        errors = list(e.errors())
        for err in errors:
            if err.get("type") == "json_invalid":
                ctx = err.get("ctx") or {}
                where = err.get("loc", ())[-1] if err.get("loc") else "?"
                message = f"the body is not valid JSON: {ctx.get('error', 'parse error')} (at character {where})"
                return JSONResponse(error_payload(400, "invalid_json", message), status_code=400)
            if not [p for p in err.get("loc", ()) if p != "body"] and isinstance(err.get("input"), bytes):
                kind = request.headers.get("content-type", "none")
                message = f"the body must be a JSON object sent as Content-Type: application/json (got {kind})"
                return JSONResponse(error_payload(400, "invalid_json", message), status_code=400)
        details = [_field_error(err) for err in errors]
        message = "; ".join(f"{d['param'] or 'body'}: {d['message']}" for d in details)
        first = details[0]["param"] if details else None
        return JSONResponse(error_payload(422, "invalid_request", message, param=first, details=details),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        message = str(e.detail)
        if e.status_code == 404:
            message = f"no route {request.url.path}; see /docs for the API"
        elif e.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs"
        return JSONResponse(error_payload(e.status_code, "http_error", message), status_code=e.status_code,
                            headers=getattr(e, "headers", None))


def _field_error(err: dict[str, Any]) -> dict[str, Any]:
    """A pydantic error without the offending input (it may be megabytes) and with a dotted path."""
    loc = [str(p) for p in err.get("loc", ()) if p != "body"]
    param = ".".join(loc) if loc else None
    message = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        message = "unknown field; see /docs for the accepted fields"
    elif err.get("type") == "missing":
        message = "required field is missing"
    got = err.get("input")
    if err.get("type", "").endswith("_type") and got is not None:
        message += f" (got {type(got).__name__} {json.dumps(got)[:40] if _jsonable(got) else ''})".replace(" )", ")")
    return {"param": param, "message": message, "type": err.get("type")}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
