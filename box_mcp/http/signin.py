"""The browser side of remote sign-in: box-mcp's consent page, the return from Box, the connect page.

    MCP client -> /authorize (SDK) -> /oauth/consent (this page: who asks, where the answer goes, which
    policy agent) -> Box's sign-in (box-mcp's Box app) -> /oauth/box/callback (the Box grant goes into
    the vault under the Box user id) -> the client's redirect URI with box-mcp's own code and `iss`.

`/connect/box` re-runs only the Box part for a person whose Box grant is gone (revoked at Box, expired):
the link a tool call hands out (URL-mode elicitation) names an opaque request, no person, and the Box
account that signs in must be the one the request was made for, or nothing is stored.

Every form carries a CSRF token bound to a `__Host-` cookie of the browser that loaded the page and to
the one pending request; the return from Box must come back to the browser that left (a second
`__Host-` cookie bound to Box's `state`), once. Pages cannot be framed (`frame-ancestors 'none'`) and
load nothing. No Box token, client secret or code is ever put in a page or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp.server.auth.provider import construct_redirect_uri
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from box_mcp.broker.broker import Broker
from box_mcp.broker.oauth import authorization_request
from box_mcp.broker.tokens import Token, TokenRequestError
from box_mcp.broker.vault import GrantRecord
from box_mcp.errors import BoxMCPError, ConfigError
from box_mcp.events import Events
from box_mcp.http.oauth import RemoteURLs, with_iss
from box_mcp.identity import Person
from box_mcp.remote.records import OAuthStateStore, PendingAuthorization

log = logging.getLogger(__name__)

CONSENT_PATH = "/oauth/consent"
BOX_CALLBACK_PATH = "/oauth/box/callback"
CONNECT_PATH = "/connect/box"
CSRF_COOKIE = "__Host-bmcp_csrf"
FLOW_COOKIE = "__Host-bmcp_flow"
FLOW_SECONDS = 600
MAX_FORM_FIELDS = 10


def person_key(box_user_id: str) -> str:
    """The vault key of a signed-in person's Box grant."""
    return f"person:{box_user_id}"


@dataclass(frozen=True)
class BoxAccount:
    """Who signed in to Box, and the grant Box gave box-mcp for them (never shown to anyone)."""

    user_id: str
    login: str | None
    name: str | None
    groups: tuple[str, ...]
    token: Token

    def __repr__(self) -> str:
        return f"BoxAccount(user_id={self.user_id!r})"


