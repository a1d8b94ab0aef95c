"""The Box emulator as a Starlette app: `create_app(...)`.

How it is built: `store.Store` holds all state (SQLite + content-addressed blobs) behind one lock;
`routes/` holds one module per Box area, each exposing `routes` (imported and joined in `routes.ROUTES`);
every route authenticates through `common.caller` (auth.py) and asks `permissions.check` before it
touches an item; `serialize.View` renders Box's JSON. `BoxMiddleware` wraps everything: request ids,
`box-version` and header-size rules, rate limits and fault injection, and it turns every failure into
Box's error body (a BoxError as is, anything unexpected as a plain 500 with no traceback).
`seed.py` fills a fresh store and writes credentials.json; `testing.running_emulator` serves it on
loopback for the official SDK.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import seed as seeding
from .common import Emulator
from .errors import BoxError, OAuthError
from .faults import FaultRule, RateLimiter
from .request_log import RequestLog
from .routes import ROUTES
from .store import Store, sha256_hex

log = logging.getLogger(__name__)

API_VERSIONS = ("2024.0", "2025.0")
MAX_HEADER_VALUE = 8 * 1024
MAX_HEADERS_TOTAL = 32 * 1024
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "request_entity_too_large",
    415: "unsupported_media_type",
    416: "requested_range_not_satisfiable",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "unavailable",
}


def error_response(exc: BoxError, request_id: str) -> Response:
    body = json.dumps(exc.body(request_id)).encode()
    headers = {**exc.headers, "box-request-id": request_id}
    return Response(body, status_code=exc.status, headers=headers, media_type="application/json")


def oauth_error_response(exc: OAuthError) -> Response:
    body = json.dumps({"error": exc.error, "error_description": exc.description}).encode()
    return Response(
        body, status_code=exc.status, media_type="application/json", headers={"Cache-Control": "no-store"}
    )


def _request_id(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = secrets.token_hex(12)
    return str(state["request_id"])


def as_box_error(exc: Exception) -> BoxError:
    if isinstance(exc, BoxError):
        return exc
    if isinstance(exc, HTTPException):
        code = STATUS_CODES.get(exc.status_code, "bad_request")
        message = exc.detail if exc.status_code < 500 else None
        return BoxError(exc.status_code, code, message, headers=dict(exc.headers or {}))
    return BoxError(500, "internal_server_error", "Internal Server Error")


class BoxMiddleware:
    """Cross-cutting request rules and the last line of error handling (never a traceback out)."""

    def __init__(
        self,
        app: ASGIApp,
        emulator: Emulator,
        rng: random.Random | None = None,
        request_log: RequestLog | None = None,
    ) -> None:
        self.app = app
        self.request_log = request_log
        self.emulator = emulator
        self.rng = rng or random.Random()  # noqa: S311 - fault injection, not security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.request_log is not None:
            self.request_log.record(scope["method"], scope["path"], scope.get("headers", ()))
        request_id = _request_id(scope)
        started = False
        observed: dict[str, Any] = {}
        observers = self.emulator.observers
        method, path = scope["method"], scope["path"]
        deprecated = next(
            (r.deprecation for r in self.emulator.faults if r.deprecation and r.matches(method, path)), ""
        )

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"box-request-id" for k, _ in headers):
                    headers.append((b"box-request-id", request_id.encode()))
                if deprecated:
                    headers.append((b"deprecation", f'date="{deprecated}"'.encode("latin-1")))
                message["headers"] = headers
                ctype = dict(message["headers"]).get(b"content-type", b"")
                if observers and ctype.startswith(b"application/json"):
                    observed.update(status=message["status"], body=[])
            elif message["type"] == "http.response.body" and observed:
                observed["body"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    for observer in list(observers):
                        observer(
                            scope["method"], scope["path"], observed["status"], b"".join(observed["body"])
                        )
            await send(message)

        try:
            after = await self._pre_checks(scope)
            if after is None:
                await self.app(scope, receive, send_wrapper)
            else:
                # Box did the work (the route commits its change), then the answer was lost on the way.
                await self.app(scope, receive, _discard)
                raise after
        except Exception as exc:
            if started:  # the response is half sent: all we can do is log and stop
                log.exception("error after the response started (request %s)", request_id)
                return
            if isinstance(exc, OAuthError):
                await oauth_error_response(exc)(scope, receive, send)
                return
            if not isinstance(exc, BoxError | HTTPException):
                log.exception("unexpected error (request %s)", request_id)
            await error_response(as_box_error(exc), request_id)(scope, receive, send)

    async def _pre_checks(self, scope: Scope) -> BoxError | None:
        """Refuse the request now (raise), or return the fault to answer once the route has run."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        total = sum(len(k) + len(v) for k, v in headers)
        if total > MAX_HEADERS_TOTAL or any(len(v) > MAX_HEADER_VALUE for _, v in headers):
            raise BoxError(
                431,
                "request_header_fields_too_large",
                "Request header fields too large; keep each header under 8 KB",
            )
        path: str = scope.get("path", "")
        is_api = path.startswith(("/2.0/", "/api/2.0/"))
        if is_api:
            versions = [v.decode("latin-1") for k, v in headers if k.lower() == b"box-version"]
            if len(versions) > 1 or (versions and versions[0].strip() not in API_VERSIONS):
                raise BoxError(
                    400,
                    "invalid_api_version",
                    f"The API version is not supported; send box-version: {API_VERSIONS[0]} or omit it",
                )
        method = scope.get("method", "GET")
        after: BoxError | None = None
        for rule in self.emulator.faults:
            if rule.matches(method, path):
                if rule.latency_ms:
                    await asyncio.sleep(rule.latency_ms / 1000)
                picked = rule.pick(self.rng) if after is None else None
                if picked is None:
                    continue
                status, once_done = picked
                if status == 429:
                    raise BoxError(429, "rate_limit_exceeded", headers={"Retry-After": str(rule.retry_after)})
                fault = BoxError(
                    status,
                    STATUS_CODES[status],
                    "Injected fault after the request took effect" if once_done else "Injected fault",
                    headers={"Retry-After": str(rule.retry_after)} if status == 503 else None,
                )
                if not once_done:
                    raise fault
                after = fault
        limiter = self.emulator.rate_limiter
        if limiter is not None and is_api:
            wait = limiter.check(self._user_key(headers), path)
            if wait:
                raise BoxError(429, "rate_limit_exceeded", headers={"Retry-After": str(wait)})
        return after

    def _user_key(self, headers: list[tuple[bytes, bytes]]) -> str:
        """Box counts requests per user: the token's user (As-User cannot shift the count to a victim)."""
        auth = next((v.decode("latin-1") for k, v in headers if k.lower() == b"authorization"), "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            row = self.emulator.store.fetch_one(
                "SELECT user_id FROM tokens WHERE sha256 = ?", (sha256_hex(token.strip()),)
            )
            if row is not None:
                return "user:" + str(row["user_id"])
        return "anonymous"


