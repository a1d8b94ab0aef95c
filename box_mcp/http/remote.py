"""Remote sign-in, assembled: the OAuth state store, box-mcp's Box OAuth app, the CIMD resolver, and, once
the HTTP app knows its URL, the provider, verifier, routes and pages (see `box_mcp.http.oauth` and
`box_mcp.http.signin`). On when the policy has `acts_as: person` agents and box-mcp serves HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx2
from mcp.server.auth.provider import TokenVerifier
from mcp.shared.auth import OAuthClientInformationFull
from starlette.routing import BaseRoute

from box_mcp.broker.broker import Broker
from box_mcp.config import Settings
from box_mcp.events import Events
from box_mcp.http.oauth import CallerVerifier, OAuthVerifier, RemoteURLs, auth_routes
from box_mcp.http.signin import BOX_CALLBACK_PATH, CONSENT_PATH, BoxSignIn, SignInPages
from box_mcp.policy.people import client_allowed, registration_allowed
from box_mcp.policy.store import PolicyStore
from box_mcp.remote.cimd import CIMDResolver, is_cimd_client_id
from box_mcp.remote.provider import BoxMCPAuthProvider
from box_mcp.remote.records import OAuthStateStore
from box_mcp.remote.store import open_store


@dataclass
class RemoteSignIn:
    store: OAuthStateStore
    box: BoxSignIn
    cimd: CIMDResolver
    events: Events
    urls: RemoteURLs | None = None
    pages: SignInPages | None = field(default=None, repr=False)

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, broker: Broker, events: Events) -> AsyncIterator[RemoteSignIn]:
        """Needs box-mcp's Box OAuth app (BOX_OAUTH_CLIENT_ID/SECRET): a ConfigError without it. The store
        is PostgreSQL when BOX_MCP_DATABASE_URL is set: every replica then shares the clients, sign-ins in
        flight, tokens and the secret the pages' CSRF and flow cookies are keyed with, so a sign-in may
        start on one replica and finish on another."""
        box = BoxSignIn(broker, redirect_uri="")  # the callback URL is set once the HTTP app knows its URL
        http = httpx2.AsyncClient(follow_redirects=False, trust_env=False)  # no proxy from the env
        store = open_store(settings)
        try:
            yield cls(
                store=store, box=box, cimd=CIMDResolver(http, allow_loopback=settings.loopback), events=events
            )
        finally:
            await box.aclose()
            await http.aclose()
            store.close()

    def serve(
        self, urls: RemoteURLs, policy: PolicyStore, *, keys: TokenVerifier | None, loopback: bool
    ) -> tuple[TokenVerifier, list[BaseRoute]]:
        """The verifier for /mcp (OAuth tokens, and the policy's API keys when it has any) and the routes."""

        def allowed(client: OAuthClientInformationFull) -> str | None:
            uris = [str(u) for u in client.redirect_uris or []]
            rules = policy.sign_in_rules()
            if not is_cimd_client_id(client.client_id):
                refused = registration_allowed(rules)
                if refused:
                    return refused
            return client_allowed(rules, client.client_id, uris)

        provider = BoxMCPAuthProvider(
            self.store,
            issuer=urls.issuer,
            resource=urls.resource,
            cimd=self.cimd,
            client_allowed=allowed,
            consent_path=CONSENT_PATH,
        )
        self.box.redirect_uri = urls.page(BOX_CALLBACK_PATH)

        def person_agents() -> list[tuple[str, str]]:
            agents = policy.engine().policy.agents
            return [(name, agents[name].description) for name in policy.person_agents()]

        self.pages = SignInPages(
            store=self.store,
            urls=urls,
            box=self.box,
            agent_for_person=policy.agent_for_person,
            person_agents=person_agents,
            events=self.events,
        )
        self.urls = urls
        oauth = OAuthVerifier(self.store, provider, urls=urls, agent_for_person=policy.agent_for_person)
        routes = [
            *auth_routes(provider, urls, registration=True, consent_path=CONSENT_PATH),
            *self.pages.routes(),
        ]
        return CallerVerifier(oauth=oauth, keys=keys), routes
