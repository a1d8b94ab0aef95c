"""Box's token endpoint: the Token value, the endpoints of one Box origin, and the form-POST client.

Everything that talks to `/oauth2/token` and `/oauth2/revoke` goes through `TokenEndpoint`, so the
HTTP layer is injected (an `httpx2.AsyncClient` with any transport) and error bodies are parsed once.

A token request that meets a busy or failing Box (429, 5xx, a connection error, no answer) is sent
again with the Box client's `RetryPolicy`: Retry-After honoured, full-jitter back-off, bounded attempts
and one deadline for them all. What may be re-sent, and why a single-use grant is too, is told at
`SINGLE_USE_GRANTS`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2

from box_mcp.box.errors import parse_retry_after
from box_mcp.box.retry import RetryPolicy
from box_mcp.box.wire import connect_reason, fix_for_origin, safe_url, scrub_urls
from box_mcp.config import REAL_BOX_API, REAL_BOX_AUTHORIZE
from box_mcp.errors import BrokerError
from box_mcp.telemetry import NULL, Telemetry

BOX_TOKEN_AUDIENCE = f"{REAL_BOX_API}/oauth2/token"  # what Box (and its SDK) put in a JWT's aud
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

Clock = Callable[[], float]
_log = logging.getLogger(__name__)

# Grants Box honours once: a refresh token rotates on use (the old one dies), a sign-in code is spent.
# CCG and JWT grants and token exchange are idempotent in effect: each request mints a new token, and a
# duplicate only leaves an unused token to expire. A 429 or a connection never made means Box did
# nothing, so any grant is re-sent then. After a 5xx or a lost answer (connection reset, no answer in
# time) Box may have spent a single-use grant and its answer, the new refresh token, is gone: that is
# the network twin of a crash at the rotation's "after_response" step (session.ROTATION_STEPS), and
# nothing can bring that token back. Holding the old refresh token back would not save the grant: it is
# the only one the vault has, so the next call would send it anyway. So it is re-sent at once, and the
# two outcomes are both the truth: Box had not used it (the refresh works, the call succeeds), or Box
# answers invalid_grant, which `TokenRequestError.after_lost` then attributes to the lost answer rather
# than to a revocation (the session records that as why a person must sign in again).
SINGLE_USE_GRANTS = frozenset({"refresh_token", "authorization_code"})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failures before the request left: Box cannot have seen it.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.UnsupportedProtocol)


def token_retry_policy() -> RetryPolicy:
    """The default for token requests: a tool call waits for its token at most 30 s over 4 attempts."""
    return RetryPolicy(max_attempts=4, deadline=30.0, backoff_cap=8.0)


class TokenRequestError(BrokerError):
    """Box's token endpoint refused a request. `error` is Box's OAuth error code (invalid_grant, ...).

    `after_lost` names how an earlier attempt of the same single-use grant failed after reaching Box
    ("HTTP 503", "ReadError"), when it did: Box may have used the grant then."""

    def __init__(self, message: str, *, error: str, status: int, after_lost: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status
        self.after_lost = after_lost

    @property
    def refused(self) -> bool:
        """A verdict on the request itself (4xx), not Box being busy (429) or failing (5xx)."""
        return 400 <= self.status < 500 and self.status not in (408, 429)


class TokenEndpointUnavailable(BrokerError):
    """No usable answer from the token endpoint (connection, timeout, a non-JSON body). `after_lost` as
    for `TokenRequestError`: set when an attempt of a single-use grant may have reached Box."""

    def __init__(self, message: str, *, after_lost: str | None = None) -> None:
        super().__init__(message)
        self.after_lost = after_lost


@dataclass(frozen=True, slots=True)
class BoxEndpoints:
    """The URLs of one Box origin. Real Box splits API and account hosts; the emulator serves all."""

    api_base: str = REAL_BOX_API
    token_url: str = f"{REAL_BOX_API}/oauth2/token"
    revoke_url: str = f"{REAL_BOX_API}/oauth2/revoke"
    authorize_url: str = REAL_BOX_AUTHORIZE

    @classmethod
    def for_box_url(cls, box_url: str | None) -> BoxEndpoints:
        if not box_url:
            return cls()
        base = box_url.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise BrokerError(f"Box URL {box_url!r} must start with http:// or https://")
        return cls(
            api_base=base,
            token_url=f"{base}/oauth2/token",
            revoke_url=f"{base}/oauth2/revoke",
            authorize_url=f"{base}/oauth2/authorize",
        )

    def item_url(self, item_type: str, item_id: str) -> str:
        """The full API URL of one item, as token exchange wants it in `resource`."""
        kind = {"file": "files", "folder": "folders", "web_link": "web_links"}.get(item_type)
        if kind is None or not item_id.isdigit():
            raise BrokerError(f"cannot downscope to {item_type} {item_id!r}: only files, folders, web links")
        return f"{self.api_base}/2.0/{kind}/{item_id}"


@dataclass(frozen=True, slots=True)
class Token:
    """An access token (and maybe a refresh token) with its absolute expiry in clock seconds."""

    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)
    restricted_to: tuple[Any, ...] = field(default=(), repr=False)

    def fresh_for(self, now: float, margin: float) -> bool:
        """True when the token stays valid for at least `margin` more seconds."""
        return now + margin < self.expires_at

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


def _safe_text(value: object, limit: int = 200) -> str:
    """Box's text is untrusted: printable, short, and never a token (we never echo request fields)."""
    text = value if isinstance(value, str) else ""
    text = scrub_urls("".join(ch for ch in text if ch.isprintable()))
    return text[:limit]


