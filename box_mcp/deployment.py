"""The composition root: one deployment built in plain code, in the order a call meets its parts.

    settings -> policy store -> broker (identities from the store) -> policy gate -> audit
             -> gate -> MCP server -> HTTP app (API keys as the SDK's TokenVerifier)

`open_deployment` is what `box-mcp serve` and `box-mcp demo` run; everything it opens closes with it.
A policy that does not load, a credential the policy needs but nobody configured, or an audit log that
cannot be opened stops it here, before anything is served.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from box_mcp.approval_records import ApprovalStore
from box_mcp.approvals import request_state_security
from box_mcp.audit.hook import GateAudit
from box_mcp.audit.log import AuditLog
from box_mcp.audit.sink import Cursor, FileCursor, FileSource, SinkFollower, Source, parse_sink, transport_for
from box_mcp.audit.store import load_key
from box_mcp.box.client import BoxClient
from box_mcp.broker.broker import Broker, IdentitySpec
from box_mcp.broker.clients import BrokerCredentials, Identities, Unbound
from box_mcp.changes import ChangeFeed
from box_mcp.config import Settings
from box_mcp.errors import BrokerError, ConfigError
from box_mcp.events import Events
from box_mcp.http.auth import APIKeyVerifier
from box_mcp.http.remote import RemoteSignIn
from box_mcp.http.signin import BoxSignIn
from box_mcp.identity import Person
from box_mcp.ledger import open_approval_state
from box_mcp.policy.hooks import PolicyHooks
from box_mcp.policy.limits import Limiter, RateLimiter
from box_mcp.policy.locate import Locator
from box_mcp.policy.model import AsUser, Policy, UserGrant
from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.store import PolicyStore
from box_mcp.server import DEFAULT_AGENT, BoxMCPServer, build_server, selected_tools
from box_mcp.telemetry import NULL, Telemetry
from box_mcp.telemetry import from_settings as telemetry_from
from box_mcp.tools.spec import TransportKind

SINK_DRAIN = 3.0  # seconds a closing deployment spends sending the records its sink has not sent yet

if TYPE_CHECKING:
    from mcp.server.request_state import RequestStateSecurity
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp

    from box_mcp.http.oauth import RemoteURLs
    from box_mcp.state.audit import PostgresAuditLog
    from box_mcp.watch.receiver import WebhookReceiver


@dataclass
class Deployment:
    """What one `box-mcp serve` runs: the server and the parts a start-up summary or a test asks about."""

    settings: Settings
    server: BoxMCPServer
    broker: Broker
    audit: GateAudit
    store: PolicyStore | None = None
    verifier: APIKeyVerifier | None = field(default=None, repr=False)
    remote: RemoteSignIn | None = field(default=None, repr=False)  # remote sign-in (OAuth) when on
    telemetry: Telemetry = field(default=NULL, repr=False)
    events: Events | None = field(default=None, repr=False)
    console_secret: bytes | None = field(default=None, repr=False)  # the request-state key: /console on
    console_box: BoxSignIn | None = field(default=None, repr=False)  # Box sign-in to the console
    limiter: Limiter | None = field(default=None, repr=False)
    approval_store: ApprovalStore | None = field(default=None, repr=False)  # the console decides these
    changes: ChangeFeed = field(default_factory=ChangeFeed, repr=False)  # Box changes: webhooks, events API
    webhooks: WebhookReceiver | None = field(default=None, repr=False)  # /box/webhooks (BOX_MCP_WATCH)

    @property
    def policy(self) -> Policy | None:
        """The policy calls are decided by now (None: ungoverned)."""
        return self.store.engine().policy if self.store is not None else None

    def http_app(self, *, port: int | None = None) -> ASGIApp:
        from box_mcp.http.app import create_http_app

        s = self.settings
        bound = s.port if port is None else port
        replicas = None
        watch = self.webhooks.routes() if self.webhooks is not None else []
        background = (self.webhooks.run,) if self.webhooks is not None else ()
        if s.database_url is not None:  # one of several replicas: sessions registered, forwarded
            from box_mcp.state.sessions import SessionRegistry

            replicas = SessionRegistry.open(s.database_url, url=s.replica_address(bound))
        if self.remote is None or self.store is None:
            return create_http_app(
                self.server,
                host=s.host,
                port=bound,
                verifier=self.verifier,
                allowed_hosts=s.allowed_hosts,
                replicas=replicas,
                extra_routes=[*watch, *self.console_routes(s.base_url(bound))],
                background=background,
            )
        from box_mcp.http.oauth import RemoteURLs

        urls = RemoteURLs(s.base_url(bound))
        verifier, routes = self.remote.serve(urls, self.store, keys=self.verifier, loopback=s.loopback)
        self.server.gate.connect = self.remote.pages.connect_url if self.remote.pages else None
        public = urlsplit(urls.base)
        extra_hosts = (public.netloc,) if s.public_url is not None else ()
        return create_http_app(
            self.server,
            host=s.host,
            port=bound,
            verifier=verifier,
            allowed_hosts=(*s.allowed_hosts, *extra_hosts),
            remote=urls,
            extra_routes=[*watch, *routes, *self.console_routes(urls.base)],
            replicas=replicas,
            background=background,
        )

    def console_routes(self, base: str) -> list[BaseRoute]:
        """The web console's routes (box_mcp.console) when the deployment has a policy; else none."""
        if self.store is None or self.console_secret is None:
            return []
        from box_mcp.console.wiring import console_for

        return console_for(self, base).routes()

    @property
    def remote_urls(self) -> RemoteURLs | None:
        """Where clients connect by URL, once `http_app` has built remote sign-in (None: it is off)."""
        return self.remote.urls if self.remote is not None else None


