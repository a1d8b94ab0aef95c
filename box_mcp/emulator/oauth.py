"""OAuth 2.0 grants as Box implements them, apart from HTTP: each takes the form, returns the token body.

Grants: authorization_code (+ PKCE), refresh_token (single-use rotation), client_credentials
(box_subject_type/id), JWT bearer (RS256/384/512 against the app's registered key, every claim rule),
and token exchange (downscoping to scopes and optionally one item); the JWT grant is in oauth_jwt.py.
Errors are OAuthError.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from . import items, permissions
from .auth import FULL_APP_SCOPES, Caller, issue_token, lookup
from .errors import BoxError, OAuthError
from .store import Store, now, sha256_hex

REFRESH_TTL = 60 * 24 * 3600
CODE_TTL = 30
JWT_MAX_AHEAD = 60
JWT_AUDIENCES = ("https://api.box.com/oauth2/token",)
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
GRANT_JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRANT_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
# Box's "Scopes for downscoping" table (developer.box.com/guides/api-calls/permissions-and-errors/scopes/),
# item_read from the OpenAPI ResourceScope enum, and the Content Sidebar's item_comment and item_task
# (guides/embed/ui-elements/sidebar/).
DOWNSCOPE_SCOPES = frozenset(
    {
        "base_sidebar",
        "item_comment",
        "item_task",
        "item_preview",
        "item_download",
        "item_upload",
        "item_rename",
        "item_delete",
        "item_share",
        "item_read",
        "base_explorer",
        "base_picker",
        "base_preview",
        "base_upload",
        "annotation_edit",
        "annotation_view_all",
        "annotation_view_self",
    }
)
READONLY_DOWNSCOPES = frozenset(
    {
        "base_sidebar",
        "item_preview",
        "item_download",
        "item_read",
        "base_explorer",
        "base_picker",
        "base_preview",
        "annotation_view_all",
        "annotation_view_self",
    }
)


def app_row(store: Store, client_id: str | None) -> sqlite3.Row:
    row = store.fetch_one("SELECT * FROM apps WHERE client_id = ?", (client_id or "",))
    if row is None:
        raise OAuthError("invalid_client", "The client credentials are invalid")
    return row


def authenticate_client(store: Store, client_id: str | None, client_secret: str | None) -> sqlite3.Row:
    row = app_row(store, client_id)
    given = sha256_hex(client_secret or "")
    if not client_secret or not hmac.compare_digest(given, row["secret_sha256"]):
        raise OAuthError("invalid_client", "The client credentials are invalid")
    return row


def redirect_allowed(app: sqlite3.Row, redirect_uri: str) -> bool:
    """Registered URIs, plus any loopback URI on any port (RFC 8252 section 7.3)."""
    if redirect_uri in json.loads(app["redirect_uris"]):
        return True
    parts = urlsplit(redirect_uri)
    return (
        parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1") and not parts.fragment
    )


def token_response(
    store: Store,
    *,
    user_id: str,
    grant: str,
    scopes: frozenset[str],
    ttl: int,
    client_id: str | None,
    with_refresh: bool = False,
    resource: str | None = None,
    parent: str | None = None,
    restricted_to: list[dict[str, Any]] | None = None,
    issued_type: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {"token_type": "bearer", "restricted_to": restricted_to or []}
    refresh_sha = None
    if with_refresh:
        refresh = issue_token(
            store,
            user_id=user_id,
            grant=grant,
            scopes=scopes,
            ttl=REFRESH_TTL,
            kind="refresh",
            client_id=client_id,
            parent_sha256=parent,
        )
        refresh_sha = sha256_hex(refresh)
        body["refresh_token"] = refresh
    body["access_token"] = issue_token(
        store,
        user_id=user_id,
        grant=grant,
        scopes=scopes,
        ttl=ttl,
        client_id=client_id,
        resource=resource,
        parent_sha256=refresh_sha or parent,
    )
    body["expires_in"] = int(ttl)
    if issued_type:
        body["issued_token_type"] = ACCESS_TOKEN_TYPE
    return body


def requested_scopes(app: sqlite3.Row, scope: str | None) -> frozenset[str]:
    allowed = frozenset(app["scopes"].split())
    if not scope:
        return allowed
    wanted = frozenset(scope.split())
    if not wanted <= allowed:
        extra = ", ".join(sorted(wanted - allowed))
        raise OAuthError("invalid_scope", f"The requested scope is not allowed for this app: {extra}")
    return wanted


def grant_authorization_code(store: Store, form: dict[str, str], ttl: int) -> dict[str, Any]:
    app = authenticate_client(store, form.get("client_id"), form.get("client_secret"))
    code = form.get("code", "")
    row = store.fetch_one("SELECT * FROM tokens WHERE sha256 = ? AND kind = 'code'", (sha256_hex(code),))
    if row is None or row["client_id"] != app["client_id"] or row["revoked"]:
        raise OAuthError("invalid_grant", "Auth code doesn't exist or is invalid for the client")
    if row["used"]:
        # A replayed code revokes what it produced (RFC 6749 4.1.2).
        store.execute("UPDATE tokens SET revoked = 1 WHERE parent_sha256 = ?", (row["sha256"],))
        raise OAuthError("invalid_grant", "Auth code has already been used")
    if row["expires_at"] <= now():
        raise OAuthError("invalid_grant", "The authorization code has expired.")
    extra = json.loads(row["extra"])
    if extra.get("redirect_uri") and form.get("redirect_uri", extra["redirect_uri"]) != extra["redirect_uri"]:
        raise OAuthError("invalid_grant", "redirect_uri does not match the one used to authorize")
    challenge = extra.get("code_challenge")
    if challenge:
        verifier = form.get("code_verifier", "")
        if not verifier:
            raise OAuthError("invalid_grant", "code_verifier is required (PKCE)")
        if extra.get("code_challenge_method", "plain") == "S256":
            computed = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            )
        else:
            computed = verifier
        if not hmac.compare_digest(computed, challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    store.execute("UPDATE tokens SET used = 1 WHERE sha256 = ?", (row["sha256"],))
    return token_response(
        store,
        user_id=row["user_id"],
        grant="authorization_code",
        scopes=frozenset(row["scopes"].split()),
        ttl=ttl,
        client_id=app["client_id"],
        with_refresh=True,
        parent=row["sha256"],
    )


def grant_refresh_token(store: Store, form: dict[str, str], ttl: int) -> dict[str, Any]:
    app = authenticate_client(store, form.get("client_id"), form.get("client_secret"))
    token = form.get("refresh_token", "")
    row = store.fetch_one("SELECT * FROM tokens WHERE sha256 = ? AND kind = 'refresh'", (sha256_hex(token),))
    if row is None or row["client_id"] != app["client_id"] or row["revoked"] or row["used"]:
        raise OAuthError("invalid_grant", "Invalid refresh token")
    if row["expires_at"] <= now():
        raise OAuthError("invalid_grant", "Refresh token has expired")
    # Single use: the old refresh token dies now; its access tokens live out their lifetime.
    store.execute("UPDATE tokens SET used = 1 WHERE sha256 = ?", (row["sha256"],))
    return token_response(
        store,
        user_id=row["user_id"],
        grant=row["grant"],
        scopes=frozenset(row["scopes"].split()),
        ttl=ttl,
        client_id=app["client_id"],
        with_refresh=True,
        parent=row["sha256"],
    )


def server_app(store: Store, form: dict[str, str]) -> sqlite3.Row:
    app = authenticate_client(store, form.get("client_id"), form.get("client_secret"))
    if app["kind"] != "server":
        raise OAuthError("unauthorized_client", "The grant type is unauthorized for this client_id.")
    return app


def subject_user(store: Store, app: sqlite3.Row, sub_type: str | None, sub_id: str | None, what: str) -> str:
    """The user a server-auth token is for: the service account (enterprise) or a user of the enterprise."""
    if sub_type == "enterprise":
        if sub_id != app["enterprise_id"]:
            raise OAuthError("invalid_grant", f"Please check the {what}: it must be your enterprise id")
        return str(app["service_account_id"])
    if sub_type == "user":
        user = store.fetch_one("SELECT * FROM users WHERE id = ?", (sub_id or "",))
        if user is None or user["enterprise_id"] != app["enterprise_id"] or user["kind"] == "service_account":
            raise OAuthError("invalid_grant", f"Please check the {what}: no such user in your enterprise")
        if user["status"] != "active":
            raise OAuthError("invalid_grant", "The user is not active")
        return str(user["id"])
    raise OAuthError("invalid_request", "box_subject_type must be 'enterprise' or 'user'")


def grant_client_credentials(store: Store, form: dict[str, str], ttl: int) -> dict[str, Any]:
    app = server_app(store, form)
    user_id = subject_user(
        store, app, form.get("box_subject_type"), form.get("box_subject_id"), "box_subject_id"
    )
    return token_response(
        store,
        user_id=user_id,
        grant="client_credentials",
        scopes=frozenset(app["scopes"].split()),
        ttl=ttl,
        client_id=app["client_id"],
    )


def parse_resource(resource: str) -> tuple[str, str]:
    """`https://api.box.com/2.0/files/123` (any origin) -> ("file", "123")."""
    path = urlsplit(resource).path.rstrip("/")
    parts = path.split("/")
    if len(parts) >= 4 and parts[-3] == "2.0" and parts[-2] in ("files", "folders") and parts[-1].isdigit():
        return parts[-2][:-1], parts[-1]
    raise OAuthError(
        "invalid_request",
        "resource must be the full API URL of one file or folder, e.g. https://api.box.com/2.0/folders/123",
    )


def shared_link_item(store: Store, url: str) -> sqlite3.Row | None:
    """The active item a shared-link URL (`<origin>/s/<token>`) points at, if any."""
    token = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if not token:
        return None
    for row in store.fetch_all("SELECT * FROM items WHERE shared_link IS NOT NULL AND status = 'active'"):
        if json.loads(row["shared_link"]).get("token") == token:
            return row
    return None


def grant_token_exchange(store: Store, form: dict[str, str]) -> dict[str, Any]:
    if form.get("subject_token_type") != ACCESS_TOKEN_TYPE:
        raise OAuthError("invalid_request", f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
    parent = lookup(store, form.get("subject_token", ""))
    if parent is None:
        raise OAuthError("invalid_grant", "The subject_token is invalid, expired or revoked")
    parent_scopes = frozenset(parent["scopes"].split())
    wanted = frozenset((form.get("scope") or "").split())
    if not wanted:
        raise OAuthError("invalid_request", "scope is required: the space-separated scopes of the new token")
    unknown = wanted - DOWNSCOPE_SCOPES - FULL_APP_SCOPES
    if unknown:
        raise OAuthError("invalid_scope", f"Unknown scope(s): {', '.join(sorted(unknown))}")
    if parent["grant"] == "token_exchange":
        allowed = parent_scopes  # never wider than the token it came from
    elif "root_readwrite" in parent_scopes:
        allowed = parent_scopes | DOWNSCOPE_SCOPES
    elif "root_readonly" in parent_scopes:
        allowed = parent_scopes | READONLY_DOWNSCOPES
    else:
        allowed = parent_scopes
    if not wanted <= allowed:
        extra = ", ".join(sorted(wanted - allowed))
        raise OAuthError("invalid_scope", f"The requested scopes exceed those of the subject_token: {extra}")
    resource = None
    restricted: list[dict[str, Any]] = []
    if form.get("resource") and form.get("box_shared_link"):
        raise OAuthError("invalid_request", "Pass either resource or box_shared_link, not both")
    if form.get("resource") or form.get("box_shared_link"):
        if form.get("resource"):
            item_type, item_id = parse_resource(form["resource"])
            row = items.get(store, item_id, item_type)
        else:
            row = shared_link_item(store, form["box_shared_link"])
            item_type, item_id = (row["type"], row["id"]) if row is not None else ("", "")
        caller = Caller(
            user_id=parent["user_id"],
            token_user_id=parent["user_id"],
            grant=parent["grant"],
            client_id=parent["client_id"],
            scopes=parent_scopes,
            resource=parent["resource"],
            token_sha256=parent["sha256"],
        )
        if (
            row is None
            or not permissions.resource_allows(store, caller, row)
            or permissions.role_on(store, caller.user_id, row) is None
        ):
            raise OAuthError(
                "invalid_resource", "The resource does not exist or the subject token cannot reach it"
            )
        resource = f"{item_type}:{item_id}"
        mini = {
            "type": row["type"],
            "id": row["id"],
            "sequence_id": str(row["sequence_id"]),
            "etag": str(row["etag"]),
            "name": row["name"],
        }
        restricted = [{"scope": s, "object": mini} for s in sorted(wanted)]
    elif parent["resource"]:
        resource = parent["resource"]  # an exchange never widens the item a token is bound to
    remaining = max(1, int(parent["expires_at"] - now()))
    return token_response(
        store,
        user_id=parent["user_id"],
        grant="token_exchange",
        scopes=wanted,
        ttl=remaining,
        client_id=parent["client_id"],
        resource=resource,
        parent=parent["sha256"],
        restricted_to=restricted,
        issued_type=True,
    )


def revoke_token(store: Store, form: dict[str, str]) -> None:
    """Revoke an access or refresh token and the whole grant it belongs to (Box logs the user out)."""
    app = authenticate_client(store, form.get("client_id"), form.get("client_secret"))
    digest = sha256_hex(form.get("token", ""))
    row = store.fetch_one("SELECT * FROM tokens WHERE sha256 = ?", (digest,))
    if row is None or (row["client_id"] is not None and row["client_id"] != app["client_id"]):
        return  # RFC 7009: unknown tokens, and other clients' tokens, are answered alike and left alone
    top = digest
    if row["kind"] == "access" and row["parent_sha256"]:
        parent = store.fetch_one(
            "SELECT * FROM tokens WHERE sha256 = ? AND kind = 'refresh'", (row["parent_sha256"],)
        )
        if parent is not None:
            top = parent["sha256"]
    with store.tx():
        frontier = [top]
        store.execute("UPDATE tokens SET revoked = 1 WHERE sha256 = ?", (top,))
        while frontier:
            current = frontier.pop()
            for child in store.fetch_all("SELECT sha256 FROM tokens WHERE parent_sha256 = ?", (current,)):
                store.execute("UPDATE tokens SET revoked = 1 WHERE sha256 = ?", (child["sha256"],))
                frontier.append(child["sha256"])


def issue_code(
    store: Store,
    *,
    app: sqlite3.Row,
    user_id: str,
    redirect_uri: str,
    scopes: frozenset[str],
    code_challenge: str | None,
    code_challenge_method: str | None,
) -> str:
    method = code_challenge_method or ("plain" if code_challenge else None)
    if method not in (None, "plain", "S256"):
        raise BoxError(400, "bad_request", "code_challenge_method must be S256 or plain")
    return issue_token(
        store,
        user_id=user_id,
        grant="authorization_code",
        scopes=scopes,
        ttl=CODE_TTL,
        kind="code",
        client_id=app["client_id"],
        extra={
            "redirect_uri": redirect_uri,
            "code_challenge": code_challenge,
            "code_challenge_method": method,
        },
    )