class BoxSignIn:
    """Box's half: box-mcp's Box OAuth app sends the person to Box and redeems what comes back."""

    def __init__(self, broker: Broker, *, redirect_uri: str, http: httpx2.AsyncClient | None = None) -> None:
        oauth = broker.settings.oauth_client
        if oauth is None:
            raise ConfigError(
                "remote sign-in needs box-mcp's Box OAuth app: set BOX_OAUTH_CLIENT_ID and "
                "BOX_OAUTH_CLIENT_SECRET"
            )
        self._broker = broker
        self._client_id = oauth.client_id
        self._secret = oauth.client_secret
        self.redirect_uri = redirect_uri
        self._http = http or httpx2.AsyncClient(timeout=httpx2.Timeout(20.0, connect=10.0))

    def __repr__(self) -> str:
        return f"BoxSignIn(redirect_uri={self.redirect_uri!r})"

    @property
    def authorize_origin(self) -> str:
        parts = urlsplit(self._broker.endpoint.endpoints.authorize_url)
        return f"{parts.scheme}://{parts.netloc}"

    def start(self) -> tuple[str, str, str]:
        """(Box authorize URL, state, PKCE verifier) for one sign-in."""
        request = authorization_request(
            self._broker.endpoint.endpoints.authorize_url,
            client_id=self._client_id,
            redirect_uri=self.redirect_uri,
        )
        return request.url, request.state, request.code_verifier

    async def finish(self, code: str, verifier: str) -> BoxAccount:
        """Redeem Box's code (PKCE), then ask Box who this is and which groups they are in."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self._client_id,
            "client_secret": self._secret.get_secret_value(),
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        token = await self._broker.endpoint.request(form, what="redeeming the Box sign-in")
        if token.refresh_token is None:
            raise BoxMCPError(
                "Box returned no refresh token for the sign-in; check the Box OAuth app's settings"
            )
        api = self._broker.endpoint.endpoints.api_base
        headers = {"Authorization": f"Bearer {token.access_token}"}
        me = await self._http.get(f"{api}/2.0/users/me", params={"fields": "id,login,name"}, headers=headers)
        body = me.json() if me.status_code == 200 else {}
        user_id = _printable(body.get("id"), 40)
        if not user_id.isdigit():
            raise BoxMCPError(f"Box did not say who signed in (users/me answered {me.status_code})")
        groups: list[str] = []
        got = await self._http.get(
            f"{api}/2.0/users/{user_id}/memberships", params={"limit": "1000"}, headers=headers
        )
        if got.status_code == 200:
            for entry in (got.json().get("entries") or [])[:1000]:
                group_id = _printable((entry.get("group") or {}).get("id"), 40)
                if group_id.isdigit():
                    groups.append(group_id)
        return BoxAccount(
            user_id=user_id,
            login=_printable(body.get("login"), 200) or None,
            name=_printable(body.get("name"), 200) or None,
            groups=tuple(groups),
            token=token,
        )

    async def keep(self, account: BoxAccount) -> None:
        """Store the grant in the vault under the Box user id (replacing an older one)."""
        record = GrantRecord(
            key=person_key(account.user_id),
            kind="user_grant",
            access_token=account.token.access_token,
            access_expires_at=account.token.expires_at,
            refresh_token=account.token.refresh_token,
            client_id=self._client_id,
            user_id=account.user_id,
            user_login=account.login,
        )
        vault = self._broker.vault
        await anyio.to_thread.run_sync(lambda: vault.put(record, expect_generation=None))
        self._broker.signed_in(account.user_id)  # a session that had given up reads the vault again now

    async def discard(self, account: BoxAccount) -> None:
        """Revoke a grant box-mcp will not keep (the policy admits nobody, the wrong account)."""
        await self.revoke_tokens(account.token.refresh_token, account.token.access_token)

    async def revoke_tokens(self, *tokens: str | None) -> None:
        for token in tokens:
            if token:
                try:
                    await self._broker.endpoint.revoke(
                        token=token, client_id=self._client_id, client_secret=self._secret.get_secret_value()
                    )
                except (TokenRequestError, BoxMCPError) as exc:
                    log.warning("revoking a Box token at Box failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        await self._http.aclose()


class SignInPages:
    """The routes of the browser side. `agent_for_person` and `describe_agents` come from the policy."""

    def __init__(
        self,
        *,
        store: OAuthStateStore,
        urls: RemoteURLs,
        box: BoxSignIn,
        agent_for_person: Callable[[Person], str | None],
        person_agents: Callable[[], list[tuple[str, str]]],
        events: Events,
    ) -> None:
        self.store = store
        self.urls = urls
        self.box = box
        self.agent_for_person = agent_for_person
        self.person_agents = person_agents  # [(name, description)] of the policy's acts_as: person agents
        self.events = events

    def routes(self) -> list[BaseRoute]:
        return [
            Route(CONSENT_PATH, self.consent_page, methods=["GET"]),
            Route(CONSENT_PATH, self.consent_answer, methods=["POST"]),
            Route(BOX_CALLBACK_PATH, self.box_callback, methods=["GET"]),
            Route(CONNECT_PATH, self.connect_page, methods=["GET"]),
            Route(CONNECT_PATH, self.connect_answer, methods=["POST"]),
        ]

    def connect_url(self, person_id: str) -> str:
        """A fresh link to reconnect this person's Box account (opaque: no person in it)."""
        return f"{self.urls.page(CONNECT_PATH)}?request={self.store.begin_connect(person_id)}"

    # -- the consent page --------------------------------------------------------------------------

    async def consent_page(self, request: Request) -> Response:
        pending = self._pending(request.query_params.get("request", ""), "authorize")
        if pending is None:
            return self._gone()
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        client = await self._client_facts(pending)
        agents = self.person_agents()
        if len(agents) == 1:
            description = agents[0][1].strip().rstrip(".")
            agent_line = f"<b>{_e(agents[0][0])}</b>" + (f" ({_e(description)})" if description else "")
        else:
            agent_line = (
                "the one of "
                + ", ".join(f"<b>{_e(a)}</b>" for a, _ in agents)
                + " the policy gives your Box account"
            )
        body = f"""
<h1>Connect {_e(client["name"])} to Box through box-mcp</h1>
<p class="lead">An application wants to use box-mcp's Box tools on your behalf.</p>
<table>
<tr><th>Application</th><td>{_e(client["name"])} <span class="muted">({_e(client["how"])})</span></td></tr>
<tr><th>Client id</th><td><code>{_e(pending.client_id)}</code></td></tr>
<tr><th>Answer goes to</th><td><code>{_e(client["redirect_host"])}</code></td></tr>
<tr><th>Box identity</th><td>the Box account you sign in with next:
box-mcp acts as that user, never as anyone else</td></tr>
<tr><th>Policy agent</th><td>{agent_line}; the policy decides what it may do, folder by folder</td></tr>
<tr><th>Access</th><td>box-mcp's Box tools, as the policy allows (scope
<code>{_e(" ".join(pending.scopes) or "box")}</code>), until you sign out or an administrator
revokes it</td></tr>
</table>
<p>Only continue if you started this from {_e(client["name"])} yourself.</p>
<form method="post" action="{CONSENT_PATH}">
<input type="hidden" name="request" value="{_e(pending.request_id)}">
<input type="hidden" name="csrf" value="{self._csrf(pending.request_id, cookie)}">
<button type="submit" name="decision" value="approve" class="primary">Continue to Box sign-in</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>"""
        response = _page("Connect to Box — box-mcp", body, form_targets=self._form_targets(pending))
        _set_cookie(response, CSRF_COOKIE, cookie, max_age=FLOW_SECONDS)
        return response

    async def consent_answer(self, request: Request) -> Response:
        form = await _form(request)
        pending = self._pending(form.get("request", ""), "authorize")
        if pending is None:
            return self._gone()
        if not self._csrf_ok(request, pending.request_id, form.get("csrf", "")):
            return _page("Not accepted — box-mcp", _CSRF_TEXT, status=403)
        if form.get("decision") != "approve":
            self.events.post("sign_in", detail={"step": "consent_denied", "client_id": pending.client_id})
            # Answered: the request cannot be consented to afterwards (its Box state leads nowhere).
            self.store.consent(pending.request_id, box_state=secrets.token_urlsafe(32), box_verifier="")
            return self._to_client(pending, error="access_denied", description="the person denied access")
        return self._to_box(pending)

    # -- the connect page (a person whose Box grant is gone) ---------------------------------------

    async def connect_page(self, request: Request) -> Response:
        pending = self._pending(request.query_params.get("request", ""), "connect")
        if pending is None:
            return self._gone()
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        body = f"""
<h1>Reconnect box-mcp to Box</h1>
<p class="lead">An agent working for you through box-mcp needs your Box account again (the earlier
sign-in was revoked or has expired).</p>
<p>Sign in to Box as the same Box account you connected before. If you sign in as anyone else, box-mcp
stores nothing.</p>
<form method="post" action="{CONNECT_PATH}">
<input type="hidden" name="request" value="{_e(pending.request_id)}">
<input type="hidden" name="csrf" value="{self._csrf(pending.request_id, cookie)}">
<button type="submit" name="decision" value="approve" class="primary">Continue to Box sign-in</button>
</form>"""
        response = _page("Reconnect Box — box-mcp", body, form_targets=[self.box.authorize_origin])
        _set_cookie(response, CSRF_COOKIE, cookie, max_age=FLOW_SECONDS)
        return response

    async def connect_answer(self, request: Request) -> Response:
        form = await _form(request)
        pending = self._pending(form.get("request", ""), "connect")
        if pending is None:
            return self._gone()
        if not self._csrf_ok(request, pending.request_id, form.get("csrf", "")):
            return _page("Not accepted — box-mcp", _CSRF_TEXT, status=403)
        return self._to_box(pending)

    # -- back from Box ------------------------------------------------------------------------------

    async def box_callback(self, request: Request) -> Response:
        query = request.query_params
        state = query.get("state", "")
        flow = request.cookies.get(FLOW_COOKIE, "")
        if not state or not hmac.compare_digest(flow.encode(), self._flow_mac(state).encode()):
            return _page(
                "Sign-in not accepted — box-mcp",
                "<h1>This sign-in did not start in this browser</h1><p>Start again from your MCP client.</p>",
                status=400,
            )
        pending = self.store.take_by_box_state(state)  # single use: a replayed return finds nothing
        if pending is None:
            return self._gone()
        if "error" in query or not query.get("code"):
            step = "box_denied" if query.get("error") == "access_denied" else "box_error"
            self.events.post("sign_in", detail={"step": step, "client_id": pending.client_id})
            if pending.purpose == "connect":
                return _page(
                    "Not connected — box-mcp", "<h1>Box did not grant access</h1><p>Nothing was stored.</p>"
                )
            return self._to_client(pending, error="access_denied", description="Box did not grant access")
        try:
            account = await self.box.finish(query["code"], pending.box_verifier or "")
        except (BoxMCPError, httpx2.HTTPError, ValueError) as exc:
            log.warning("finishing a Box sign-in failed: %s", exc)
            if pending.purpose == "connect":
                return _page(
                    "Not connected — box-mcp", "<h1>The Box sign-in failed</h1><p>Try again.</p>", status=502
                )
            return self._to_client(
                pending, error="server_error", description="the Box sign-in could not be completed"
            )
        if pending.purpose == "connect":
            return await self._connected(pending, account)
        person = Person(
            box_user_id=account.user_id,
            login=account.login,
            name=account.name,
            groups=account.groups,
            client_id=pending.client_id,
            client_name=pending.client_name,
            redirect_host=urlsplit(pending.redirect_uri).hostname,
        )
        agent = self.agent_for_person(person)
        if agent is None:
            await self.box.discard(account)
            self.events.post(
                "sign_in",
                detail={
                    "step": "refused",
                    "client_id": pending.client_id,
                    "box_user_id": account.user_id,
                    "login": account.login,
                },
            )
            return self._to_client(
                pending,
                error="access_denied",
                description="box-mcp's policy gives this Box account no access through this client",
            )
        await self.box.keep(account)
        self.store.upsert_person(account.user_id, account.login, account.name, account.groups)
        code = self.store.issue_code(pending, person_id=account.user_id)
        self.events.post(
            "sign_in",
            agent=agent,
            detail={
                "step": "signed_in",
                "client_id": pending.client_id,
                "client_name": pending.client_name,
                "box_user_id": account.user_id,
                "login": account.login,
            },
        )
        response = self._to_client(pending, code=code)
        response.delete_cookie(FLOW_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    async def _connected(self, pending: PendingAuthorization, account: BoxAccount) -> Response:
        if account.user_id != pending.person_id:
            await self.box.discard(account)
            self.events.post(
                "sign_in",
                detail={
                    "step": "reconnect_wrong_account",
                    "box_user_id": pending.person_id,
                    "signed_in_as": account.user_id,
                },
            )
            return _page(
                "Not connected — box-mcp",
                "<h1>That is a different Box account</h1><p>This link reconnects the Box account the request "
                "was made for. You signed in as someone else, so nothing was stored. Sign out of Box and try "
                "again, or ask your agent for a new link.</p>",
                status=403,
            )
        await self.box.keep(account)
        self.store.upsert_person(account.user_id, account.login, account.name, account.groups)
        self.events.post(
            "sign_in", detail={"step": "reconnected", "box_user_id": account.user_id, "login": account.login}
        )
        return _page(
            "Connected — box-mcp",
            "<h1>Box is connected again</h1><p>Go back to your MCP client and retry; you can "
            "close this window.</p>",
        )

    # -- helpers ------------------------------------------------------------------------------------

    def _to_box(self, pending: PendingAuthorization) -> Response:
        url, state, verifier = self.box.start()
        if not self.store.consent(pending.request_id, box_state=state, box_verifier=verifier):
            return self._gone()
        self.events.post(
            "sign_in",
            detail={
                "step": "consented" if pending.purpose == "authorize" else "reconnect_started",
                "client_id": pending.client_id,
            },
        )
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        _set_cookie(response, FLOW_COOKIE, self._flow_mac(state), max_age=FLOW_SECONDS)
        return response

    def _to_client(
        self,
        pending: PendingAuthorization,
        *,
        code: str | None = None,
        error: str | None = None,
        description: str | None = None,
    ) -> Response:
        params: dict[str, str | None] = {"state": pending.state}
        if code is not None:
            params["code"] = code
        else:
            params["error"] = error
            params["error_description"] = description
        target = with_iss(construct_redirect_uri(pending.redirect_uri, **params), self.urls.issuer)
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})

    def _pending(self, request_id: str, purpose: str) -> PendingAuthorization | None:
        if not request_id or len(request_id) > 200:
            return None
        pending = self.store.pending(request_id)
        if pending is None or pending.purpose != purpose or pending.box_state is not None:
            return None  # unknown, expired, or already on its way to Box (a form is answered once)
        return pending

    async def _client_facts(self, pending: PendingAuthorization) -> dict[str, str]:
        verified = pending.client_id.startswith(("https://", "http://"))
        host = urlsplit(pending.redirect_uri).hostname or pending.redirect_uri.split(":", 1)[0]
        name = (
            pending.client_name
            or (urlsplit(pending.client_id).hostname if verified else None)
            or "An MCP client"
        )
        how = (
            f"described by {urlsplit(pending.client_id).hostname}"
            if verified
            else "registered itself: its name is not verified"
        )
        return {"name": name, "how": how, "redirect_host": host}

    def _form_targets(self, pending: PendingAuthorization) -> list[str]:
        parts = urlsplit(pending.redirect_uri)
        client = (
            f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else f"{parts.scheme}:"
        )
        return [self.box.authorize_origin, client]

    def _mac(self, *parts: str) -> str:
        message = "\0".join(parts).encode("utf-8")
        return hmac.new(self.store.secret, message, hashlib.sha256).hexdigest()

    def _csrf(self, request_id: str, cookie: str) -> str:
        return self._mac("csrf", request_id, cookie)

    def _csrf_ok(self, request: Request, request_id: str, given: str) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie or not given:
            return False
        return hmac.compare_digest(given.encode(), self._csrf(request_id, cookie).encode())

    def _flow_mac(self, state: str) -> str:
        return self._mac("flow", state)

    def _gone(self) -> Response:
        return _page(
            "Expired — box-mcp",
            "<h1>This sign-in has expired or was already used</h1><p>Start again from your MCP client.</p>",
            status=400,
        )