def identities_from(store: PolicyStore) -> Identities:
    """(agent, person) -> IdentitySpec from the policy's `acts_as`, read from the store's current engine
    (so a policy reload changes identities and decisions together). A person agent acts as the signed-in
    person's own Box grant (vault key `person:<box_user_id>`)."""

    def identity(agent: str, person: Person | None) -> IdentitySpec:
        entry = store.engine().policy.agents.get(agent)
        if entry is None:
            raise BrokerError(f"agent {agent!r} has no Box identity: add it with acts_as to the policy")
        if entry.acts_as == "person":
            if person is None:
                raise BrokerError(
                    f"agent {agent!r} acts as the signed-in person, but this call comes from no signed-in "
                    "person (only a connection signed in through box-mcp's OAuth can be this agent)"
                )
            return IdentitySpec(
                kind="person",
                person_id=person.box_user_id,
                label=person.login,
                notifications=entry.notifications == "on",
            )
        return identity_of(entry.acts_as, notifications=entry.notifications == "on")

    return identity


def identity_of(acts_as: object, *, notifications: bool = True) -> IdentitySpec:
    """The identity of an `acts_as` that names one (a person agent's depends on the call: see
    identities_from); `notifications=False`: its writes ask Box to send no notifications."""
    if isinstance(acts_as, AsUser):
        return IdentitySpec(kind="as_user", as_user=acts_as.as_user, notifications=notifications)
    if isinstance(acts_as, UserGrant):
        return IdentitySpec(kind="user_grant", label=acts_as.user_grant, notifications=notifications)
    if acts_as == "person":
        raise BrokerError("an acts_as: person agent's identity is the signed-in person of each call")
    return IdentitySpec(kind="service_account", notifications=notifications)


def check_credentials(broker: Broker, policy: Policy) -> None:
    """Refuse to start when the policy names an identity that no configured credential can serve."""
    has_service = broker.settings.service_account is not None
    for name, agent in sorted(policy.agents.items()):
        if agent.acts_as == "person":
            if broker.settings.oauth_client is None:
                raise ConfigError(
                    f"policy agent {name!r} acts as each signed-in person, with their own Box sign-in "
                    "through box-mcp's Box OAuth app: set BOX_OAUTH_CLIENT_ID and BOX_OAUTH_CLIENT_SECRET "
                    "(the OAuth 2.0 app's client id and secret from the Box developer console)"
                )
            continue
        identity = identity_of(agent.acts_as)
        if identity.kind == "service_account" and not has_service:
            raise ConfigError(
                f"policy agent {name!r} acts as the service account, but no app credentials are set: set "
                "BOX_JWT_CONFIG_FILE, or BOX_CLIENT_ID + BOX_CLIENT_SECRET + BOX_ENTERPRISE_ID"
            )
        if identity.kind == "as_user" and not has_service and broker.settings.developer_token is None:
            raise ConfigError(
                f"policy agent {name!r} acts as user {identity.as_user} (As-User), which needs the service "
                "account's credentials (or an admin's BOX_DEVELOPER_TOKEN)"
            )


def ungoverned_identity(broker: Broker) -> Identities:
    """Without a policy every call acts as the developer token, else the service account."""
    if broker.settings.developer_token is not None:
        chosen = IdentitySpec(kind="developer_token")
    elif broker.settings.service_account is not None:
        chosen = IdentitySpec(kind="service_account")
    else:
        raise ConfigError(
            "no Box credential: set BOX_DEVELOPER_TOKEN (a developer token from your Box app's configuration "
            "page, valid 60 minutes), or run `box-mcp demo` to try box-mcp against the built-in emulator"
        )
    return lambda agent, person: chosen


