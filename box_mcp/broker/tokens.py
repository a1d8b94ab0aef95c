"""Box's token endpoint: the Token value, the endpoints of one Box origin, and the form-POST client.

Everything that talks to `/oauth2/token` and `/oauth2/revoke` goes through `TokenEndpoint`, so the
HTTP layer is injected (an `httpx2.AsyncClient` with any transport) and error bodies are parsed once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from box_mcp.box.wire import connect_reason, fix_for_origin, safe_url, scrub_urls
from box_mcp.config import REAL_BOX_API, REAL_BOX_AUTHORIZE
from box_mcp.errors import BrokerError

BOX_TOKEN_AUDIENCE = f"{REAL_BOX_API}/oauth2/token"  # what Box (and its SDK) put in a JWT's aud
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

Clock = Callable[[], float]


class TokenRequestError(BrokerError):
    """Box's token endpoint refused a request. `error` is Box's OAuth error code (invalid_grant, ...)."""

    def __init__(self, message: str, *, error: str, status: int) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


class TokenEndpointUnavailable(BrokerError):
    """No usable answer from the token endpoint (connection, timeout, a non-JSON body)."""


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
        self, http: httpx2.AsyncClient, endpoints: BoxEndpoints, *, clock: Clock = time.time
    ) -> None:
        self._http = http
        self.endpoints = endpoints
        self.clock = clock
        self.requests = 0  # every POST to /oauth2/token: the bench counts these

    async def request(self, form: Mapping[str, str], *, what: str) -> Token:
        """POST one grant; `what` names it in errors ("client credentials for the service account")."""
        self.requests += 1
        started = self.clock()
        try:
            response = await self._http.post(self.endpoints.token_url, data=dict(form))
        except httpx2.HTTPError as exc:
            raise _unreachable(self.endpoints.token_url, exc, "to get an access token") from None
        body = _json_or_none(response)
        if response.status_code != 200:
            error = _safe_text(body.get("error")) if body else ""
            detail = _safe_text(body.get("error_description")) if body else ""
            status = response.status_code
            said = f"{error or 'HTTP ' + str(status)}" + (f" ({detail})" if detail else "")
            if status == 429 or status >= 500:
                # Not a verdict on the credentials: Box was busy or failing.
                text = (f"Box's token endpoint could not answer {what} ({status}: {said}). "
                        "Fix: try again in a moment; the credentials were not refused.")
            else:
                text = f"Box refused {what}: {said}"
            raise TokenRequestError(text, error=error or f"http_{status}", status=status)
        if not body or not isinstance(body.get("access_token"), str) or not body["access_token"]:
            raise TokenEndpointUnavailable(f"Box's token endpoint gave no access token for {what}")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
        refresh = body.get("refresh_token")
        restricted = body.get("restricted_to")
        return Token(
            access_token=body["access_token"],
            expires_at=started + lifetime,  # measured from before the request: errs on the early side
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            restricted_to=tuple(restricted) if isinstance(restricted, list) else (),
        )

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


def _unreachable(url: str, exc: httpx2.HTTPError, purpose: str) -> TokenEndpointUnavailable:
    """The URL that could not be reached and what to do, in plain words (never the request's form)."""
    origin = safe_url(str(httpx2.URL(url).copy_with(path="/", query=None, fragment=None)))
    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.UnsupportedProtocol):
        problem = f"cannot reach Box at {origin} ({connect_reason(exc)}) {purpose}"
    else:
        problem = f"Box at {origin} gave no usable answer {purpose} ({type(exc).__name__})"
    return TokenEndpointUnavailable(f"{problem}. Fix: {fix_for_origin(origin)}")


def _json_or_none(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
