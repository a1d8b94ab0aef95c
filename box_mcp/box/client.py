"""The one async Box client: auth headers, box-version, retries with back-off, typed errors, paging.

Content methods (download, upload) come from `content.py`; everything goes through `BoxClient.send`, so
every request shares one connection pool, one retry policy and one error mapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import logging
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import httpx2

from box_mcp.config import REAL_BOX_API, REAL_BOX_UPLOAD
from box_mcp.errors import BoxError, BoxTransportError
from box_mcp.notices import notify
from box_mcp.telemetry import NULL, Telemetry

from .content import ContentMethods
from .download import Download
from .errors import BoxAPIError, NotModified, error_from_response
from .paging import paginate
from .retry import RetryPolicy, Sleep
from .tokens import StaticToken, TokenSource
from .wire import (
    ScrubURLs,
    Verified,
    connect_reason,
    fix_for_origin,
    parse_body,
    query_params,
    read_bounded,
    route_template,
    safe_url,
    url_path_text,
)

REAL_BOX_CONTENT = "https://dl.boxcloud.com"  # where Box serves representations (previews) from

__all__ = ["BoxAPIError", "BoxClient", "Download", "NotModified", "StaticToken", "TokenSource", "Verified"]

_log = logging.getLogger("box_mcp.box")
logging.getLogger("httpx2").addFilter(ScrubURLs())  # its request lines would show download links

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Failures that prove the request never reached Box, so even a create can be sent again.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.UnsupportedProtocol)

Verify = Callable[[], Awaitable[Any | None]]
ContentFactory = Callable[[], bytes | AsyncIterable[bytes]]


def _origin(url: str) -> tuple[str, str, int | None]:
    u = httpx2.URL(url)
    return (u.scheme, u.host, u.port)


def _host(url: str) -> str:
    return httpx2.URL(url).host


class BoxClient(ContentMethods):
    """Async Box API client. One instance owns the connection pool; `bound()` views share it."""

    def __init__(
        self,
        *,
        token_source: TokenSource,
        base_url: str = REAL_BOX_API,
        upload_url: str | None = None,
        box_version: str = "2024.0",
        transport: httpx2.AsyncBaseTransport | None = None,
        max_attempts: int = 5,
        deadline: float = 60.0,
        sleep: Sleep = anyio.sleep,
        chunked_threshold: int = 50 * 1024 * 1024,
        user_agent: str = "box-mcp/0.1",
        clock: Callable[[], float] = time.monotonic,
        backoff_base: float = 0.5,
        backoff_cap: float = 16.0,
        part_concurrency: int = 4,
        rng: random.Random | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        if base.endswith("/2.0"):
            base = base[: -len("/2.0")]
        self.base_url = base
        if upload_url is None:
            upload_url = REAL_BOX_UPLOAD if base == REAL_BOX_API else f"{base}/api"
        self.upload_url = upload_url.rstrip("/").removesuffix("/2.0")
        self.box_version = box_version
        self.chunked_threshold = chunked_threshold
        self.user_agent = user_agent
        self.part_concurrency = max(1, part_concurrency)
        self.retry = RetryPolicy(
            max_attempts=max_attempts,
            deadline=deadline,
            sleep=sleep,
            clock=clock,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            rng=rng or random.SystemRandom(),
        )
        self._token = token_source
        self._as_user: str | None = None
        self._quiet = False  # send `box-notifications: off` with every write (see bound)
        self._idempotent: bool | None = None  # the calling tool's declaration (see bound)
        self._check_hint: str | None = None
        self._owner = True
        self.telemetry: Telemetry = NULL  # a span per request (the deployment sets it; views share it)
        self.deprecations = Deprecations()  # Box's Deprecation headers, once per endpoint (views share it)
        self._trusted = {_origin(self.base_url), _origin(self.upload_url)}
        # Box serves preview representations (`url_template`) from its content host, and those calls need
        # the token (Box: "make an authenticated API call"): it goes there only when a call asks for it
        # (`send(authenticated_content=True)`), never when following a download link.
        self._content_hosts = {_origin(REAL_BOX_CONTENT)} if base == REAL_BOX_API else set()
        # What url() builds starts with one of these; a URL that does is on a trusted origin without
        # parsing it (the "/" ends the origin: nothing after it can change the host).
        self._trusted_prefixes = tuple(
            f"{u.rstrip('/')}/" for u in (self.base_url, self.upload_url) if _origin(u)[1]
        )
        self._http = httpx2.AsyncClient(
            transport=transport,
            timeout=httpx2.Timeout(60.0, connect=10.0),
            limits=httpx2.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0),
            follow_redirects=False,
        )

    # --- lifecycle and views -------------------------------------------------------------------

    def bound(
        self,
        *,
        token_source: TokenSource | None = None,
        as_user: str | None = None,
        idempotent: bool | None = None,
        check_hint: str | None = None,
        notifications: bool | None = None,
    ) -> BoxClient:
        """A view on the same connection pool acting with another token and/or `As-User`.

        `notifications=False` adds Box's `box-notifications: off` header to every write the view sends
        (no emails or webhooks to collaborators; Box still records the action in its logs).

        `idempotent` is the calling tool's declaration: whether its writes may be sent again after a
        5xx (reads always may). `check_hint` tells an agent how to see whether a write that failed
        uncertainly happened ("list the file's comments to see whether it was posted").
        """
        view = copy.copy(self)
        view._owner = False
        if token_source is not None:
            view._token = token_source
        if as_user is not None:
            if not as_user.isdigit():
                raise ValueError(f"As-User must be a Box user id (digits), got {as_user!r}")
            view._as_user = as_user
        if idempotent is not None:
            view._idempotent = idempotent
        if check_hint is not None:
            view._check_hint = check_hint
        if notifications is not None:
            view._quiet = not notifications
        return view

    @property
    def as_user(self) -> str | None:
        return self._as_user

    async def aclose(self) -> None:
        if self._owner:
            await self._http.aclose()

    async def __aenter__(self) -> BoxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"BoxClient(base_url={self.base_url!r}, as_user={self._as_user!r})"

    # --- URLs ----------------------------------------------------------------------------------

    def url(self, path: str, *, upload: bool = False) -> str:
        """The absolute URL of an API path relative to `/2.0` (absolute URLs pass through)."""
        if path.startswith(("https://", "http://")):
            return path
        if not path.startswith("/"):
            raise ValueError(f"Box API paths start with '/', got {path!r}")
        return f"{self.upload_url if upload else self.base_url}/2.0{path}"

    def is_trusted(self, url: str) -> bool:
        """True for Box's API and upload hosts: the only hosts that ever see our token."""
        return url.startswith(self._trusted_prefixes) or _origin(url) in self._trusted

    # --- the retry loop ------------------------------------------------------------------------

    def _headers(
        self, url: str, token: str | None, extra: Mapping[str, str] | None, method: str = "GET"
    ) -> dict[str, str]:
        headers: dict[str, str] = {"User-Agent": self.user_agent}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
            headers["box-version"] = self.box_version
            if self._as_user:
                headers["As-User"] = self._as_user
            if self._quiet and method not in _READS:
                headers["box-notifications"] = "off"
        for key, value in (extra or {}).items():
            if key.lower() == "authorization":
                raise ValueError("pass credentials through token_source, not an Authorization header")
            headers[key] = value
        return headers

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: ContentFactory | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        verify: Verify | None = None,
        stream: bool = False,
        upload: bool = False,
        authenticated_content: bool = False,
    ) -> httpx2.Response | Verified:
        """Send with retries; return the first non-error response (2xx, 3xx, 304) or a `Verified`.

        With `stream=True` the response body is unread and the caller must `aclose()` it. `content` is
        called once per attempt so a body can be sent again. Raises BoxAPIError / BoxTransportError.
        """
        method = method.upper()
        url = self.url(url, upload=upload)
        idempotent = self._is_idempotent(method, headers, idempotent)
        trusted = self.is_trusted(url) or (authenticated_content and _origin(url) in self._content_hosts)
        with self.telemetry.box_request(method, url, trusted=trusted):
            return await self._send(
                method, url, params, json, content, headers, idempotent, verify, stream, trusted
            )

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        content: ContentFactory | None,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        verify: Verify | None,
        stream: bool,
        trusted: bool,
    ) -> httpx2.Response | Verified:
        retry = self.retry
        started_at = retry.clock()
        deadline_at = started_at + retry.deadline
        # Never the full URL: a download link's path and query are its secret.
        what = f"{method} {url_path_text(url)}"
        attempt = 0
        refreshed = False
        # Set once an attempt of a write may have taken effect (a 5xx, an answer cut off): a later
        # 404 to a DELETE or 412 to an etag-guarded change may then be that attempt's own doing.
        maybe_done: str | None = None
        while True:
            attempt += 1
            token = await self._token.access_token() if trusted else None
            request = self._http.build_request(
                method,
                url,
                params=params,
                json=json,
                content=content() if content is not None else None,
                headers=self._headers(url, token, headers, method),
            )
            try:
                if content is None:
                    # The deadline bounds the wait for an answer; an upload's body may take longer.
                    async with _fail_after(retry.remaining(deadline_at)):
                        response = await self._http.send(request, stream=True)
                else:
                    response = await self._http.send(request, stream=True)
            except TimeoutError:
                self.telemetry.box_failed("timeout")
                fix = (
                    "try again later; if it keeps happening, Box may be degraded."
                    if idempotent
                    else f"the write may or may not have happened: {self._recheck} before trying again."
                )
                raise BoxTransportError(
                    f"{what}: Box did not answer within the {retry.deadline:g} s deadline "
                    f"({self._tries(attempt, started_at)}). Fix: {fix}"
                ) from None
            except httpx2.TransportError as exc:
                self.telemetry.box_failed(type(exc).__name__)
                reached = not isinstance(exc, _NOT_SENT)
                where = _host(url) if trusted else safe_url(url)
                problem = f"{what}: {type(exc).__name__} talking to {where}"
                if reached and not idempotent:
                    unknown = BoxTransportError(
                        f"{problem}; the write may or may not have happened. Fix: {self._recheck} before "
                        "trying again."
                    )
                    if verify is None:
                        raise unknown from None
                    found = await self._verify(verify, unknown, attempt, deadline_at)
                    if found is not None:
                        return found
                    if attempt >= retry.max_attempts:
                        raise unknown from None
                    continue  # _verify already waited
                if reached and method not in _READS:
                    maybe_done = type(exc).__name__
                _log.info("%s: %s, attempt %d of %d", what, type(exc).__name__, attempt, retry.max_attempts)
                delay = retry.backoff(attempt)
                if attempt < retry.max_attempts:
                    self.telemetry.box_retry(attempt, type(exc).__name__, delay)
                    await _retrying(what, type(exc).__name__, attempt, retry.max_attempts, delay)
                if attempt >= retry.max_attempts or not await retry.wait(delay, deadline_at):
                    raise self._unreachable(exc, url, what, problem, trusted, attempt, started_at) from None
                continue

            status = response.status_code
            self.telemetry.box_status(status)
            if trusted and "deprecation" in response.headers:
                await self.deprecations.seen(method, url, response.headers["deprecation"])
            if status < 400:
                if not stream:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                return response
            body = await read_bounded(response)
            if status == 401 and token is not None and not refreshed:
                refreshed = True
                await self._token.invalidate(token)
                fresh = await self._token.access_token()
                if not hmac.compare_digest(fresh.encode(), token.encode()):
                    attempt -= 1  # a refreshed token is a new start, not a retry
                    continue
            # A storage host's error body may quote the signed link it refused: only its status is kept.
            error = error_from_response(response, body if trusted else b"")
            if maybe_done is not None:
                if status == 404 and method == "DELETE":
                    # The earlier attempt deleted it: the item is gone, which is what was asked.
                    _log.info("%s: 404 after %s earlier; the delete had happened", what, maybe_done)
                    return Verified(None)
                if status == 412:
                    raise error.retold(
                        note=f"An earlier attempt failed ({maybe_done}) but may have made this change, which "
                        "would have moved the etag on.",
                        fix=f"{self._recheck} before trying again.",
                    )
            if status not in _RETRY_STATUSES:
                raise self._after_attempts(error, attempt, started_at, gave_up=False)
            if status != 429 and not idempotent:
                # Box may have done the write despite the 5xx: look before doing it again.
                if verify is None:
                    raise self._unsure(error, checked=False)
                unsure = self._unsure(error, checked=True)
                found = await self._verify(verify, unsure, attempt, deadline_at, error.retry_after)
                if found is not None:
                    return found
                if attempt >= retry.max_attempts:
                    # Each check said "not there": Box's own advice (retry later) holds.
                    checked = error.retold(note="box-mcp checked after each failure: it was not made.")
                    raise self._after_attempts(checked, attempt, started_at)
                continue
            if status != 429 and method not in _READS:
                maybe_done = f"Box said {status}"
            if attempt >= retry.max_attempts:
                raise self._after_attempts(error, attempt, started_at)
            delay = retry.delay(attempt, error.retry_after)
            _log.info(
                "%s: Box said %d, attempt %d of %d, retrying in %.2f s",
                what,
                status,
                attempt,
                retry.max_attempts,
                delay,
            )
            self.telemetry.box_retry(attempt, str(status), delay)
            await _retrying(what, f"Box said {status}", attempt, retry.max_attempts, delay)
            if not await retry.wait(delay, deadline_at):
                raise self._after_attempts(error, attempt, started_at)

    def _is_idempotent(self, method: str, headers: Mapping[str, str] | None, given: bool | None) -> bool:
        """May this request be sent again after a 5xx? The caller's word, else the tool's declaration
        (a bound view's `idempotent`), else what the HTTP method promises."""
        if given is not None:
            return given
        if method in _READS:
            return True
        if self._idempotent is not None:
            return self._idempotent
        return method == "PUT" or (method == "DELETE" and "if-match" in {k.lower() for k in headers or {}})

    def _tries(self, attempt: int, started_at: float) -> str:
        elapsed = max(0.0, self.retry.clock() - started_at)
        return f"after {attempt} attempt{'s' if attempt != 1 else ''} over {elapsed:.1f} s"

    def _after_attempts(
        self, error: BoxAPIError, attempt: int, started_at: float, *, gave_up: bool = True
    ) -> BoxAPIError:
        """Box's last answer, saying it was retried: "Gave up after 5 attempts over 7.5 s."."""
        if attempt <= 1:
            return error
        if gave_up:
            note = f"Gave up {self._tries(attempt, started_at)}."
        else:  # a retry met a different, final answer
            elapsed = max(0.0, self.retry.clock() - started_at)
            note = f"Box gave this answer to attempt {attempt}, {elapsed:.1f} s after the first (it failed)."
        return error.retold(note=f"{error.note} {note}" if error.note else note)

    def _unsure(self, error: BoxAPIError, *, checked: bool) -> BoxAPIError:
        """A 5xx to a write that cannot be sent again blindly: Box's table says "retry", which would
        do it twice if Box had done it before failing."""
        could_not = ", and box-mcp could not check" if checked else ""
        return error.retold(
            note=f"Box may have made this change before it failed{could_not}.",
            fix=f"do not simply retry; first {self._recheck}.",
        )

    def _unreachable(
        self,
        exc: httpx2.TransportError,
        url: str,
        what: str,
        problem: str,
        trusted: bool,
        attempt: int,
        started_at: float,
    ) -> BoxTransportError:
        tries = self._tries(attempt, started_at)
        if isinstance(exc, _NOT_SENT) and trusted:
            origin = safe_url(str(httpx2.URL(url).copy_with(path="/", query=None, fragment=None)))
            return BoxTransportError(
                f"{what}: cannot reach Box at {origin} ({connect_reason(exc)}) {tries}. Fix: "
                + fix_for_origin(origin)
            )
        return BoxTransportError(
            f"{problem} {tries}. Fix: check the network or Box's status, then try again."
        )

    @property
    def _recheck(self) -> str:
        return self._check_hint or "check whether it happened (read the item again, or list its folder)"

    async def _verify(
        self,
        verify: Verify,
        failure: BoxError,
        attempt: int,
        deadline_at: float,
        retry_after: float | None = None,
    ) -> Verified | None:
        """Wait, then ask the caller whether the write happened; if that cannot be told, report `failure`."""
        await self.retry.wait(self.retry.delay(attempt, retry_after), deadline_at)
        try:
            found = await verify()
        except BoxError:
            _log.info("could not verify a write after a failure; reporting the failure")
            raise failure from None
        if found is not None:
            _log.info("a write that failed with %s had happened; not redoing it", type(failure).__name__)
            return Verified(found)
        return None

    # --- JSON requests -------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        fields: Sequence[str] | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        idempotent: bool | None = None,
        verify: Verify | None = None,
    ) -> Any:
        """Call Box; return parsed JSON, None for an empty answer, or NotModified for a 304."""
        query = query_params(params, fields)
        extra = dict(headers or {})
        if if_match is not None:
            extra["If-Match"] = if_match
        if if_none_match is not None:
            extra["If-None-Match"] = if_none_match
        result = await self.send(
            method, path, params=query, json=json, headers=extra, idempotent=idempotent, verify=verify
        )
        if isinstance(result, Verified):
            return result.value
        if result.status_code == 304:
            # A 304 means the etag we sent still holds; Box may not repeat it in an ETag header.
            return NotModified(etag=result.headers.get("etag") or if_none_match)
        return parse_body(result)

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Any:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Any:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Any:
        return await self.request("DELETE", path, **kw)

    async def options(self, path: str, **kw: Any) -> Any:
        return await self.request("OPTIONS", path, **kw)

    # --- paging --------------------------------------------------------------------------------

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int = 100,
        marker: bool = False,
        max_items: int | None = None,
        fields: Sequence[str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every entry of an offset- or marker-paged collection, fetching pages as they are consumed."""
        return paginate(
            self, path, params=params, limit=limit, marker=marker, max_items=max_items, fields=fields
        )

    # --- content (implemented in download.py / upload.py) --------------------------------------


def _fail_after(seconds: float) -> AbstractAsyncContextManager[object]:
    """`anyio.fail_after` at about half its CPU cost (~6 µs instead of ~15 µs a request): asyncio's own
    timeout when the loop is asyncio's (it raises the same TimeoutError), anyio's scope otherwise."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _anyio_fail_after(seconds)
    return asyncio.timeout(seconds)


@contextlib.asynccontextmanager
async def _anyio_fail_after(seconds: float) -> AsyncIterator[None]:
    with anyio.fail_after(seconds):
        yield


async def _retrying(what: str, reason: str, attempt: int, of: int, delay: float) -> None:
    """Tell the calling client a request is being sent again (an MCP log message; see box_mcp.notices)."""
    await notify(
        "warning",
        {
            "message": f"{what}: {reason}; retrying in {delay:.2f} s (attempt {attempt} of {of})",
            "event": "box_retry",
            "reason": reason,
            "attempt": attempt,
            "max_attempts": of,
            "delay_s": round(delay, 3),
        },
    )


class Deprecations:
    """Box's `Deprecation` answers (its versioning guide: a deprecated API answers as usual plus
    `Deprecation: date="..."`): told once per endpoint and process to the operator's log, to `report`
    (the deployment's audit: a `box` record) and to the calling client as a warning."""

    MAX = 256  # endpoints remembered; past that, every further one is still reported

    def __init__(self) -> None:
        self.report: Callable[[str, str, str], None] | None = None  # (method, route, header value)
        self._seen: set[tuple[str, str]] = set()

    async def seen(self, method: str, url: str, value: str) -> None:
        route = route_template(url)
        key = (method, route)
        if key in self._seen:
            return
        if len(self._seen) < self.MAX:
            self._seen.add(key)
        header = value[:200]
        _log.warning(
            "Box marks %s %s deprecated (Deprecation: %s): plan the move to its successor",
            method,
            route,
            header,
        )
        if self.report is not None:
            try:
                self.report(method, route, header)
            except Exception:
                _log.exception("the deprecation of %s %s could not be reported", method, route)
        await notify(
            "warning",
            {
                "message": f"Box marks {method} {route} deprecated ({header}); the call still worked",
                "event": "box_deprecation",
                "route": route,
                "deprecation": header,
            },
        )