async def _discard(message: Message) -> None:
    """The send of a request whose answer an `after` fault replaces: the route's answer goes nowhere."""


async def _box_error_handler(request: Request, exc: Exception) -> Response:
    if isinstance(exc, OAuthError):
        return oauth_error_response(exc)
    return error_response(as_box_error(exc), _request_id(request.scope))


def create_app(
    *,
    data_dir: Path | None = None,
    memory: bool = False,
    seed: str = "demo",
    base_url: str | None = None,
    token_ttl: int = 3600,
    rate_limits: bool = True,
    faults: list[FaultRule] | None = None,
    listen_url: str | None = None,
    fault_seed: int | None = None,
    count_requests: bool = False,
) -> Starlette:
    """Build an emulator. Persistent in `data_dir` unless `memory`; a fresh store gets `seed`.

    `base_url` fixes the origin of every absolute URL the emulator hands out (download Locations, upload
    and chunked-session URLs, ...); without it each request's own origin is used. `listen_url` is where
    it listens: what credentials.json names, and the origin when a request has no usable Host.
    `fault_seed` makes the injected faults' dice repeatable (tests under load). `count_requests` keeps a
    `RequestLog` of every request in `app.state.request_log` (benchmarks count Box requests per call)."""
    if not memory and data_dir is None:
        raise ValueError("create_app needs data_dir=Path(...) or memory=True")
    if seed not in seeding.SEEDS:
        raise ValueError(f"unknown seed {seed!r}; use one of {', '.join(seeding.SEEDS)}")
    store = Store(data_dir, memory=memory)
    try:
        listen_url = listen_url or base_url or "http://127.0.0.1:8088"
        credentials = seeding.ensure_seeded(store, seed, base_url or listen_url)
    except BaseException:
        store.close()
        raise
    emulator = Emulator(
        store=store,
        base_url=base_url,
        token_ttl=token_ttl,
        rate_limiter=RateLimiter() if rate_limits else None,
        faults=list(faults or []),
        listen_url=listen_url,
    )
    emulator.credentials = credentials
    if not memory and data_dir is not None:
        seeding.write_credentials(Path(data_dir) / "credentials.json", emulator.credentials)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if not memory:
            store.close()

    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            BoxError: _box_error_handler,
            HTTPException: _box_error_handler,
            OAuthError: _box_error_handler,
        },
        lifespan=lifespan,
    )
    rng = random.Random(fault_seed) if fault_seed is not None else None  # noqa: S311 - not security
    request_log = RequestLog() if count_requests else None
    app.add_middleware(BoxMiddleware, emulator=emulator, rng=rng, request_log=request_log)
    app.state.emulator = emulator
    app.state.request_log = request_log
    return app


def faults_from_env(environ: dict[str, str] | None = None) -> list[FaultRule]:
    """BOX_EMULATOR_FAULTS="pattern:429=0.1,latency=50;other:503=0.2" (rules separated by ';')."""
    raw = (environ if environ is not None else dict(os.environ)).get("BOX_EMULATOR_FAULTS", "")
    return [FaultRule.parse(part) for part in raw.split(";") if part.strip()]


def describe(app: Starlette) -> dict[str, Any]:
    emulator: Emulator = app.state.emulator
    return {"base_url": emulator.origin(), "users": len(emulator.credentials.get("users", []))}
