"""box-mcp's `OAuthAuthorizationServerProvider`: what the MCP SDK's /authorize, /token, /register and
/revoke handlers ask of an authorization server, over the OAuth store.

The SDK's handlers check the protocol (PKCE S256 at /authorize and the verifier at /token, code expiry,
client authentication, redirect URI equality between /authorize and /token); this provider adds what
is box-mcp's to decide: which clients exist (registered ones, and Client ID Metadata Documents fetched
by `box_mcp.remote.cimd`), whether the policy lets a client sign in at all, the RFC 8707 resource every
token is bound to, and the consent page /authorize sends the browser to before any trip to Box.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

import anyio
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    IdentityAssertionParams,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import InvalidRedirectUriError, InvalidScopeError, OAuthClientInformationFull, OAuthToken
from pydantic import AnyUrl

from box_mcp.remote.cimd import CIMDError, CIMDResolver, is_cimd_client_id, redirect_uri_problem
from box_mcp.remote.records import IssuedTokens, OAuthStateStore, StoreError, TokenRecord

log = logging.getLogger(__name__)

ClientAllowed = Callable[[OAuthClientInformationFull], "str | None"]  # None: allowed; else the reason

P = ParamSpec("P")
T = TypeVar("T")


async def off_loop(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a store call in a worker thread: the PostgreSQL store waits on the network (up to the pool's
    wait while the database restarts), and the event loop serves everyone else meanwhile."""
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))


def same_resource(a: str | None, b: str) -> bool:
    """RFC 8707 resources compared as URLs (scheme and host case-insensitive), a trailing slash aside."""
    if not a:
        return False

    def norm(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url)
        default = {"http": 80, "https": 443}.get(parts.scheme.lower())
        port = parts.port if parts.port != default else None
        return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")

    try:
        return norm(a) == norm(b)
    except ValueError:
        return False


SCOPE = "box"  # the one scope: use box-mcp's tools as the policy allows


class BoxClient(OAuthClientInformationFull):
    """A client with RFC 8252 §7.3 loopback redirects (any port, everything else exact) and box-mcp's
    one scope (granted when none is asked for; any other is an error)."""

    def validate_scope(self, requested_scope: str | None) -> list[str] | None:
        if requested_scope is None or not requested_scope.strip():
            return [SCOPE]
        scopes = requested_scope.split()
        unknown = [s for s in scopes if s != SCOPE]
        if unknown:
            raise InvalidScopeError(f"unknown scope {unknown[0]!r}: this server has one scope, {SCOPE!r}")
        return [SCOPE]

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        if redirect_uri is None:
            if self.redirect_uris and len(self.redirect_uris) == 1:
                return self.redirect_uris[0]
            raise InvalidRedirectUriError("redirect_uri must be given when the client registered several")
        given = str(redirect_uri)
        for registered in self.redirect_uris or []:
            if given == str(registered) or _same_loopback(given, str(registered)):
                return redirect_uri
        raise InvalidRedirectUriError(f"redirect_uri {given!r} is not one this client registered")


def _same_loopback(given: str, registered: str) -> bool:
    a, b = urlsplit(given), urlsplit(registered)
    loopback = ("127.0.0.1", "::1", "localhost")
    return (
        a.scheme == b.scheme == "http"
        and a.hostname in loopback
        and a.hostname == b.hostname
        and not (a.username or a.password)
        and a.path == b.path
        and a.query == b.query
        and not a.fragment
        and a.netloc.rsplit(":", 1)[0] == b.netloc.rsplit(":", 1)[0]  # the host part exactly as registered
    )


def _box_client(info: OAuthClientInformationFull) -> BoxClient:
    return BoxClient.model_validate(info.model_dump())


