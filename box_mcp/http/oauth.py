"""box-mcp as an OAuth 2.1 authorization server for MCP clients, on the HTTP app (remote sign-in).

What the MCP SDK gives is used as it is: `create_auth_routes` (/authorize, /token, /register, /revoke,
PKCE S256, client authentication) over box-mcp's provider (`box_mcp.remote.provider`),
`create_protected_resource_routes` (RFC 9728 at the path-inserted URI), the `TokenVerifier` seam and
`BearerAuthBackend`. What it lacks is here, written by hand:

- the authorization server metadata with `client_id_metadata_document_supported` and
  `authorization_response_iss_parameter_supported` (`box_mcp.remote.metadata`), and the protected
  resource metadata at the root well-known URI too;
- `iss` (RFC 9207) on the redirects the SDK's /authorize handler sends back to a client;
- the 401 challenge: the SDK's RequireAuthMiddleware always says `error="invalid_token"`, but RFC 6750
  §3.1 sends an error only when a token was presented (`ChallengeMiddleware`);
- the verifier of box-mcp's own access tokens (audience, expiry, revocation, and the person behind
  them, mapped to a policy agent on every request, so a policy reload applies at once), beside the
  policy's API keys on the same /mcp (`CallerVerifier`).

The MCP access token never reaches Box and Box's token never reaches the client: the person's Box
grant stays in the vault, used by the broker per call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mcp.server.auth.handlers.metadata import MetadataHandler, ProtectedResourceMetadataHandler
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import cors_middleware, create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from box_mcp.identity import CallerToken, Person
from box_mcp.remote.cimd import CIMDError, is_cimd_client_id
from box_mcp.remote.metadata import authorization_server_metadata
from box_mcp.remote.provider import SCOPE as MCP_SCOPE
from box_mcp.remote.provider import BoxMCPAuthProvider, off_loop, same_resource
from box_mcp.remote.records import OAuthStateStore

PRM_PATH = "/.well-known/oauth-protected-resource"
AS_METADATA_PATH = "/.well-known/oauth-authorization-server"
ACCESS_TOKEN_PREFIX = "bmcp_at_"

AgentForPerson = Callable[[Person], "str | None"]


@dataclass(frozen=True)
class RemoteURLs:
    """The URLs remote sign-in is named under, from one base (the issuer)."""

    base: str  # e.g. https://box-mcp.example.com or http://127.0.0.1:8000, no trailing slash
    mcp_path: str = "/mcp"

    @property
    def issuer(self) -> str:
        return self.base

    @property
    def resource(self) -> str:
        return self.base + self.mcp_path

    @property
    def resource_metadata(self) -> str:
        parts = urlsplit(self.base)
        return urlunsplit((parts.scheme, parts.netloc, PRM_PATH + parts.path + self.mcp_path, "", ""))

    def page(self, path: str) -> str:
        return self.base + path


def token_digest(token: str) -> str:
    """What may stand for a token where one is shown or logged: never the token."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


class OAuthVerifier:
    """TokenVerifier for the access tokens box-mcp issued: known, unexpired, unrevoked, issued for this
    resource; then the person behind it and the policy agent the current policy gives them."""

    def __init__(
        self,
        store: OAuthStateStore,
        provider: BoxMCPAuthProvider,
        *,
        urls: RemoteURLs,
        agent_for_person: AgentForPerson,
    ) -> None:
        self._store = store
        self._provider = provider
        self._urls = urls
        self._agent_for_person = agent_for_person

    def __repr__(self) -> str:
        return f"OAuthVerifier({self._urls.issuer!r})"

    async def verify_token(self, token: str) -> AccessToken | None:
        if not token.startswith(ACCESS_TOKEN_PREFIX):
            return None
        record = await off_loop(self._store.load_access, token)  # None: unknown, expired or revoked
        if record is None or not same_resource(record.resource, self._urls.resource):
            return None
        stored = await off_loop(self._store.person, record.person_id)
        client = await self._provider.get_client(record.client_id)
        if stored is None:  # the person was signed out
            return None
        if client is None and not is_cimd_client_id(record.client_id):  # the registration expired
            return None
        # A metadata document that cannot be fetched right now does not sign anyone out: the token was
        # issued to that client id; only its display name and redirect host are unknown until it answers.
        uris = client.redirect_uris if client is not None else None
        redirect = str(uris[0]) if uris else ""
        person = Person(
            box_user_id=stored.box_user_id,
            login=stored.login,
            name=stored.name,
            groups=tuple(stored.groups),
            client_id=record.client_id,
            client_name=client.client_name if client is not None else None,
            redirect_host=urlsplit(redirect).hostname,
        )
        await off_loop(self._store.touch_person, stored.box_user_id)
        return CallerToken(
            token=token_digest(token),
            client_id=record.client_id,
            scopes=list(record.scopes),
            expires_at=int(record.expires_at),
            resource=record.resource,
            subject=stored.box_user_id,
            claims={"iss": self._urls.issuer},
            agent=self._agent_for_person(person),
            person=person,
        )


