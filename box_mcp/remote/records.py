"""What an OAuth state store holds and the rules every implementation keeps: the records, the
`OAuthStateStore` interface, lifetimes and caps, hashing, derived client secrets, and the short cache of
access-token lookups. `store.OAuthStore` (SQLite, one process) and `box_mcp.state.oauth.PostgresOAuthStore`
(PostgreSQL, several replicas) differ only in how they keep these, never in what they mean.

Limits are read as module attributes when used (`records.MAX_CLIENTS`), so a test may lower one for both
stores at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from mcp.server.auth.provider import AuthorizationParams
from mcp.shared.auth import OAuthClientInformationFull

PENDING_SECONDS = 600  # a consent page, and the trip to Box and back
CODE_SECONDS = 120
ACCESS_SECONDS = 3600
REFRESH_IDLE_SECONDS = 30 * 86400
REFRESH_MAX_SECONDS = 90 * 86400
UNUSED_CLIENT_SECONDS = 86400  # a registration never used for a token is forgotten after a day
IDLE_CLIENT_SECONDS = 45 * 86400  # outlives an idle refresh token, so that expiry is named first
MAX_CLIENTS = 5000
MAX_REGISTRATIONS_PER_MINUTE = 30
REGISTRATION_WINDOW_SECONDS = 60
ACCESS_PREFIX = "bmcp_at_"
REFRESH_PREFIX = "bmcp_rt_"
CODE_PREFIX = "bmcp_code_"
FAMILY_PREFIX = "fam_"
TOUCH_SECONDS = 60.0
CACHE_SIZE = 1024
CACHE_SECONDS = 2.0  # a revocation by another process (`box-mcp auth logout --person`) applies within this

Clock = Callable[[], float]
Purpose = Literal["authorize", "connect"]


class StoreError(Exception):
    """A refused store operation, in words an OAuth error description can carry."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_id(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)  # 256 bits