class BoxMCPAuthProvider:
    """The SDK's provider interface for box-mcp (authorization code + PKCE, rotating refresh tokens)."""

    def __init__(
        self,
        store: OAuthStateStore,
        *,
        issuer: str,
        resource: str,
        cimd: CIMDResolver,
        client_allowed: ClientAllowed = lambda client: None,
        consent_path: str = "/oauth/consent",
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.resource = resource
        self.cimd = cimd
        self.client_allowed = client_allowed
        self.consent_path = consent_path

    def __repr__(self) -> str:
        return f"BoxMCPAuthProvider({self.issuer!r})"

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        if is_cimd_client_id(client_id):
            try:
                return _box_client(await self.cimd.resolve(client_id))
            except CIMDError as exc:
                log.warning("client id metadata document refused: %s", exc)
                return None
        info = await off_loop(self.store.get_client, client_id)
        return None if info is None else _box_client(info)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        for uri in client_info.redirect_uris or []:
            problem = redirect_uri_problem(str(uri))
            if problem:
                raise RegistrationError("invalid_redirect_uri", problem)
        refused = self.client_allowed(client_info)
        if refused:
            raise RegistrationError("invalid_client_metadata", refused)
        try:
            await off_loop(self.store.register_client, client_info)
        except StoreError as exc:
            raise RegistrationError("invalid_client_metadata", str(exc)) from None

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        refused = self.client_allowed(client)
        if refused:
            raise AuthorizeError("unauthorized_client", refused)
        if not params.resource:
            raise AuthorizeError(
                "invalid_target", f"the resource parameter is required: resource={self.resource}"
            )
        if not same_resource(params.resource, self.resource):
            raise AuthorizeError("invalid_target", f"this server issues tokens only for {self.resource}")
        request_id = await off_loop(
            self.store.begin_authorization, client, params.model_copy(update={"resource": self.resource})
        )
        return f"{self.issuer}{self.consent_path}?request={request_id}"

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        code = await off_loop(self.store.load_code, authorization_code)
        if code is None or code.client_id != client.client_id:
            return None
        return AuthorizationCode(
            code=authorization_code,
            scopes=list(code.scopes),
            expires_at=code.expires_at,
            client_id=code.client_id,
            code_challenge=code.code_challenge,
            redirect_uri=AnyUrl(code.redirect_uri),
            redirect_uri_provided_explicitly=code.redirect_uri_provided_explicitly,
            resource=code.resource,
            subject=code.person_id,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        self._still_allowed(client)
        try:
            return _token(await off_loop(self.store.redeem_code, authorization_code.code))
        except StoreError as exc:
            raise TokenError("invalid_grant", str(exc)) from None

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        record = await off_loop(self.store.load_refresh, refresh_token)
        if record is None or record.client_id != client.client_id:
            return None
        return RefreshToken(
            token=refresh_token,
            client_id=record.client_id,
            scopes=list(record.scopes),
            expires_at=int(record.expires_at),
            resource=record.resource,
            subject=record.person_id,
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        self._still_allowed(client)
        try:
            return _token(await off_loop(self.store.rotate_refresh, refresh_token.token, tuple(scopes)))
        except StoreError as exc:
            raise TokenError("invalid_grant", str(exc)) from None

    def _still_allowed(self, client: OAuthClientInformationFull) -> None:
        """The policy may have changed since /authorize (hot reload): a refused client gets no token."""
        refused = self.client_allowed(client)
        if refused:
            raise TokenError("unauthorized_client", refused)

    async def load_access_token(self, token: str) -> AccessToken | None:
        record = await off_loop(self.store.load_access, token)
        return None if record is None else _access(token, record, self.issuer)

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        await off_loop(self.store.revoke_token, token.token)

    async def exchange_identity_assertion(
        self, client: OAuthClientInformationFull, params: IdentityAssertionParams
    ) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "this server does not accept identity assertions")


def _token(issued: IssuedTokens) -> OAuthToken:
    return OAuthToken(
        access_token=issued.access_token,
        token_type="Bearer",
        expires_in=issued.expires_in,
        scope=" ".join(issued.scopes) or None,
        refresh_token=issued.refresh_token,
    )


def _access(token: str, record: TokenRecord, issuer: str) -> AccessToken:
    return AccessToken(
        token=token,
        client_id=record.client_id,
        scopes=list(record.scopes),
        expires_at=int(record.expires_at),
        resource=record.resource,
        subject=record.person_id,
        claims={"iss": issuer},
    )