def _broker(settings: Settings, events: Events, telemetry: Telemetry) -> Broker:
    broker = Broker.from_settings(settings)
    broker.on_event = events.post  # refreshes and needs-sign-in become audit records
    if telemetry.enabled:  # ... and counted
        post = events.post

        def on_event(kind: str, **fields: object) -> None:
            post(kind, **fields)
            telemetry.broker_event(kind, **fields)

        broker.on_event = on_event
    broker.endpoint.telemetry = telemetry
    if settings.database_url is not None:
        # A shared vault opens now (connect, migrate): an unreachable database or a missing
        # BOX_MCP_VAULT_KEY stops start-up. The SQLite one stays lazy (no key file without a need).
        broker.vault  # noqa: B018
    return broker


async def _audit_log(settings: Settings, key: bytes | None) -> AuditLog | PostgresAuditLog:
    """The deployment's audit log: one chain in PostgreSQL shared by every replica when a database is
    configured, else the JSONL files in the data dir."""
    if settings.database_url is not None:
        from box_mcp.state.audit import PostgresAuditLog  # loads psycopg only for a deployment that uses it

        return await PostgresAuditLog.open(settings.database_url, key=key)
    return await AuditLog.open(Path(settings.data_dir) / "audit", key=key)


async def _start_sink(settings: Settings, log: AuditLog | PostgresAuditLog, stack: AsyncExitStack) -> None:
    """Follow the log in a background task of this process (a bad sink URL stops start-up); on close,
    stop it, then send what is left for up to SINK_DRAIN seconds."""
    assert settings.audit_sink is not None
    target = parse_sink(settings.audit_sink)
    source: Source
    cursor: Cursor
    if settings.database_url is not None:
        from box_mcp.state.audit_sink import PostgresCursor, PostgresSource

        pg_source = await anyio.to_thread.run_sync(PostgresSource, settings.database_url)
        stack.callback(pg_source.close)
        pg_cursor = PostgresCursor(settings.database_url, target.key)
        stack.callback(pg_cursor.close)
        source, cursor = pg_source, pg_cursor
    else:
        source = FileSource(Path(settings.data_dir) / "audit", lambda: log.last_seq)
        cursor = FileCursor(Path(settings.data_dir), target.key)
    transport = transport_for(target)
    stack.push_async_callback(transport.aclose)
    follower = SinkFollower(source, cursor, transport, display=target.display)
    group = anyio.create_task_group()
    await group.__aenter__()
    group.start_soon(follower.run)

    async def stop() -> None:
        group.cancel_scope.cancel()
        await group.__aexit__(None, None, None)
        await follower.drain(SINK_DRAIN)

    stack.push_async_callback(stop)


@dataclass
class _Shared:
    """Rate limits and approvals as the deployment's state holds them (box_mcp.ledger, state.limits)."""

    limiter: Limiter | None
    request_state: RequestStateSecurity
    approvals: ApprovalStore
    key: bytes = field(repr=False, default=b"")


async def _shared_state(settings: Settings, stack: AsyncExitStack) -> _Shared:
    """Approvals (key and records) from the data dir or PostgreSQL; with PostgreSQL, rate-limit counters
    shared by every replica too (else the in-process default)."""
    approvals = open_approval_state(settings)
    stack.callback(approvals.store.close)
    limiter: Limiter | None = None
    if settings.database_url is not None:
        from box_mcp.state.limits import PostgresRateLimiter

        pg_limiter = await PostgresRateLimiter.open(settings.database_url)
        stack.push_async_callback(pg_limiter.aclose)
        limiter = pg_limiter
    return _Shared(limiter, request_state_security(approvals.key), approvals.store, approvals.key)