def redirect_host(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.hostname or parts.scheme


def derive_client_secret(server_secret: bytes, client_id: str) -> str:
    """A confidential registered client's secret: never stored, derived from the server secret."""
    return hmac.new(server_secret, b"client-secret\0" + client_id.encode(), hashlib.sha256).hexdigest()


def client_expired(created_at: float, last_used_at: float | None, now: float) -> bool:
    """A registration never used for a token lives a day; a used one until it has been idle 45 days."""
    if last_used_at is None:
        return created_at < now - UNUSED_CLIENT_SECONDS
    return last_used_at < now - IDLE_CLIENT_SECONDS


def refresh_until(now: float, family_born: float) -> float:
    """A new refresh token's expiry: idle expiry, capped by the sign-in's maximum age."""
    return min(now + REFRESH_IDLE_SECONDS, family_born + REFRESH_MAX_SECONDS)


def check_registration_caps(recent: int, live: int) -> None:
    if recent >= MAX_REGISTRATIONS_PER_MINUTE:
        raise StoreError("too many registrations, try again in a minute")
    if live >= MAX_CLIENTS:
        raise StoreError("too many registered clients; unused registrations expire after a day")


def client_to_store(info: OAuthClientInformationFull, server_secret: bytes) -> dict[str, Any]:
    """What is kept of a registration: everything but its secret. A confidential client's secret in
    `info` is replaced by the derived one (the caller sends `info` back, so it carries the one that works)."""
    if info.client_secret is not None:
        info.client_secret = derive_client_secret(server_secret, info.client_id or "")
    return info.model_dump(mode="json", exclude={"client_secret"})


def client_from_store(
    data: dict[str, Any], client_id: str, server_secret: bytes
) -> OAuthClientInformationFull:
    client = OAuthClientInformationFull.model_validate(data)
    if client.token_endpoint_auth_method not in (None, "none"):
        client.client_secret = derive_client_secret(server_secret, client_id)
    return client


@dataclass(frozen=True)
class PendingAuthorization:
    """A sign-in in flight: what the client asked (authorize) or whose Box grant to renew (connect)."""

    request_id: str = field(repr=False)
    purpose: Purpose
    client_id: str
    client_name: str | None
    redirect_uri: str
    redirect_uri_provided_explicitly: bool
    state: str | None = field(repr=False)
    scopes: tuple[str, ...]
    code_challenge: str = field(repr=False)
    resource: str | None
    created_at: float
    expires_at: float
    person_id: str | None = None  # connect: the Box user the new grant must belong to
    box_state: str | None = field(default=None, repr=False)  # set by consent
    box_verifier: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class NewPending:
    """The fields of a pending sign-in as `begin_authorization` / `begin_connect` store them."""

    purpose: Purpose
    client_id: str = ""
    client_name: str | None = None
    redirect_uri: str = ""
    redirect_explicit: bool = False
    state: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    code_challenge: str = field(default="", repr=False)
    resource: str | None = None
    person_id: str | None = None

    @classmethod
    def authorize(cls, client: OAuthClientInformationFull, params: AuthorizationParams) -> NewPending:
        return cls(
            "authorize",
            client_id=client.client_id or "",
            client_name=client.client_name,
            redirect_uri=str(params.redirect_uri),
            redirect_explicit=params.redirect_uri_provided_explicitly,
            state=params.state,
            scopes=tuple(params.scopes or ()),
            code_challenge=params.code_challenge,
            resource=params.resource,
        )


@dataclass(frozen=True)
class CodeRecord:
    client_id: str
    person_id: str
    redirect_uri: str
    redirect_uri_provided_explicitly: bool
    code_challenge: str = field(repr=False)
    resource: str | None
    scopes: tuple[str, ...]
    expires_at: float


@dataclass(frozen=True)
class TokenRecord:
    """What an access or refresh token grants: whose sign-in (family), through which client, for what."""

    client_id: str
    person_id: str
    scopes: tuple[str, ...]
    resource: str | None
    expires_at: float
    family_id: str


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class NewTokens:
    """A freshly minted access and refresh token pair, with the hashes and expiries a store keeps."""

    access: str = field(repr=False)
    refresh: str = field(repr=False)
    access_expires_at: float
    refresh_expires_at: float

    @classmethod
    def mint(cls, now: float, family_born: float, access_ttl: int) -> NewTokens:
        return cls(
            new_id(ACCESS_PREFIX), new_id(REFRESH_PREFIX), now + access_ttl, refresh_until(now, family_born)
        )

    def issued(self, access_ttl: int, scopes: tuple[str, ...]) -> IssuedTokens:
        return IssuedTokens(self.access, self.refresh, access_ttl, scopes)


@dataclass(frozen=True)
class PersonRecord:
    box_user_id: str
    login: str | None
    name: str | None
    groups: tuple[str, ...]
    first_seen: float
    last_seen: float
    clients: tuple[str, ...] = ()  # clients with a live token family


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    name: str | None
    kind: Literal["dcr", "cimd"]
    redirect_hosts: tuple[str, ...]
    created_at: float
    last_used_at: float | None


def dcr_client_record(
    client_id: str, data: dict[str, Any], created_at: float, last_used_at: float | None
) -> ClientRecord:
    hosts = tuple(dict.fromkeys(redirect_host(u) for u in data.get("redirect_uris") or []))
    return ClientRecord(client_id, data.get("client_name"), "dcr", hosts, created_at, last_used_at)


def cimd_client_record(client_id: str, last_sign_in: float) -> ClientRecord:
    return ClientRecord(client_id, None, "cimd", (), last_sign_in, last_sign_in)


class AccessCache:
    """Access-token lookups remembered for CACHE_SECONDS, in this process only: the hot path of every
    request. A revocation made elsewhere (another replica, `box-mcp auth logout --person`) is seen here
    once the entry runs out, i.e. within CACHE_SECONDS; one made through this store drops it at once."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[TokenRecord, float]] = OrderedDict()

    def get(self, key: str, now: float) -> tuple[bool, TokenRecord | None]:
        """(known, record): known False means look it up; (True, None) means expired."""
        with self._lock:
            cached = self._entries.get(key)
            if cached is None:
                return False, None
            record, until = cached
            if record.expires_at < now:
                self._entries.pop(key, None)
                return True, None
            return (True, record) if until >= now else (False, None)

    def put(self, key: str, record: TokenRecord, now: float) -> None:
        with self._lock:
            self._entries[key] = (record, now + CACHE_SECONDS)
            while len(self._entries) > CACHE_SIZE:
                self._entries.popitem(last=False)

    def drop_family(self, family_id: str) -> None:
        with self._lock:
            for key, (record, _) in list(self._entries.items()):
                if record.family_id == family_id:
                    del self._entries[key]


class OAuthStateStore(Protocol):
    @property
    def secret(self) -> bytes: ...

    def register_client(self, info: OAuthClientInformationFull) -> None: ...
    def get_client(self, client_id: str) -> OAuthClientInformationFull | None: ...
    def client_secret_for(self, client_id: str) -> str: ...
    def begin_authorization(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str: ...
    def begin_connect(self, person_id: str) -> str: ...
    def pending(self, request_id: str) -> PendingAuthorization | None: ...
    def consent(self, request_id: str, *, box_state: str, box_verifier: str) -> bool: ...
    def take_by_box_state(self, box_state: str) -> PendingAuthorization | None: ...
    def issue_code(self, pending: PendingAuthorization, *, person_id: str) -> str: ...
    def load_code(self, code: str) -> CodeRecord | None: ...
    def redeem_code(self, code: str) -> IssuedTokens: ...
    def load_refresh(self, token: str) -> TokenRecord | None: ...
    def rotate_refresh(self, token: str, scopes: tuple[str, ...]) -> IssuedTokens: ...
    def load_access(self, token: str) -> TokenRecord | None: ...
    def revoke_token(self, token: str) -> bool: ...
    def revoke_person(self, person_id: str) -> int: ...
    def revoke_client(self, client_id: str) -> int: ...
    def upsert_person(
        self, box_user_id: str, login: str | None, name: str | None, groups: tuple[str, ...]
    ) -> None: ...
    def person(self, box_user_id: str) -> PersonRecord | None: ...
    def people(self) -> list[PersonRecord]: ...
    def clients(self) -> list[ClientRecord]: ...
    def touch_person(self, box_user_id: str) -> None: ...
    def forget_person(self, box_user_id: str) -> bool: ...
    def close(self) -> None: ...


# The refusals both stores give, word for word (the OAuth error descriptions clients see).
CODE_UNKNOWN = "authorization code does not exist"
CODE_REPLAYED = "authorization code was already used; the tokens it gave are revoked"
CODE_EXPIRED = "authorization code has expired"
REFRESH_UNKNOWN = "refresh token does not exist or was revoked"
REFRESH_REUSED = "refresh token was already used: every token of this sign-in is revoked; sign in again"
REFRESH_EXPIRED = "refresh token has expired; sign in again"
WHY_CODE_REPLAYED = "authorization code replayed"
WHY_REFRESH_REUSED = "refresh token reused"
WHY_CLIENT_REVOKED_TOKEN = "revoked by the client"
WHY_PERSON_SIGNED_OUT = "the person was signed out"
WHY_CLIENT_REVOKED = "the client was revoked"