class TokenEndpoint:
    """Form-encoded POSTs to Box's token and revoke endpoints, through an injected HTTP client."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        endpoints: BoxEndpoints,
        *,
        clock: Clock = time.time,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self.endpoints = endpoints
        self.clock = clock  # wall time, for expiries; the retry policy keeps its own monotonic clock
        self.retry = retry or token_retry_policy()
        self.requests = 0  # every POST to /oauth2/token (each attempt): the bench counts these
        self.telemetry: Telemetry = NULL  # a span per grant (the deployment sets it)

    async def request(self, form: Mapping[str, str], *, what: str) -> Token:
        """POST one grant; `what` names it in errors ("client credentials for the service account").

        Retried on 429, 500/502/503/504 and transport errors within `self.retry` (see
        `SINGLE_USE_GRANTS` for why every grant may be re-sent). Never a secret in an error or a log:
        they name the grant (`what`), the status and the attempts, never a field of `form`."""
        telemetry = self.telemetry
        with telemetry.stage("broker.token"):
            with telemetry.box_request("POST", self.endpoints.token_url, trusted=True):
                return await self._request(form, what)

    async def _request(self, form: Mapping[str, str], what: str) -> Token:
        retry = self.retry
        single_use = form.get("grant_type") in SINGLE_USE_GRANTS
        started = retry.clock()
        deadline_at = started + retry.deadline
        lost: str | None = None  # how an attempt that may have reached Box failed (single-use grants)
        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            issued_at = self.clock()
            try:
                with anyio.fail_after(max(retry.remaining(deadline_at), 0.001)):
                    response = await self._http.post(self.endpoints.token_url, data=dict(form))
            except (httpx2.HTTPError, TimeoutError) as exc:
                if single_use and not isinstance(exc, _NOT_SENT):
                    lost = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
                failure = self._transport_failure(exc, what, self._tries(attempt, started), lost)
                if isinstance(exc, httpx2.UnsupportedProtocol):
                    raise failure from None  # a wrong URL stays wrong
                _log.info("%s: %s, attempt %d of %d", what, type(exc).__name__, attempt, retry.max_attempts)
                self.telemetry.box_failed(type(exc).__name__)
                if attempt >= retry.max_attempts or not await retry.wait(retry.backoff(attempt), deadline_at):
                    raise failure from None
                continue
            body = _json_or_none(response)
            status = response.status_code
            self.telemetry.box_status(status)
            if status == 200:
                return _token_from(body, issued_at, what)
            if status not in _RETRY_STATUSES:
                raise _refusal(body, status, what, self._tries(attempt, started), lost)
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            delay = retry.delay(attempt, retry_after)
            if single_use and status != 429:
                lost = f"HTTP {status}"
            if attempt < retry.max_attempts:
                _log.info(
                    "%s: Box said %d, attempt %d of %d, retrying in %.2f s",
                    what,
                    status,
                    attempt,
                    retry.max_attempts,
                    delay,
                )
                self.telemetry.box_retry(attempt, str(status), delay)
                if await retry.wait(delay, deadline_at):
                    continue
            too_long = retry_after is not None and attempt < retry.max_attempts
            raise _busy(
                body, status, what, self._tries(attempt, started), retry_after if too_long else None, lost
            )

    def _tries(self, attempt: int, started: float) -> str:
        elapsed = max(0.0, self.retry.clock() - started)
        return f"after {attempt} attempt{'s' if attempt != 1 else ''} over {elapsed:.1f} s"

    def _transport_failure(
        self, exc: Exception, what: str, tries: str, lost: str | None
    ) -> TokenEndpointUnavailable:
        if isinstance(exc, TimeoutError):  # our deadline, not httpx2's timeout
            text = (
                f"Box's token endpoint did not answer {what} within the {self.retry.deadline:g} s "
                f"deadline ({tries}). Fix: retry later; if it keeps happening, Box may be degraded."
            )
        else:
            assert isinstance(exc, httpx2.HTTPError)
            text = str(_unreachable(self.endpoints.token_url, exc, "to get an access token", tries))
        return TokenEndpointUnavailable(text + _lost_note(lost), after_lost=lost)

    async def revoke(self, *, token: str, client_id: str, client_secret: str) -> None:
        """Revoke an access or refresh token at Box. Box answers 200 even for unknown tokens."""
        form = {"token": token, "client_id": client_id, "client_secret": client_secret}
        try:
            response = await self._http.post(self.endpoints.revoke_url, data=form)
        except httpx2.HTTPError as exc:
            raise _unreachable(self.endpoints.revoke_url, exc, "to revoke the token") from None
        if response.status_code >= 400:
            body = _json_or_none(response)
            error = _safe_text(body.get("error")) if body else ""
            raise TokenRequestError(
                f"Box refused to revoke the token: {error or 'HTTP ' + str(response.status_code)}",
                error=error or f"http_{response.status_code}",
                status=response.status_code,
            )


def _said(body: dict[str, Any] | None, status: int) -> tuple[str, str]:
    """Box's OAuth error code (or "HTTP 503") and its description, both made safe to show."""
    error = _safe_text(body.get("error")) if body else ""
    detail = _safe_text(body.get("error_description")) if body else ""
    return error, f"{error or 'HTTP ' + str(status)}" + (f" ({detail})" if detail else "")


