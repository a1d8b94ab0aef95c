"""Request helpers shared by every route module: the emulator handle, caller, JSON in/out, typed body
fields, item references and permission-checked loads, offset and marker paging, etags."""

from __future__ import annotations

import base64
import json
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from . import items, permissions
from .auth import Caller, authenticate
from .errors import BoxError, not_found
from .serialize import View
from .store import Store

if TYPE_CHECKING:
    from .faults import FaultRule, RateLimiter

# A Host header fit to put in a URL: a name, IPv4 or [IPv6] and an optional port. Anything else (no Host,
# spaces, userinfo, a path) falls back to the listen URL instead of being echoed into Locations.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)


class BoxIdConvertor(Convertor[str]):
    """`{file_id:boxid}`: Box ids are digits; anything else falls through to a 404."""

    regex = "[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# Registered here because every route module imports common before it builds a `{...:boxid}` Route.
register_url_convertor("boxid", BoxIdConvertor())


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


def marker(position: int) -> str:
    """An opaque next_marker for a position in an ordered list."""
    return base64.urlsafe_b64encode(json.dumps({"p": position}).encode()).decode().rstrip("=")


def marker_position(given: str) -> int:
    """The position a next_marker stands for, or Box's 400 invalid_marker."""
    try:
        padded = given + "=" * (-len(given) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))["p"]
        if not isinstance(value, int) or value < 0:
            raise ValueError(value)
        return value
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise BoxError(
            400, "invalid_marker", "Invalid marker; use the next_marker of a previous page"
        ) from None


ITEM_TYPES = ("file", "folder", "web_link")


def load_item(
    request: Request, item_type: str, item_id: str, action: str, *, allow_trashed: bool = False
) -> sqlite3.Row:
    """An item row after `permissions.check`; trashed items answer 404 `trashed` unless allowed."""
    st = store(request)
    row = items.get(st, item_id, item_type)
    if row is None:
        raise not_found()
    permissions.check(st, caller(request), row, action)
    if row["status"] == "trashed" and not allow_trashed:
        raise BoxError(404, "trashed", "Item is trashed")
    return row


def item_ref(body: dict[str, Any], key: str, types: tuple[str, ...] = ITEM_TYPES) -> tuple[str, str]:
    """`{"item": {"type": "file", "id": "123"}}` -> ("file", "123"), or a 400 naming what is wrong."""
    ref = body.get(key)
    if not isinstance(ref, dict):
        raise BoxError(400, "bad_request", f"'{key}' is required: an object with 'type' and 'id'")
    kind, ident = ref.get("type"), ref.get("id")
    if kind is None and len(types) == 1:  # the SDK leaves out a type the endpoint implies (tasks)
        kind = types[0]
    if kind not in types:
        raise BoxError(400, "bad_request", f"'{key}.type' must be one of {', '.join(types)}")
    if not isinstance(ident, str | int) or not str(ident).isdigit():
        raise BoxError(400, "bad_request", f"'{key}.id' must be a Box id (digits, as a string)")
    return str(kind), str(ident)


def text(body: dict[str, Any], key: str, *, required: bool = False, max_len: int = 10000) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BoxError(400, "bad_request", f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise BoxError(400, "bad_request", f"'{key}' must be a string")
    if len(value) > max_len:
        raise BoxError(400, "bad_request", f"'{key}' must be at most {max_len} characters")
    return value


def choice(
    body: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None = None
) -> str | None:
    value = body.get(key, default)
    if value is None:
        return None
    if value not in allowed:
        raise BoxError(400, "bad_request", f"'{key}' must be one of: {', '.join(allowed)}")
    return str(value)


def user_row(st: Store, user_id: str) -> sqlite3.Row | None:
    return st.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))


def group_mini(st: Store, group_id: str) -> dict[str, Any]:
    row = st.fetch_one("SELECT id, name FROM groups WHERE id = ?", (group_id,))
    return {
        "type": "group",
        "id": group_id,
        "name": row["name"] if row else "",
        "group_type": "managed_group",
    }


def marker_page(
    request: Request, rows: list[Any], default_limit: int, max_limit: int
) -> tuple[list[Any], int, str | None]:
    """Marker paging over an already ordered list: (page, limit used, next_marker or None)."""
    limit, _ = paging(request, default_limit, max_limit)
    given = request.query_params.get("marker")
    start = marker_position(given) if given else 0
    page = rows[start : start + limit]
    return page, limit, marker(start + limit) if start + limit < len(rows) else None


def offset_page(
    request: Request, rows: list[Any], default_limit: int, max_limit: int, max_offset: int = 9999
) -> tuple[list[Any], int, int]:
    """Offset paging over an already ordered list: (page, limit used, offset)."""
    limit, offset = paging(request, default_limit, max_limit, max_offset)
    return rows[offset : offset + limit], limit, offset