class CallerVerifier:
    """Both schemes on one /mcp: box-mcp's OAuth access tokens and the policy's API keys."""

    def __init__(self, *, oauth: OAuthVerifier | None, keys: Any | None) -> None:
        self._oauth = oauth
        self._keys = keys

    def __repr__(self) -> str:
        return f"CallerVerifier(oauth={self._oauth is not None}, keys={self._keys is not None})"

    async def verify_token(self, token: str) -> AccessToken | None:
        if token.startswith(ACCESS_TOKEN_PREFIX):
            return await self._oauth.verify_token(token) if self._oauth is not None else None
        return await self._keys.verify_token(token) if self._keys is not None else None


class ChallengeMiddleware:
    """/mcp only for verified callers: 401 with a Bearer challenge naming the resource metadata (an
    error only when a token was presented, RFC 6750 §3.1), 403 when the token lacks the scope or the
    policy gives the person no agent."""

    def __init__(self, app: ASGIApp, *, urls: RemoteURLs | None) -> None:
        self.app = app
        self.urls = urls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        caller = user.access_token if isinstance(user, AuthenticatedUser) else None
        if not isinstance(caller, CallerToken):
            presented = _bearer(scope) is not None
            await self._deny(send, 401, "invalid_token" if presented else None, _NO_TOKEN[presented])
            return
        if caller.person is not None:
            if MCP_SCOPE not in caller.scopes:
                await self._deny(
                    send, 403, "insufficient_scope", f"this server needs the scope {MCP_SCOPE!r}"
                )
                return
            if caller.agent is None:
                await _json(
                    send,
                    403,
                    {
                        "error": "access_denied",
                        "error_description": "box-mcp's policy gives this Box account no agent through this "
                        "client; ask the box-mcp administrator to add you to the policy",
                    },
                )
                return
        await self.app(scope, receive, send)

    async def _deny(self, send: Send, status: int, error: str | None, description: str) -> None:
        parts = ['realm="box-mcp"']
        if error is not None:
            parts += [f'error="{error}"', f'error_description="{description}"']
        if self.urls is not None:
            parts += [f'resource_metadata="{self.urls.resource_metadata}"', f'scope="{MCP_SCOPE}"']
        challenge = "Bearer " + ", ".join(parts)
        body = {"error": error or "unauthorized", "error_description": description}
        await _json(send, status, body, [(b"www-authenticate", challenge.encode())])


_NO_TOKEN = {
    False: "this server needs a bearer token: sign in through your MCP client (OAuth) or send an API key",
    True: "the bearer token is not valid here (unknown, expired, revoked, or issued for another server)",
}


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            return text[7:] if text[:7].lower() == "bearer " else None
    return None


