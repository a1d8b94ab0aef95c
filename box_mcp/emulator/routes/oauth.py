"""OAuth endpoints: the consent page (/oauth2/authorize), /oauth2/token (all five grants), /oauth2/revoke."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import oauth, oauth_jwt
from ..common import box_json, emulator, store
from ..errors import OAuthError

CONSENT_FIELDS = ("client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method")
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Grant access to Box (emulator)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;color:#222}}
h1{{font-size:1.3rem}} label{{display:block;margin:.4rem 0}} .app{{font-weight:600}}
button{{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}} .note{{color:#666;font-size:.85rem}}</style></head>
<body><h1>Grant access to Box</h1>
<p><span class="app">{app_name}</span> wants to access your files and folders in the Box emulator
(scopes: {scopes}).</p>
<form method="post" action="{action}">
<fieldset><legend>Sign in as</legend>{users}</fieldset>
{hidden}
<button type="submit" name="decision" value="approve">Grant access to Box</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form><p class="note">This is a local Box emulator; no password is needed.</p></body></html>
"""


def _consent_mac(request: Request, params: dict[str, str]) -> str:
    message = json.dumps([params.get(k, "") for k in CONSENT_FIELDS]).encode()
    digest = hmac.new(emulator(request).secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _error_page(message: str, status: int = 400) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>Box OAuth error</title><h1>Cannot authorize</h1>"
        f"<p>{html.escape(message)}</p>",
        status_code=status,
    )


def _redirect(redirect_uri: str, params: dict[str, str]) -> RedirectResponse:
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=302)


def _check_client(request: Request, params: dict[str, str]) -> tuple[Any, str] | HTMLResponse:
    """Validate client and redirect URI; failures get a page, never a redirect to an unchecked URI."""
    app = store(request).fetch_one("SELECT * FROM apps WHERE client_id = ?", (params.get("client_id", ""),))
    if app is None or app["kind"] != "oauth":
        return _error_page("Unknown client_id: use the OAuth client id from credentials.json.")
    redirect_uri = params.get("redirect_uri") or json.loads(app["redirect_uris"])[0]
    if not oauth.redirect_allowed(app, redirect_uri):
        return _error_page("redirect_uri is not registered for this client (loopback URIs on any port are).")
    return app, redirect_uri


async def authorize_page(request: Request) -> Response:
    params = {k: v for k, v in request.query_params.items() if k in (*CONSENT_FIELDS, "response_type")}
    checked = _check_client(request, params)
    if isinstance(checked, HTMLResponse):
        return checked
    app, redirect_uri = checked
    state = {"state": params["state"]} if "state" in params else {}
    if params.get("response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", **state})
    try:
        scopes = oauth.requested_scopes(app, params.get("scope"))
    except OAuthError as exc:
        return _redirect(redirect_uri, {"error": exc.error, "error_description": exc.description, **state})
    users = store(request).fetch_all(
        "SELECT id, name, login FROM users "
        "WHERE enterprise_id = ? AND kind = 'managed' AND status = 'active' ORDER BY id",
        (app["enterprise_id"],),
    )
    radios = "".join(
        f'<label><input type="radio" name="user_id" value="{html.escape(u["id"])}"'
        f"{' checked' if i == 0 else ''}>"
        f" {html.escape(u['name'])} &lt;{html.escape(u['login'])}&gt;</label>"
        for i, u in enumerate(users)
    )
    hidden_values = {**params, "redirect_uri": redirect_uri}
    hidden_values["consent"] = _consent_mac(request, hidden_values)
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in hidden_values.items()
        if k != "response_type"
    )
    page = PAGE.format(
        app_name=html.escape(app["name"]),
        scopes=html.escape(" ".join(sorted(scopes))),
        action="/oauth2/authorize",
        users=radios,
        hidden=hidden,
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


async def authorize_decision(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=20) as form:
        params = {k: str(v) for k, v in form.items()}
    checked = _check_client(request, params)
    if isinstance(checked, HTMLResponse):
        return checked
    app, redirect_uri = checked
    if not hmac.compare_digest(params.get("consent", ""), _consent_mac(request, params)):
        return _error_page("This consent form was not issued by this emulator; start the sign-in again.", 403)
    state = {"state": params["state"]} if "state" in params else {}
    if params.get("decision") != "approve":
        return _redirect(redirect_uri, {"error": "access_denied", **state})
    st = store(request)
    user = st.fetch_one(
        "SELECT * FROM users WHERE id = ? AND enterprise_id = ? AND status = 'active' AND kind = 'managed'",
        (params.get("user_id", ""), app["enterprise_id"]),
    )
    if user is None:
        return _error_page("Choose one of the listed users.")
    scopes = oauth.requested_scopes(app, params.get("scope"))
    with st.tx():
        code = oauth.issue_code(
            st,
            app=app,
            user_id=user["id"],
            redirect_uri=redirect_uri,
            scopes=scopes,
            code_challenge=params.get("code_challenge") or None,
            code_challenge_method=params.get("code_challenge_method") or None,
        )
    return _redirect(redirect_uri, {"code": code, **state})


async def _token_form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("application/x-www-form-urlencoded"):
        raise OAuthError("invalid_request", "Token requests must be application/x-www-form-urlencoded")
    async with request.form(max_files=0, max_fields=30) as form:
        data = {k: str(v) for k, v in form.items()}
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic ") and "client_id" not in data:
        try:
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed HTTP Basic client authentication") from None
        data.update(client_id=client_id, client_secret=secret)
    return data


async def token(request: Request) -> Response:
    form = await _token_form(request)
    emu = emulator(request)
    st = emu.store
    grant = form.get("grant_type")
    audiences = (*oauth.JWT_AUDIENCES, f"{emu.origin(request)}/oauth2/token")
    # No transaction: a refused grant must still record what it consumed (a replayed code revokes its
    # tokens). Grants never await, so each runs whole on the event loop, uninterrupted by other requests.
    if grant == "authorization_code":
        body = oauth.grant_authorization_code(st, form, emu.token_ttl)
    elif grant == "refresh_token":
        body = oauth.grant_refresh_token(st, form, emu.token_ttl)
    elif grant == "client_credentials":
        body = oauth.grant_client_credentials(st, form, emu.token_ttl)
    elif grant == oauth.GRANT_JWT:
        body = oauth_jwt.grant_jwt(st, form, emu.token_ttl, audiences)
    elif grant == oauth.GRANT_EXCHANGE:
        body = oauth.grant_token_exchange(st, form)
    else:
        raise OAuthError("invalid_request", "Invalid grant_type parameter or parameter missing")
    return box_json(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def revoke(request: Request) -> Response:
    form = await _token_form(request)
    oauth.revoke_token(store(request), form)
    return Response(status_code=200)


routes: list[BaseRoute] = [
    Route("/oauth2/authorize", authorize_page, methods=["GET"]),
    Route("/api/oauth2/authorize", authorize_page, methods=["GET"]),
    Route("/oauth2/authorize", authorize_decision, methods=["POST"]),
    Route("/oauth2/token", token, methods=["POST"]),
    Route("/oauth2/revoke", revoke, methods=["POST"]),
]