def _refusal(
    body: dict[str, Any] | None, status: int, what: str, tries: str, lost: str | None
) -> TokenRequestError:
    error, said = _said(body, status)
    if status >= 500:  # 501, 505, ...: not worth re-sending, and still no verdict on the credentials
        text = (
            f"Box's token endpoint could not answer {what} ({status}: {said}) {tries}. "
            "Fix: retry later; the credentials were not refused."
        )
    else:
        text = f"Box refused {what}: {said}"
        if lost is not None:
            text += (
                f". An earlier attempt of this request failed ({lost}) after reaching Box, which may "
                "have used this single-use grant then; its answer was lost"
            )
    return TokenRequestError(text, error=error or f"http_{status}", status=status, after_lost=lost)


def _busy(
    body: dict[str, Any] | None,
    status: int,
    what: str,
    tries: str,
    asked_wait: float | None,
    lost: str | None,
) -> TokenRequestError:
    """Box kept answering 429 or 5xx: not a verdict on the credentials, and the next call tries again.
    `asked_wait`: the Retry-After that reached past the deadline, when that is why retrying stopped."""
    error, said = _said(body, status)
    asked = f"; Box asked to wait {asked_wait:g} s more, past box-mcp's deadline" if asked_wait else ""
    if status == 429:
        text = (
            f"Box's token service is rate-limiting this app (429) and gave no token for {what} "
            f"{tries}{asked}. Fix: retry later; the credentials were not refused."
        )
    else:
        text = (
            f"Box's token endpoint could not answer {what} ({status}: {said}) {tries}{asked}. Fix: retry "
            "later; if it keeps happening, Box may be degraded. The credentials were not refused."
        )
    return TokenRequestError(
        text + _lost_note(lost), error=error or f"http_{status}", status=status, after_lost=lost
    )


def _lost_note(lost: str | None) -> str:
    if lost is None:
        return ""
    return (
        f" An attempt reached Box and lost its answer ({lost}): if Box used this single-use grant then, "
        "the next try is refused with invalid_grant and a person must sign in again."
    )


def _token_from(body: dict[str, Any] | None, issued_at: float, what: str) -> Token:
    if not body or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise TokenEndpointUnavailable(f"Box's token endpoint gave no access token for {what}")
    expires_in = body.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
    refresh = body.get("refresh_token")
    restricted = body.get("restricted_to")
    return Token(
        access_token=body["access_token"],
        expires_at=issued_at + lifetime,  # measured from before the request: errs on the early side
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        restricted_to=tuple(restricted) if isinstance(restricted, list) else (),
    )


def _unreachable(url: str, exc: httpx2.HTTPError, purpose: str, tries: str = "") -> TokenEndpointUnavailable:
    """The URL that could not be reached and what to do, in plain words (never the request's form)."""
    origin = safe_url(str(httpx2.URL(url).copy_with(path="/", query=None, fragment=None)))
    when = f" {tries}" if tries else ""
    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.UnsupportedProtocol):
        problem = f"cannot reach Box at {origin} ({connect_reason(exc)}) {purpose}{when}"
    else:
        problem = f"Box at {origin} gave no usable answer {purpose} ({type(exc).__name__}){when}"
    return TokenEndpointUnavailable(f"{problem}. Fix: {fix_for_origin(origin)}")


def _json_or_none(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