async def _json(
    send: Send, status: int, body: dict[str, str], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class IssOnRedirects:
    """RFC 9207: every authorization response carries `iss`. The SDK's /authorize handler redirects to
    the client with an error without it (its success redirect goes to box-mcp's own consent page, which
    adds `iss` itself when it finally answers the client)."""

    def __init__(self, app: ASGIApp, *, issuer: str, own_pages: str) -> None:
        self.app = app
        self.issuer = issuer
        self.own_pages = own_pages  # redirects here are box-mcp's, not answers to the client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (302, 303, 307):
                headers = [
                    (k, with_iss(v.decode("latin-1"), self.issuer).encode("latin-1"))
                    if k == b"location" and not v.decode("latin-1").startswith(self.own_pages)
                    else (k, v)
                    for k, v in message.get("headers", [])
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, patched)


class ExplainClient:
    """Before the SDK's /authorize: a client id metadata document box-mcp refuses gets a 400 that says
    why (the SDK would say only that the client does not exist)."""

    def __init__(self, app: ASGIApp, provider: BoxMCPAuthProvider) -> None:
        self.app = app
        self.provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client_id = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))).get("client_id", "")
        if scope["type"] == "http" and is_cimd_client_id(client_id):
            try:
                await self.provider.cimd.resolve(client_id)
            except CIMDError as exc:
                body = {"error": "invalid_request", "error_description": f"client_id refused: {exc}"}
                await _json(send, 400, body)
                return
        await self.app(scope, receive, send)


class Revocation:
    """RFC 7009 revocation. Hand-written because the SDK's handler requires a `client_secret` field even
    from public clients (MCP clients are public: they send none, and got 400). Client authentication is
    the SDK's ClientAuthenticator; an unknown token is 200, as the RFC says; a known one revokes its
    whole sign-in (the token family)."""

    def __init__(self, provider: BoxMCPAuthProvider) -> None:
        self.provider = provider
        self.authenticator = ClientAuthenticator(provider)

    async def handle(self, request: Request) -> Response:
        try:
            client = await self.authenticator.authenticate_request(request)
        except AuthenticationError as exc:
            return JSONResponse(
                {"error": "invalid_client", "error_description": exc.message}, status_code=401
            )
        token = (await request.form()).get("token")
        if not isinstance(token, str) or not token:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "token is required"}, status_code=400
            )
        found = await self.provider.load_access_token(token) or await self.provider.load_refresh_token(
            client, token
        )
        if found is not None and found.client_id == client.client_id:
            await self.provider.revoke_token(found)
        return Response(status_code=200, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def with_iss(url: str, issuer: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    query.append(("iss", issuer))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def auth_routes(
    provider: BoxMCPAuthProvider, urls: RemoteURLs, *, registration: bool, consent_path: str
) -> list[BaseRoute]:
    """The SDK's authorization server routes, with box-mcp's metadata, `iss` on /authorize's redirects,
    and the protected resource metadata at both well-known URIs."""
    routes: list[BaseRoute] = []
    for route in create_auth_routes(
        provider,
        issuer_url=AnyHttpUrl(urls.issuer),
        client_registration_options=ClientRegistrationOptions(
            enabled=registration, valid_scopes=[MCP_SCOPE], default_scopes=[MCP_SCOPE]
        ),
        revocation_options=RevocationOptions(enabled=True),
    ):
        if not isinstance(route, Route):
            routes.append(route)
        elif route.path == AS_METADATA_PATH:
            metadata = authorization_server_metadata(
                urls.issuer, registration=registration, scopes=[MCP_SCOPE]
            )
            handler = MetadataHandler(metadata)
            routes.append(
                Route(
                    AS_METADATA_PATH,
                    cors_middleware(handler.handle, ["GET", "OPTIONS"]),
                    methods=["GET", "OPTIONS"],
                )
            )
        elif route.path == "/authorize":
            app = IssOnRedirects(route.app, issuer=urls.issuer, own_pages=urls.page(consent_path))
            routes.append(
                Route(route.path, ExplainClient(app, provider), methods=sorted(route.methods or ()))
            )
        elif route.path == "/revoke":
            revoke = cors_middleware(Revocation(provider).handle, ["POST", "OPTIONS"])
            routes.append(Route("/revoke", revoke, methods=["POST", "OPTIONS"]))
        else:
            routes.append(route)
    prm = ProtectedResourceMetadata.model_validate(
        {
            "resource": urls.resource,
            "authorization_servers": [urls.issuer],
            "scopes_supported": [MCP_SCOPE],
            "resource_name": "box-mcp",
        }
    )
    prm_handler = cors_middleware(ProtectedResourceMetadataHandler(prm).handle, ["GET", "OPTIONS"])
    inserted = urlsplit(urls.resource_metadata).path
    for path in dict.fromkeys((inserted, PRM_PATH)):
        routes.append(Route(path, prm_handler, methods=["GET", "OPTIONS"]))
    return routes
