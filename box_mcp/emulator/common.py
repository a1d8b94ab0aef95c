"""Request helpers shared by every route module: the emulator handle, caller, JSON in/out, paging, etags."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .auth import Caller, authenticate
from .errors import BoxError
from .serialize import View
from .store import Store

if TYPE_CHECKING:
    from .faults import FaultRule, RateLimiter

# A Host header fit to put in a URL: a name, IPv4 or [IPv6] and an optional port. Anything else (no Host,
# spaces, userinfo, a path) falls back to the listen URL instead of being echoed into Locations.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)

@dataclass
class Emulator:
    """Everything one running emulator holds; reachable as `app.state.emulator`."""

    store: Store
    base_url: str | None
    token_ttl: int
    credentials: dict[str, Any] = field(default_factory=dict)
    rate_limiter: RateLimiter | None = None
    faults: list[FaultRule] = field(default_factory=list)
    # Called as observer(method, path, status, body) for each JSON response (tests validate them).
    observers: list[Callable[[str, str, int, bytes], None]] = field(default_factory=list)
    # Signs the consent form so that only a page this emulator rendered can approve a grant.
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    # Where it listens (credentials.json names it): the origin when a request's own cannot be used.
    listen_url: str = "http://127.0.0.1:8088"

    def origin(self, request: Request | None = None) -> str:
        """The origin of the absolute URLs handed out (download, upload, ...): the fixed public URL when
        one is set, else the request's own (Host header and scheme, as the client reached us), so the
        URLs work behind a container network or a proxy, not only at the bind address."""
        if self.base_url:
            return self.base_url.rstrip("/")
        if request is not None:
            scheme = request.url.scheme
            host = request.headers.get("host", "")
            if scheme in ("http", "https") and _HOST.fullmatch(host):
                return f"{scheme}://{host}"
        return self.listen_url.rstrip("/")


def emulator(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emulator
    return emu


def store(request: Request) -> Store:
    return emulator(request).store


def caller(request: Request) -> Caller:
    """Authenticate once per request (cached on request.state)."""
    cached = getattr(request.state, "caller", None)
    if cached is None:
        cached = authenticate(store(request), request)
        request.state.caller = cached
    return cached


def view(request: Request) -> View:
    return View(store(request), caller(request), emulator(request).origin(request))


def box_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def json_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise BoxError(400, "bad_request", "A JSON request body is required")
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoxError(400, "bad_request", f"Could not parse JSON body: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise BoxError(400, "bad_request", "The JSON request body must be an object")
    return data


def int_param(request: Request, name: str, default: int, maximum: int | None, code: str) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BoxError(400, code, f"{name.capitalize()} is not a valid number") from None
    if value < 0:
        raise BoxError(400, code, f"{name.capitalize()} must not be negative")
    if maximum is not None and value > maximum:
        if name == "limit":
            return maximum  # Box clamps an over-large limit and reports the limit it used
        raise BoxError(400, code, f"{name.capitalize()} must not exceed {maximum}")
    return value


def paging(request: Request, default_limit: int, max_limit: int, max_offset: int = 9999) -> tuple[int, int]:
    limit = int_param(request, "limit", default_limit, max_limit, "invalid_limit")
    if limit == 0 and request.query_params.get("limit") is not None:
        raise BoxError(400, "invalid_limit", "Limit must be at least 1")
    offset = int_param(request, "offset", 0, max_offset, "invalid_offset")
    return limit, offset


def check_if_match(request: Request, row: sqlite3.Row) -> None:
    """`If-Match` on a write: a different etag means someone changed the item since it was read."""
    wanted = request.headers.get("if-match")
    if wanted is not None and wanted.strip().strip('"') not in (str(row["etag"]), "*"):
        raise BoxError(
            412,
            "precondition_failed",
            "The resource has been modified. Please retrieve the resource again and retry",
        )


def not_modified(request: Request, row: sqlite3.Row) -> bool:
    wanted = request.headers.get("if-none-match")
    return wanted is not None and wanted.strip().strip('"') == str(row["etag"])
