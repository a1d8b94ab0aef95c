"""The JWT bearer grant: an RS256/384/512 assertion checked against the app key and every claim rule."""

from __future__ import annotations

import base64
import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .errors import OAuthError
from .oauth import JWT_MAX_AHEAD, server_app, subject_user, token_response
from .store import Store, now


def _jwt_header(assertion: str) -> dict[str, Any]:
    try:
        segment = assertion.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, IndexError):
        raise OAuthError("invalid_grant", "The assertion is not a JWT") from None
    if not isinstance(header, dict):
        raise OAuthError("invalid_grant", "The assertion is not a JWT")
    return header


def grant_jwt(store: Store, form: dict[str, str], ttl: int, audiences: tuple[str, ...]) -> dict[str, Any]:
    app = server_app(store, form)
    assertion = form.get("assertion", "")
    header = _jwt_header(assertion)
    key_row = store.fetch_one(
        "SELECT * FROM app_keys WHERE client_id = ? AND kid = ?",
        (app["client_id"], str(header.get("kid", ""))),
    )
    if key_row is None:
        raise OAuthError("invalid_grant", "kid invalid, unable to lookup correct key")
    try:
        token = jwt.decode(
            assertion, RSAKey.import_key(key_row["public_pem"]), algorithms=["RS256", "RS384", "RS512"]
        )
    except (JoseError, ValueError):
        raise OAuthError(
            "invalid_grant",
            "Signature verification error. The public key identified by kid "
            "must correspond to the private key used for signing.",
        ) from None
    claims = token.claims
    if claims.get("iss") != app["client_id"]:
        raise OAuthError("invalid_grant", "Please check the iss claim.")
    if claims.get("aud") not in audiences:
        raise OAuthError("invalid_grant", "Please check the aud claim.")
    exp = claims.get("exp")
    stamp = now()
    if not isinstance(exp, int | float):
        raise OAuthError("invalid_grant", "Please check the exp claim.")
    if exp <= stamp:
        raise OAuthError(
            "invalid_grant",
            "Current date time must be before the expiration date time listed in the exp claim.",
        )
    if exp > stamp + JWT_MAX_AHEAD:
        raise OAuthError("invalid_grant", "Please check the exp claim: it must be at most 60 seconds ahead.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 16 <= len(jti) <= 128:
        raise OAuthError("invalid_grant", "Please check the jti claim. A unique jti value is required.")
    store.execute("DELETE FROM jwt_ids WHERE expires_at < ?", (stamp,))
    if store.fetch_one("SELECT jti FROM jwt_ids WHERE jti = ?", (jti,)) is not None:
        raise OAuthError("invalid_grant", "Please check the jti claim. A unique jti value is required.")
    store.insert("jwt_ids", {"jti": jti, "expires_at": float(exp) + JWT_MAX_AHEAD})
    sub_type = claims.get("box_sub_type")
    user_id = subject_user(store, app, sub_type, str(claims.get("sub", "")), "sub claim")
    return token_response(
        store,
        user_id=user_id,
        grant="jwt",
        scopes=frozenset(app["scopes"].split()),
        ttl=ttl,
        client_id=app["client_id"],
    )
