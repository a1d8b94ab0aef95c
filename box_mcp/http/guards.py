"""ASGI guards in front of /mcp: exact Host/Origin allow-lists, one in-flight use of a request id, and
a 406 that says which Accept the endpoint needs.

The SDK's own Host/Origin check matches `name:*` by prefix, so `Host: 127.0.0.1:8000.evil.example`
passed it. Here a header is parsed into scheme, host and port and compared exactly: a pattern's `:*`
means any valid port (1-65535), nothing else.

On a session (Mcp-Session-Id) the SDK routes each answer by request id: a second request reusing the id
of one still in flight took over its route, and the first never got an answer. The second is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import anyio
import pydantic_core
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from box_mcp.stdio_guard import shown_id

ANY_PORT = -1


def parse_authority(text: str) -> tuple[str, int | None] | None:
    """(host lowercased, port or None) of `host[:port]` or `[ipv6][:port]`; None if malformed."""
    if text.startswith("["):
        end = text.find("]")
        if end < 2:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if not all(c in "0123456789abcdefABCDEF:." for c in host):
            return None
        host = f"[{host}]"
    else:
        host, sep, port_text = text.partition(":")
        rest = sep + port_text
        if not host or any(c in host for c in "/?#@[]\\ \t") or not host.isascii():
            return None
    if not rest:
        return host.lower(), None
    if not rest.startswith(":"):
        return None
    digits = rest[1:]
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 5 and 0 < int(digits) <= 65535):
        return None
    return host.lower(), int(digits)


@dataclass(frozen=True, slots=True)
class Allowed:
    """One allowed authority: a host and a port (None: no port given; ANY_PORT: any valid port)."""

    scheme: str | None  # None for Host patterns
    host: str
    port: int | None


def compile_patterns(patterns: Iterable[str], *, origins: bool) -> frozenset[Allowed]:
    """`host`, `host:port`, `host:*` (and `scheme://` before each for origins) into exact entries."""
    out = set()
    for pattern in patterns:
        scheme: str | None = None
        if origins:
            scheme, sep, pattern = pattern.partition("://")
            if not sep:
                continue
        wildcard = pattern.endswith(":*")
        parsed = parse_authority(pattern[:-2] if wildcard else pattern)
        if parsed is None or (wildcard and parsed[1] is not None):
            continue
        out.add(Allowed(scheme, parsed[0], ANY_PORT if wildcard else parsed[1]))
    return frozenset(out)


def _allowed(entries: frozenset[Allowed], scheme: str | None, host: str, port: int | None) -> bool:
    if Allowed(scheme, host, port) in entries:
        return True
    return port is not None and Allowed(scheme, host, ANY_PORT) in entries


def host_allowed(entries: frozenset[Allowed], value: str | None) -> bool:
    parsed = parse_authority(value) if value else None
    return parsed is not None and _allowed(entries, None, *parsed)


def origin_allowed(entries: frozenset[Allowed], value: str | None) -> bool:
    """An absent Origin is a same-origin or non-browser request: allowed, as the MCP spec says."""
    if not value:
        return True
    scheme, sep, authority = value.partition("://")
    parsed = parse_authority(authority) if sep and scheme in ("http", "https") else None
    return parsed is not None and _allowed(entries, scheme, *parsed)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class HostOriginGuard:
    """Answers 421 to a Host and 403 to an Origin the allow-lists do not name exactly (DNS-rebinding
    defence), on the paths starting with `path` (or any of `path` when it is a tuple)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: Sequence[str],
        origins: Sequence[str],
        path: str | tuple[str, ...],
        null_origin: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.path = path
        # Pages served with `Referrer-Policy: no-referrer` make the browser send `Origin: null` on their
        # own form POSTs; on these paths such a request passes when the browser also says it comes from
        # this very origin (Sec-Fetch-Site: same-origin, which no page can forge) or says nothing.
        self.null_origin = null_origin
        self.hosts = compile_patterns(hosts, origins=False)
        self.origins = compile_patterns(origins, origins=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.path):
            if not host_allowed(self.hosts, _header(scope, b"host")):
                await PlainTextResponse(
                    "Invalid Host header: this server answers only to the names it serves (loopback, its "
                    "bind address, and each --allowed-host NAME:PORT), compared exactly.",
                    status_code=421,
                )(scope, receive, send)
                return
            origin = _header(scope, b"origin")
            if origin == "null" and str(scope.get("path", "")).startswith(self.null_origin):
                site = _header(scope, b"sec-fetch-site")
                if site in (None, "same-origin"):
                    origin = None
            if not origin_allowed(self.origins, origin):
                await PlainTextResponse(
                    "Invalid Origin header: requests from web pages are accepted only from this server's "
                    "own origins.",
                    status_code=403,
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)


