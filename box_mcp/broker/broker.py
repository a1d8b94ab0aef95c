"""The Broker: which Box identity a call acts as, and a TokenSource for it, narrowed to the call.

The gate asks `token_source(identity, scopes=..., resource=...)` once per call; with a warm cache that
is two dict lookups. Identities come from the policy (IdentitySpec), never from tool arguments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import httpx2

from box_mcp.broker.config import BrokerSettings
from box_mcp.broker.credentials import Credential, DeveloperToken
from box_mcp.broker.downscope import DownscopedSource, check_scopes
from box_mcp.broker.session import DEFAULT_MARGIN, MintingSession, TokenSession, UserGrantSession
from box_mcp.broker.tokens import BoxEndpoints, Clock, TokenEndpoint
from box_mcp.broker.vault import VAULT_FILE, SQLiteVault, VaultStore
from box_mcp.errors import BrokerError, ConfigError, raised_again

if TYPE_CHECKING:
    from box_mcp.box.tokens import TokenSource
    from box_mcp.config import Settings

IdentityKind = Literal["developer_token", "service_account", "as_user", "user_grant", "person"]
_KINDS = ("developer_token", "service_account", "as_user", "user_grant", "person")
MAX_SOURCES = 4096  # cached (identity, scopes, resource) sources; per-item resources make this grow


@dataclass(frozen=True)
class IdentitySpec:
    """What the policy says an agent acts as."""

    kind: IdentityKind
    as_user: str | None = None  # the managed or app user's id, for kind as_user
    # the stored user grant's label, for kind user_grant (default "default"); kind person: the login
    label: str | None = None
    # kind person: the Box user id of the person signed in through box-mcp's OAuth (remote sign-in);
    # their grant is in the vault under `person:<person_id>`
    person_id: str | None = None
    # False: this identity's writes carry `box-notifications: off` (the policy agent's `notifications`)
    notifications: bool = True

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"identity kind {self.kind!r} is not one of {', '.join(_KINDS)}")
        if self.kind == "person" and not (self.person_id and self.person_id.isdigit()):
            raise ConfigError("a person identity needs person_id set to the person's Box user id (digits)")
        if self.kind != "person" and self.person_id is not None:
            raise ConfigError(f"person_id is only meaningful for kind person, not {self.kind}")
        if self.kind == "as_user" and not (self.as_user and self.as_user.isdigit()):
            raise ConfigError("an as_user identity needs as_user set to the Box user id (digits)")
        if self.kind != "as_user" and self.as_user is not None:
            raise ConfigError(f"as_user is only meaningful for kind as_user, not {self.kind}")


def open_vault(settings: Settings) -> VaultStore:
    """The vault `settings` name: PostgreSQL when BOX_MCP_DATABASE_URL is set (shared by every process on
    that database), else the SQLite file in the data dir."""
    if settings.database_url is not None:
        from box_mcp.state.vault import PostgresVault  # loads psycopg only for a deployment that uses it

        return PostgresVault.open(settings.database_url, settings.vault_key)
    return SQLiteVault.open(settings.data_dir, settings.vault_key)


def vault_location(settings: Settings) -> str:
    """Where the vault lives, fit to print (a database URL's password masked)."""
    return settings.database_url_display or str(settings.data_dir / VAULT_FILE)


class Broker:
    """Holds every identity's session and hands out (downscoped) token sources."""

    def __init__(
        self,
        *,
        endpoint: TokenEndpoint,
        settings: BrokerSettings,
        vault_factory: Callable[[], VaultStore],
        downscope: bool = True,
        margin: float = DEFAULT_MARGIN,
        owned_http: httpx2.AsyncClient | None = None,
        step_hook: Callable[[str], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.downscope = downscope
        self._margin = margin
        self._vault_factory = vault_factory
        self._vault: VaultStore | None = None
        self._owned_http = owned_http
        self._step_hook = step_hook
        self._sessions: dict[str, TokenSession] = {}
        self.on_event: Callable[..., object] | None = None  # given to every session (see session._event)
        self._sources: dict[tuple[str, frozenset[str], str | None], DownscopedSource] = {}

    def __repr__(self) -> str:
        return f"Broker(identities={sorted(self._sessions)}, downscope={self.downscope})"

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        downscope: bool | None = None,
        http: httpx2.AsyncClient | None = None,
        clock: Clock = time.time,
        margin: float = DEFAULT_MARGIN,
        step_hook: Callable[[str], None] | None = None,
    ) -> Broker:
        """Build from a deployment's settings (credentials, Box URL, data dir, vault key, downscope;
        `downscope` given overrides the settings'). `http` lets tests inject a transport; otherwise the
        broker owns a client and closes it in `aclose`. `step_hook` is the crash tests' seam: called
        with each step of a refresh-token rotation (session.ROTATION_STEPS)."""
        credentials = BrokerSettings.from_settings(settings)
        owned = None
        if http is None:
            http = owned = httpx2.AsyncClient(timeout=httpx2.Timeout(30.0, connect=10.0))
        endpoint = TokenEndpoint(http, BoxEndpoints.for_box_url(settings.box_url), clock=clock)
        return cls(
            endpoint=endpoint,
            settings=credentials,
            margin=margin,
            downscope=settings.downscope if downscope is None else downscope,
            vault_factory=lambda: open_vault(settings),
            owned_http=owned,
            step_hook=step_hook,
        )

    @property
    def vault(self) -> VaultStore:
        if self._vault is None:  # opened on first need: a developer-token setup never creates a key file
            self._vault = self._vault_factory()
        return self._vault

    def session(self, identity: IdentitySpec) -> TokenSession:
        """The base-token session of an identity (as_user shares the service account's)."""
        key = self._session_key(identity)
        existing = self._sessions.get(key)
        if existing is not None:
            return existing
        session = self._new_session(identity, key)
        session.on_event = self.on_event
        self._sessions[key] = session
        return session

    def _session_key(self, identity: IdentitySpec) -> str:
        if identity.kind == "user_grant":
            return f"user:{identity.label or 'default'}"
        if identity.kind == "person":
            return f"person:{identity.person_id}"
        if identity.kind == "as_user":
            # As-User rides on the service account; with none configured, on an admin's developer token.
            if self.settings.service_account is None and self.settings.developer_token is not None:
                return "developer_token"
            return "service_account"
        return identity.kind

    def _new_session(self, identity: IdentitySpec, key: str) -> TokenSession:
        if identity.kind in ("user_grant", "person"):
            oauth = self.settings.oauth_client
            person = identity.kind == "person"
            return UserGrantSession(
                label=(identity.label or f"Box user {identity.person_id}")
                if person
                else identity.label or "default",
                person_id=identity.person_id if person else None,
                vault=self.vault,
                endpoint=self.endpoint,
                client_id=oauth.client_id if oauth else None,
                client_secret=oauth.client_secret.get_secret_value() if oauth else None,
                margin=self._margin,
                step_hook=self._step_hook,
            )
        credential: Credential
        if key == "developer_token":
            if self.settings.developer_token is None:
                raise ConfigError("this agent acts with a developer token; set BOX_DEVELOPER_TOKEN")
            credential = DeveloperToken(self.settings.developer_token.get_secret_value())
        else:
            service = self.settings.service_account
            if service is None:
                raise ConfigError(
                    "this agent acts as the service account, but no app credentials are set: set "
                    "BOX_JWT_CONFIG_FILE, or BOX_CLIENT_ID + BOX_CLIENT_SECRET + BOX_ENTERPRISE_ID"
                )
            credential = service
        return MintingSession(credential, self.endpoint, key=key, margin=self._margin)

    async def token_source(
        self, identity: IdentitySpec, *, scopes: frozenset[str] | None = None, resource: str | None = None
    ) -> TokenSource:
        """A TokenSource for one call. With downscoping on and scopes given, the token carries only
        those scopes (and only `resource`, a full item URL, when given). Cheap with a warm cache."""
        session = self._sessions.get(self._session_key(identity)) or self.session(identity)
        dead = session.dead
        if dead is not None:  # fail fast: the person has to act, Box need not be asked
            raise raised_again(dead)
        if not self.downscope or not scopes:
            return session
        cache_key = (session.key, scopes, resource)
        source = self._sources.get(cache_key)
        if source is None:
            check_scopes(scopes)
            if resource is not None and not resource.startswith(self.endpoint.endpoints.api_base + "/2.0/"):
                raise BrokerError(f"downscope resource {resource!r} is not an item URL of this Box")
            if len(self._sources) >= MAX_SOURCES:
                for old in list(self._sources)[: MAX_SOURCES // 2]:  # drop the oldest half
                    del self._sources[old]
            source = DownscopedSource(
                session, self.endpoint, scopes=scopes, resource=resource, margin=self._margin
            )
            self._sources[cache_key] = source
        return source

    def signed_in(self, person_id: str) -> None:
        """A person just stored a new Box grant (remote sign-in, `person:<person_id>`): forget their
        session, dead or alive, and its narrowed sources, so the next call reads the vault at once
        (without this, a dead session looks at the vault again only every few seconds)."""
        key = f"person:{person_id}"
        self._sessions.pop(key, None)
        for cached in [k for k in self._sources if k[0] == key]:
            del self._sources[cached]

    def item_resource(self, item_type: str, item_id: str) -> str:
        """The `resource` URL for downscoping to one item (a file, folder or web link)."""
        return self.endpoint.endpoints.item_url(item_type, item_id)

    def as_user_header(self, identity: IdentitySpec) -> str | None:
        """The As-User header value for this identity; only the policy's identity decides it."""
        return identity.as_user if identity.kind == "as_user" else None

    async def aclose(self) -> None:
        if self._vault is not None:
            self._vault.close()
            self._vault = None
        if self._owned_http is not None:
            await self._owned_http.aclose()
            self._owned_http = None
