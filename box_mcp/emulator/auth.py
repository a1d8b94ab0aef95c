"""Bearer tokens: issuing, looking up, expiring and revoking them, and who a request acts as (As-User)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace

from starlette.requests import Request

from .errors import BoxError
from .shared_access import parse_boxapi
from .store import Store, now, sha256_hex

# What a developer token (and an app with every box ticked) may do.
FULL_APP_SCOPES = frozenset(
    {
        "root_readonly",
        "root_readwrite",
        "manage_managed_users",
        "manage_app_users",
        "manage_groups",
        "manage_webhook",
        "manage_enterprise_properties",
        "manage_data_retention",
        "manage_legal_hold",
        "sign_requests.readwrite",
        "ai.readwrite",
    }
)
ADMIN_ROLES = ("admin", "coadmin")


@dataclass(frozen=True)
class Caller:
    """Who a request acts as, and what its token allows."""

    user_id: str  # the user the request acts as (the As-User target when present)
    token_user_id: str  # the user the token was issued to
    grant: str
    client_id: str | None
    scopes: frozenset[str]
    resource: str | None  # downscoped tokens: "file:<id>" or "folder:<id>"
    token_sha256: str
    # From a `boxapi: shared_link=<url>&shared_link_password=<pw>` header: (url, password).
    shared_link: tuple[str, str | None] | None = field(default=None, repr=False)

    @property
    def downscoped(self) -> bool:
        return self.grant == "token_exchange"


def issue_token(
    store: Store,
    *,
    user_id: str,
    grant: str,
    scopes: frozenset[str] | set[str],
    ttl: float,
    kind: str = "access",
    client_id: str | None = None,
    resource: str | None = None,
    parent_sha256: str | None = None,
    extra: dict[str, object] | None = None,
) -> str:
    """Create a token and store only its SHA-256; returns the token itself (shown once)."""
    prefix = {"access": "", "refresh": "", "code": ""}[kind]
    token = store.new_secret(prefix)
    ts = now()
    store.insert(
        "tokens",
        {
            "sha256": sha256_hex(token),
            "kind": kind,
            "grant": grant,
            "user_id": user_id,
            "client_id": client_id,
            "scopes": " ".join(sorted(scopes)),
            "resource": resource,
            "parent_sha256": parent_sha256,
            "extra": json.dumps(extra or {}),
            "created_at": ts,
            "expires_at": ts + ttl,
        },
    )
    return token


def lookup(store: Store, token: str, kind: str = "access") -> sqlite3.Row | None:
    """A live (unexpired, unrevoked) token of that kind, or None. Looked up by hash, never compared raw."""
    row = store.fetch_one("SELECT * FROM tokens WHERE sha256 = ? AND kind = ?", (sha256_hex(token), kind))
    if row is None or row["revoked"] or row["expires_at"] <= now():
        return None
    return row


def revoke(store: Store, token: str) -> bool:
    """Revoke a token and everything derived from it (refresh -> its access tokens, downscoped children)."""
    digest = sha256_hex(token)
    with store.tx():
        changed = store.execute("UPDATE tokens SET revoked = 1 WHERE sha256 = ?", (digest,))
        frontier = [digest]
        while frontier:
            parent = frontier.pop()
            for row in store.fetch_all(
                "SELECT sha256 FROM tokens WHERE parent_sha256 = ? AND revoked = 0", (parent,)
            ):
                store.execute("UPDATE tokens SET revoked = 1 WHERE sha256 = ?", (row["sha256"],))
                frontier.append(row["sha256"])
    return changed > 0


def _unauthorized(code: str, message: str, error: str | None) -> BoxError:
    challenge = 'Bearer realm="Service"'
    if error:
        challenge += f', error="{error}", error_description="{message}"'
    return BoxError(401, code, message, headers={"WWW-Authenticate": challenge})


def authenticate(store: Store, request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header or scheme.lower() != "bearer" or not token:
        raise _unauthorized("unauthorized", "Unauthorized", None)
    row = lookup(store, token)
    if row is None:
        raise _unauthorized("invalid_token", "The access token provided is invalid.", "invalid_token")
    user = store.fetch_one("SELECT id, status FROM users WHERE id = ?", (row["user_id"],))
    if user is None or user["status"] != "active":
        raise _unauthorized("invalid_token", "The access token provided is invalid.", "invalid_token")
    caller = Caller(
        user_id=row["user_id"],
        token_user_id=row["user_id"],
        grant=row["grant"],
        client_id=row["client_id"],
        scopes=frozenset(row["scopes"].split()),
        resource=row["resource"],
        token_sha256=row["sha256"],
    )
    as_user = request.headers.get("as-user")
    if as_user is not None:
        caller = _act_as(store, caller, as_user.strip())
    link = parse_boxapi(request.headers.get("boxapi"))
    if link is not None:  # items reachable through that shared link (permissions.check)
        caller = replace(caller, shared_link=link)
    return caller


def _act_as(store: Store, caller: Caller, target_id: str) -> Caller:
    """As-User: only admins, co-admins and service accounts, never as a service account itself."""
    me = store.fetch_one("SELECT * FROM users WHERE id = ?", (caller.token_user_id,))
    allowed = me is not None and (me["role"] in ADMIN_ROLES or me["kind"] == "service_account")
    if caller.client_id:
        app = store.fetch_one("SELECT can_act_as_user FROM apps WHERE client_id = ?", (caller.client_id,))
        allowed = allowed and (app is None or bool(app["can_act_as_user"]))
    if not allowed:
        raise BoxError(
            403,
            "access_denied_insufficient_permissions",
            "The As-User header requires an admin, co-admin or service account token",
        )
    target = store.fetch_one("SELECT * FROM users WHERE id = ?", (target_id,))
    if target is None or me is None or target["enterprise_id"] != me["enterprise_id"]:
        raise BoxError(400, "bad_request", "As-User must name a user of the caller's enterprise")
    if target["kind"] == "service_account":
        raise BoxError(400, "bad_request", "As-User cannot name a service account")
    if target["status"] != "active":
        raise BoxError(400, "bad_request", "As-User names a user who is not active")
    return Caller(
        user_id=target_id,
        token_user_id=caller.token_user_id,
        grant=caller.grant,
        client_id=caller.client_id,
        scopes=caller.scopes,
        resource=caller.resource,
        token_sha256=caller.token_sha256,
    )