SESSION_HEADER = b"mcp-session-id"
MAX_TRACKED = 10_000  # request ids in flight per process; beyond it, ids go unchecked (never refused)
DRAIN_S = 5.0  # at most this long a reused id waits for the SDK to let go of the answered request


@dataclass
class _InFlight:
    answered: bool = False  # the response's last byte went out; the SDK may still be cleaning up
    done: anyio.Event = field(default_factory=anyio.Event)  # the app call returned


class OneRequestPerId:
    """Reads each POST body first: a client that leaves mid-body reaches nothing (the SDK would log a
    traceback for it). Refuses a JSON-RPC request whose id is already in flight on the same MCP
    session: JSON-RPC error -32600 naming the id, answered at once. Ids compare as the SDK routes them
    (1 and "1" are one id). An id whose answer has gone out is free again: a request reusing it waits
    for the SDK to finish with the earlier one (a moment), since the SDK would otherwise close the new
    request's route."""

    def __init__(self, app: ASGIApp, *, path: str, max_body: int) -> None:
        self.app = app
        self.path = path
        self.max_body = max_body
        self._in_flight: dict[tuple[str, str], _InFlight] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or not str(scope.get("path", "")).startswith(self.path)
        ):
            await self.app(scope, receive, send)
            return
        body, replay, gone = await _buffer(receive, self.max_body)
        if gone:  # the client left (or was cut off) mid-body: nobody to answer, nothing to run
            return
        session = _header(scope, SESSION_HEADER)
        if session is None:
            await self.app(scope, replay, send)
            return
        request_id = _request_id(body)
        if request_id is None:  # a notification, a response, or what the SDK will refuse
            await self.app(scope, replay, send)
            return
        key = (session, str(request_id))
        while (earlier := self._in_flight.get(key)) is not None:
            if not earlier.answered:
                await JSONResponse(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "error": {
                            "code": -32600,
                            "message": f"Invalid request: id {shown_id(request_id)} is already in use by a "
                            "request still in progress on this session; give each request its own id",
                        },
                    },
                    status_code=409,
                )(scope, receive, send)
                return
            with anyio.move_on_after(DRAIN_S):
                await earlier.done.wait()
            if self._in_flight.get(key) is earlier:  # its app call is stuck after answering: let go
                del self._in_flight[key]
        if len(self._in_flight) >= MAX_TRACKED:
            await self.app(scope, replay, send)
            return
        entry = self._in_flight[key] = _InFlight()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                entry.answered = True
            await send(message)

        try:
            await self.app(scope, replay, sending)
        finally:
            if self._in_flight.get(key) is entry:
                del self._in_flight[key]
            entry.done.set()


async def _buffer(receive: Receive, limit: int) -> tuple[bytes, Receive, bool]:
    """Read the request body (up to `limit` + 1 bytes: a bigger one is the size limit's to refuse);
    return it, a `receive` that replays it to the app, and whether the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False) or size > limit:
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    gone = messages[-1]["type"] == "http.disconnect"
    return b"".join(chunks), replay, gone


def _request_id(body: bytes) -> str | int | None:
    """The id of a single JSON-RPC request in `body`, else None (notifications, responses, garbage)."""
    try:
        message = pydantic_core.from_json(body)  # what the SDK parses with; fast on a big upload body
    except ValueError:
        return None
    if not isinstance(message, dict) or "method" not in message:
        return None
    request_id = message.get("id")
    return request_id if isinstance(request_id, str | int) and not isinstance(request_id, bool) else None


NOT_ACCEPTABLE = (
    b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Not Acceptable: send '
    b"the header Accept: application/json, text/event-stream "
    b'(this endpoint answers in either)"}}'
)


class ExplainNotAcceptable:
    """The SDK answers some 406s (the 2026 per-request protocol's) with an empty body: give them one
    saying which Accept header to send. A 406 that already has a body passes unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 406:
                held.append(message)  # wait for the body to know whether it is empty
                return
            if held and message["type"] == "http.response.body":
                start = held.pop()
                if not message.get("body") and not message.get("more_body", False):
                    headers = [
                        (k, v)
                        for k, v in start.get("headers", ())
                        if k.lower() not in (b"content-length", b"content-type")
                    ]
                    headers += [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(NOT_ACCEPTABLE)).encode()),
                    ]
                    await send({**start, "headers": headers})
                    await send({"type": "http.response.body", "body": NOT_ACCEPTABLE})
                    return
                await send(start)
            await send(message)

        await self.app(scope, receive, sending)