@asynccontextmanager
async def open_deployment(settings: Settings, *, transport: TransportKind) -> AsyncIterator[Deployment]:
    """Build the deployment `settings` describe, serving over `transport`; closed on exit."""
    selected_tools(settings, transport)  # a bad --toolsets/--tools fails before credential or policy work
    async with AsyncExitStack() as stack:
        telemetry = telemetry_from(settings)  # configured but not installed: stops here, with what to do
        if telemetry.enabled:
            stack.push_async_callback(anyio.to_thread.run_sync, telemetry.shutdown)  # runs last: flushes
        events = Events()
        store = None
        if settings.policy is not None:
            store = PolicyStore(settings.policy, tools_for_policy(), on_event=events.post)
        broker = _broker(settings, events, telemetry)
        stack.push_async_callback(broker.aclose)
        identities: Identities
        if store is not None:
            check_credentials(broker, store.engine().policy)
            identities = identities_from(store)
        else:
            identities = ungoverned_identity(broker)
        # Every call runs on a view bound to its own token source; the root client only holds the pool.
        box = BoxClient(token_source=Unbound(), base_url=settings.api_url, upload_url=settings.upload_url)
        box.telemetry = telemetry

        def deprecated(method: str, route: str, header: str) -> None:  # once per endpoint: the audit keeps it
            events.post(
                "box", detail={"event": "deprecated", "method": method, "route": route, "deprecation": header}
            )

        box.deprecations.report = deprecated
        stack.push_async_callback(box.aclose)
        credentials = BrokerCredentials(broker, box, identities, downscope=broker.downscope)

        policy: PolicyHooks | None = None
        shared = await _shared_state(settings, stack) if store is not None else None
        limiter: Limiter | None = None
        if store is not None:  # where items sit is looked up as each agent's own identity sees them
            limiter = (shared.limiter if shared is not None else None) or RateLimiter()
            policy = PolicyHooks(store, locator=Locator(credentials.lookup_client), limiter=limiter)
            policy.locator.telemetry = telemetry

        key = load_key(settings.audit_key_file) if settings.audit_key_file is not None else None
        log = await _audit_log(settings, key)
        stack.push_async_callback(log.aclose)
        audit = GateAudit(log, secret_fields=policy.secret_fields if policy is not None else None)
        events.connect(audit.sink)
        await events.flush()  # the policy_load posted above comes first in the log
        stack.push_async_callback(events.flush)  # runs before log.aclose: nothing posted is lost
        if settings.audit_sink is not None:  # records streamed to a SIEM, at least once
            await _start_sink(settings, log, stack)

        if settings.agent is None and store is not None and store.engine().policy.default_agent:
            settings = settings.model_copy(update={"agent": store.engine().policy.default_agent})
        changes = ChangeFeed()  # the webhook receiver and events follower publish; resource subscribers hear
        server = build_server(
            settings,
            credentials=credentials,
            policy=policy,
            results=policy,
            audit=audit,
            transport=transport,
            events=events,
            request_state=shared.request_state if shared is not None else None,
            approvals=shared.approvals if shared is not None else None,
            secret_fields=policy.secret_fields if policy is not None else frozenset,
            changes=changes,
            granted=policy_named(store.engine().policy) if store is not None else ((), ()),
        )
        server.gate.telemetry = telemetry
        verifier = None
        if store is not None and any(agent.keys for agent in store.engine().policy.agents.values()):
            # API keys switch on inbound authentication; a policy without keys serves its default agent.
            verifier = APIKeyVerifier(store.agent_for_key)
        remote = None
        if store is not None and store.person_agents() and transport == "http":
            # A policy for signed-in people: box-mcp is an OAuth server for MCP clients (remote sign-in).
            remote = await stack.enter_async_context(RemoteSignIn.open(settings, broker, events))
        webhooks = await _watch(settings, store, broker, box, identities, changes, events, stack, transport)
        console_box = None
        if store is not None and transport == "http" and broker.settings.oauth_client is not None:
            console_box = BoxSignIn(broker, redirect_uri="")  # its callback URL is set with the HTTP app
            stack.push_async_callback(console_box.aclose)
        yield Deployment(
            settings,
            server,
            broker,
            audit,
            store,
            verifier,
            remote,
            telemetry,
            events=events,
            console_secret=shared.key if shared is not None else None,
            console_box=console_box,
            limiter=limiter,
            approval_store=shared.approvals if shared is not None else None,
            changes=changes,
            webhooks=webhooks,
        )


async def _watch(
    settings: Settings,
    store: PolicyStore | None,
    broker: Broker,
    box: BoxClient,
    identities: Identities,
    feed: ChangeFeed,
    events: Events,
    stack: AsyncExitStack,
    transport: TransportKind,
) -> WebhookReceiver | None:
    """BOX_MCP_WATCH: the webhook receiver (HTTP) or the events followers (started now), publishing on
    `feed`; off by default."""
    if settings.watch == "off":
        return None
    from box_mcp.watch.wiring import start_followers, webhook_receiver

    receiver = webhook_receiver(settings, feed, events, stack, transport=transport)
    fallback = None if store is not None else identities(DEFAULT_AGENT, None)
    await start_followers(
        settings,
        policy=store.engine().policy if store is not None else None,
        identity_of=lambda agent: identities(agent, None),
        fallback=fallback,
        broker=broker,
        box=box,
        feed=feed,
        events=events,
        stack=stack,
    )
    return receiver


def policy_named(policy: Policy) -> tuple[frozenset[str], frozenset[str]]:
    """The toolsets and tools the policy's rules name: served beside the default toolsets (so a grant of
    `toolsets: [trash]` serves the trash tools without --toolsets). A reload that names a new one needs a
    restart to serve it."""
    toolsets = frozenset(ts for rule in policy.rules for ts in rule.toolsets or ())
    tools = frozenset(t for rule in policy.rules for t in rule.tools or ())
    return toolsets, tools


__all__ = ["DEFAULT_AGENT", "Deployment", "open_deployment", "policy_named"]