_CSRF_TEXT = (
    "<h1>This form was not accepted</h1><p>It did not come from the page box-mcp showed in this browser "
    "(or that page is too old). Start again from your MCP client.</p>"
)

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d232a}"
    "h1{font-size:1.35rem;margin-bottom:.3rem}.lead{color:#444}"
    "table{border-collapse:collapse;margin:1rem 0;width:100%}"
    "th{text-align:left;vertical-align:top;padding:.35rem 1rem .35rem 0;color:#555;font-weight:600;"
    "white-space:nowrap}"
    "td{padding:.35rem 0}code{background:#f2f4f7;padding:.05rem .3rem;border-radius:3px;word-break:break-all}"
    ".muted{color:#777}button{font:inherit;padding:.55rem 1.2rem;margin:.5rem .5rem 0 0;border-radius:6px;"
    "border:1px solid #bbb;background:#fff;cursor:pointer}"
    "button.primary{background:#0061d5;border-color:#0061d5;color:#fff}"
    "footer{margin-top:2.5rem;color:#888;font-size:.85rem}"
)


def _page(title: str, body: str, *, status: int = 200, form_targets: list[str] | None = None) -> HTMLResponse:
    form_action = " ".join(["'self'", *(form_targets or [])])
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body>{body}<footer>box-mcp: governed access to Box for AI agents</footer></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=headers)


def _set_cookie(response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="lax")


async def _form(request: Request) -> dict[str, str]:
    async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
        return {k: v for k, v in form.items() if isinstance(v, str)}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _printable(value: object, limit: int) -> str:
    """Box's text is untrusted: no control characters, bounded."""
    return "".join(ch for ch in str(value or "") if ch.isprintable())[:limit]
