"""The web console at /console: server-rendered pages (Jinja2) for the audit, approvals, agents, policy,
agent sandboxes and Box identities, behind a sign-in (an admin key from the policy, or Box sign-in for
the policy's console admins and named approvers).

Every response carries a strict CSP (`default-src 'self'`, no inline script), `X-Frame-Options: DENY`,
`Referrer-Policy: no-referrer` and `Cache-Control: no-store`. Every POST must echo the session's CSRF
token (the sign-in form: a token bound to a pre-session cookie). The HTTP app's Host/Origin guard
covers /console like /mcp. No key, token or secret is ever put in a page or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

import anyio
import httpx2
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from box_mcp import sandbox as sb
from box_mcp.approval_records import (
    ApprovalRequest,
    ApprovalStateError,
    ApprovalStore,
    Status,
    audit_fields,
)
from box_mcp.console import auth
from box_mcp.console.auth import FailureLimiter, Sealer, Session
from box_mcp.console.data import (
    AuditFilters,
    AuditSource,
    agent_views,
    explain,
    policy_view,
)
from box_mcp.errors import AuditError, BoxMCPError, PolicyError
from box_mcp.events import Events
from box_mcp.policy.store import PolicyStore

if TYPE_CHECKING:
    from box_mcp.config import Settings

log = logging.getLogger(__name__)

PREFIX = "/console"
HERE = Path(__file__).parent
MAX_FORM_FIELDS = 20
MAX_NOTE = 1000


@dataclass
class Identities:
    """The Box side the identities page reads and revokes: the token vault, remote sign-in's people
    and clients, and a revoke that reaches Box (logout of the broker's OAuth grant)."""

    grants: Callable[[], list[Any]]  # vault GrantRecords (tokens never read out of them)
    people: Callable[[], list[Any]] | None = None  # remote sign-in PersonRecords
    clients: Callable[[], list[Any]] | None = None
    revoke_grant: Callable[[str], Awaitable[bool]] | None = None  # vault key -> revoked at Box and deleted
    revoke_person: Callable[[str], Awaitable[int]] | None = None  # box user id -> MCP sign-ins revoked


@dataclass
class SandboxAdmin:
    """What the sandboxes page needs: the deployment's settings (its service account makes and revokes
    sandboxes, with the same functions as `box-mcp sandbox`), and whether the server checks API keys."""

    settings: Settings = field(repr=False)
    # False: the server started on a policy without agent API keys, so it checks none until restarted
    keys_checked: bool = True


class BoxConsoleSignIn(Protocol):
    """box_mcp.http.signin.BoxSignIn as the console uses it."""

    redirect_uri: str

    @property
    def authorize_origin(self) -> str: ...

    def start(self) -> tuple[str, str, str]: ...

    async def finish(self, code: str, verifier: str) -> Any: ...

    async def discard(self, account: Any) -> None: ...


@dataclass
class Console:
    store: PolicyStore
    secret: bytes = field(repr=False)  # the deployment's request-state key (shared by replicas)
    audit: AuditSource
    events: Events | None = None
    secure: bool = True  # Secure cookies (off only for plain-http loopback)
    approvals: ApprovalStore | None = None
    identities: Identities | None = None
    box: BoxConsoleSignIn | None = None
    usage: Callable[[str], tuple[int, int] | None] | None = None
    sandboxes: SandboxAdmin | None = None
    failures: FailureLimiter = field(default_factory=FailureLimiter)

    def __post_init__(self) -> None:
        self._sealer = Sealer(auth.derive_key(self.secret))
        self._mac_key = auth.derive_key(self.secret, b"box-mcp console form")
        self._env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["when"] = _when
        self._env.filters["pretty"] = _pretty
        self._env.filters["stamp"] = lambda value: _when(value).removesuffix(" UTC")
        self._env.filters["clock"] = _clock
        self._env.filters["basename"] = lambda value: Path(str(value)).name
        self._env.globals["prefix"] = PREFIX
        self._sandbox_lock = anyio.Lock()  # creates and revokes in this process, one at a time

    def __repr__(self) -> str:
        return f"Console(audit={self.audit!r})"

    # -- plumbing ------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        inner = [
            Route("/", self.home, methods=["GET"]),
            Route("/signin", self.signin_page, methods=["GET"]),
            Route("/signin", self.signin_key, methods=["POST"]),
            Route("/signin/box", self.signin_box, methods=["POST"]),
            Route("/signin/box/callback", self.box_callback, methods=["GET"]),
            Route("/signout", self.signout, methods=["POST"]),
            Route("/audit", self.audit_page, methods=["GET"]),
            Route("/audit/{record_id}", self.record_page, methods=["GET"]),
            Route("/approvals", self.approvals_page, methods=["GET"]),
            Route("/approvals.json", self.approvals_json, methods=["GET"]),
            Route("/approvals/{approval_id}", self.approval_page, methods=["GET"]),
            Route("/approvals/{approval_id}", self.approval_decide, methods=["POST"]),
            Route("/agents", self.agents_page, methods=["GET"]),
            Route("/policy", self.policy_page, methods=["GET"]),
            Route("/policy", self.policy_explain, methods=["POST"]),
            Route("/sandboxes", self.sandboxes_page, methods=["GET"]),
            Route("/sandboxes", self.sandbox_create, methods=["POST"]),
            Route("/sandboxes/{name}/revoke", self.sandbox_revoke_page, methods=["GET"]),
            Route("/sandboxes/{name}/revoke", self.sandbox_revoke, methods=["POST"]),
            Route("/identities", self.identities_page, methods=["GET"]),
            Route("/identities/revoke", self.identities_revoke, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="console-static"),
        ]
        return [
            Route(PREFIX, lambda request: RedirectResponse(PREFIX + "/", status_code=303), methods=["GET"]),
            Mount(PREFIX, app=SecurityHeaders(_router(inner), form_action=self._form_action)),
        ]

    @property
    def callback_path(self) -> str:
        return PREFIX + "/signin/box/callback"

    def _form_action(self) -> str:
        extra = f" {self.box.authorize_origin}" if self.box is not None else ""
        return f"'self'{extra}"

    def render(self, request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
        session: Session | None = request.scope.get("console_session")
        page = self._env.get_template(template).render(
            session=session,
            csrf=session.csrf if session is not None else "",
            path=request.url.path,
            **context,
        )
        return HTMLResponse(page, status_code=status)

    def _cookie(self, response: Response, name: str, value: str, *, max_age: int, samesite: str) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=PREFIX,
            secure=self.secure,
            httponly=True,
            samesite=samesite,  # type: ignore[arg-type]
        )

    def _drop(self, response: Response, name: str, samesite: str = "strict") -> None:
        response.delete_cookie(
            name,
            path=PREFIX,
            secure=self.secure,
            httponly=True,
            samesite=samesite,  # type: ignore[arg-type]
        )

    async def _emit(self, **detail: Any) -> None:
        if self.events is not None:
            await self.events.emit("console", detail=detail)

    # -- who is signed in ----------------------------------------------------------------------------

    def _admins(self) -> Any:
        return self.store.engine().policy.console.admins

    def approver_logins(self) -> tuple[set[str], set[str]]:
        """(logins, group ids) the current policy names as approvers (`approval: {by: [...]}`)."""
        logins: set[str] = set()
        groups: set[str] = set()
        for rule in self.store.engine().policy.rules:
            for name in rule.approval.by if rule.approval is not None else ():
                text = str(name).strip().lower()
                if text.startswith("group:"):
                    groups.add(text.removeprefix("group:"))
                elif "@" in text:
                    logins.add(text)
        return logins, groups

    def may_sign_in_with_box(self, login: str | None, groups: tuple[str, ...]) -> bool:
        if not login:
            return False
        logins, approver_groups = self.approver_logins()
        lower = login.lower()
        return lower in self._admins().people or lower in logins or bool(approver_groups & set(groups))

    def session_of(self, request: Request) -> Session | None:
        """The request's session if it is sealed by us, unexpired, and still allowed by the policy."""
        data = self._sealer.open(request.cookies.get(auth.SESSION_COOKIE, ""), "session")
        session = Session.from_dict(data) if data is not None else None
        if session is None or session.expires < time.time():
            return None
        admins = self._admins()
        if session.kind == "key":
            name = session.who.removeprefix("admin-key:")
            stored = admins.keys.get(name)
            if stored is None or not auth.tokens_equal(stored, session.key_digest or ""):
                return None  # the key was removed or replaced in the policy: signed out
            return _with_admin(session, True)
        if (session.login or "").lower() in admins.people:
            return _with_admin(session, True)
        if self.may_sign_in_with_box(session.login, session.groups):
            return _with_admin(session, False)
        return None

    def _guard(self, request: Request, *, admin: bool = True) -> Session | Response:
        session = self.session_of(request)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{PREFIX}/signin?{urlencode({'next': target})}", status_code=303)
        request.scope["console_session"] = session
        if admin and not session.admin:
            return self.render(
                request,
                "error.html",
                status=403,
                title="For console admins",
                message="This page is for console admins. You can review the approvals that name you.",
            )
        return session

    async def _form(self, request: Request, session: Session | None) -> dict[str, str] | Response:
        """The POST's fields once its CSRF token is checked (403 without a good one)."""
        try:
            async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
                fields = {k: v for k, v in form.items() if isinstance(v, str)}
        except Exception:  # a malformed or oversized body
            return self.render(
                request, "error.html", status=400, title="Bad form", message="The form could not be read."
            )
        given = fields.get("csrf", "")
        if session is not None:
            good = auth.tokens_equal(given, session.csrf)
        else:
            good = auth.tokens_equal(given, self._pre_token(request.cookies.get(auth.PRE_COOKIE, "")))
        if not good:
            return self.render(
                request,
                "error.html",
                status=403,
                title="Form expired",
                message="This form was not sent from this console page (or your session changed). "
                "Go back, reload the page and try again.",
            )
        return fields

    def _pre_token(self, nonce: str) -> str:
        if not nonce:
            return ""
        return hmac.new(self._mac_key, nonce.encode(), hashlib.sha256).hexdigest()

    def _start_session(self, request: Request, session: Session, next_url: str) -> Response:
        response: Response = RedirectResponse(_safe_next(next_url), status_code=303)
        self._cookie(
            response,
            auth.SESSION_COOKIE,
            self._sealer.seal(session.to_dict(), "session"),
            max_age=auth.SESSION_SECONDS,
            samesite="strict",
        )
        self._drop(response, auth.PRE_COOKIE)
        return response

    def _client(self, request: Request) -> str:
        return request.client.host if request.client is not None else "?"

    # -- sign-in -------------------------------------------------------------------------------------

    async def signin_page(
        self, request: Request, *, error: str | None = None, status: int = 200, next_url: str | None = None
    ) -> Response:
        nonce = request.cookies.get(auth.PRE_COOKIE) or secrets.token_urlsafe(24)
        admins = self._admins()
        response = self.render(
            request,
            "signin.html",
            status=status,
            title="Sign in",
            pre_csrf=self._pre_token(nonce),
            next=_safe_next(next_url if next_url is not None else request.query_params.get("next", "")),
            error=error,
            has_keys=bool(admins.keys),
            box=self.box is not None,
            configured=bool(admins.keys or admins.people or self.approver_logins() != (set(), set())),
        )
        self._cookie(response, auth.PRE_COOKIE, nonce, max_age=auth.FLOW_SECONDS, samesite="strict")
        return response

    async def signin_key(self, request: Request) -> Response:
        fields = await self._form(request, None)
        if isinstance(fields, Response):
            return fields
        client = self._client(request)
        wait = self.failures.blocked(client)
        if wait is not None:
            await self._emit(action="sign_in_refused", via="admin_key", why="rate_limited", client=client)
            response = await self.signin_page(
                request,
                error=f"Too many failed sign-ins. Try again in {int(wait) + 1} s.",
                status=429,
                next_url=fields.get("next", ""),
            )
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        given = fields.get("key", "")
        name = auth.match_admin_key(given, self._admins().keys) if given else None
        if name is None:
            self.failures.failed(client)
            await self._emit(action="sign_in_refused", via="admin_key", why="unknown key", client=client)
            return await self.signin_page(
                request,
                error="That is not a console admin key. Keys are minted with "
                "`box-mcp policy new-key NAME --console` and listed under console.admins.keys.",
                status=401,
                next_url=fields.get("next", ""),
            )
        who = f"admin-key:{name}"
        session = Session.new("key", who, key_digest=self._admins().keys[name])
        await self._emit(action="signed_in", via="admin_key", who=who, client=client)
        return self._start_session(request, session, fields.get("next", ""))

    async def signin_box(self, request: Request) -> Response:
        fields = await self._form(request, None)
        if isinstance(fields, Response):
            return fields
        if self.box is None:
            return await self.signin_page(
                request,
                error="Box sign-in needs box-mcp's Box OAuth app: set BOX_OAUTH_CLIENT_ID and "
                "BOX_OAUTH_CLIENT_SECRET.",
                status=400,
            )
        url, state, verifier = self.box.start()
        flow = {
            "state": state,
            "verifier": verifier,
            "next": _safe_next(fields.get("next", "")),
            "exp": time.time() + auth.FLOW_SECONDS,
        }
        response = RedirectResponse(url, status_code=303)
        # Lax: the return from Box is a top-level navigation from Box's site, which Strict would not carry.
        self._cookie(
            response,
            auth.FLOW_COOKIE,
            self._sealer.seal(flow, "flow"),
            max_age=auth.FLOW_SECONDS,
            samesite="lax",
        )
        return response

    async def box_callback(self, request: Request) -> Response:
        flow = self._sealer.open(request.cookies.get(auth.FLOW_COOKIE, ""), "flow")
        state = request.query_params.get("state", "")
        if (
            flow is None
            or float(flow.get("exp", 0)) < time.time()
            or not auth.tokens_equal(state, str(flow.get("state", "")))
        ):
            return self.render(
                request,
                "error.html",
                status=400,
                title="Sign-in not accepted",
                message="This sign-in did not start in this browser, or took too long. Start again.",
            )
        code = request.query_params.get("code", "")
        if self.box is None or not code or "error" in request.query_params:
            return self.render(
                request, "error.html", status=400, title="Not signed in", message="Box did not sign you in."
            )
        client = self._client(request)
        try:
            account = await self.box.finish(code, str(flow.get("verifier", "")))
        except (BoxMCPError, ValueError, httpx2.HTTPError) as exc:
            log.warning("console Box sign-in failed: %s", type(exc).__name__)
            return self.render(
                request,
                "error.html",
                status=502,
                title="Not signed in",
                message="The Box sign-in could not be completed. Try again.",
            )
        # The console keeps no Box grant: it needed only who this is (and their groups).
        await self.box.discard(account)
        if not self.may_sign_in_with_box(account.login, account.groups):
            self.failures.failed(client)
            await self._emit(
                action="sign_in_refused",
                via="box",
                why="not an admin or approver",
                login=account.login,
                client=client,
            )
            return self.render(
                request,
                "error.html",
                status=403,
                title="Not a console user",
                message="Your Box account is not a console admin (console.admins.people) and no policy "
                "rule names you as an approver. Ask an administrator to add you.",
            )
        session = Session.new(
            "box",
            str(account.login),
            login=account.login,
            user_id=account.user_id,
            groups=tuple(account.groups),
        )
        await self._emit(action="signed_in", via="box", who=account.login, client=client)
        # A page, not a redirect: a Strict cookie set on a navigation that came from Box would not be sent
        # on a redirect that is still part of it; the page's own refresh is same-site.
        response = self.render(
            request, "continue.html", title="Signed in", next=_safe_next(str(flow.get("next", "")))
        )
        self._cookie(
            response,
            auth.SESSION_COOKIE,
            self._sealer.seal(session.to_dict(), "session"),
            max_age=auth.SESSION_SECONDS,
            samesite="strict",
        )
        self._drop(response, auth.FLOW_COOKIE, samesite="lax")
        return response

    async def signout(self, request: Request) -> Response:
        session = self.session_of(request)
        fields = await self._form(request, session)
        if isinstance(fields, Response):
            return fields
        response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
        self._drop(response, auth.SESSION_COOKIE)
        if session is not None:
            await self._emit(action="signed_out", who=session.who)
        return response

    # -- pages ---------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        session = self._guard(request, admin=False)
        if isinstance(session, Response):
            return session
        if not session.admin:
            return RedirectResponse(f"{PREFIX}/approvals", status_code=303)
        pending: list[Any] = []
        if self.approvals is not None:
            store = self.approvals
            pending = await anyio.to_thread.run_sync(lambda: store.list(status="pending", limit=100))
        report = await anyio.to_thread.run_sync(self.audit.verify)
        try:
            denied = await anyio.to_thread.run_sync(
                lambda: self.audit.page(AuditFilters(denied=True), size=5).records
            )
            recent = await anyio.to_thread.run_sync(lambda: self.audit.page(AuditFilters(), size=8).records)
        except AuditError:
            denied, recent = [], []
        engine = self.store.engine()
        return self.render(
            request,
            "home.html",
            title="Overview",
            pending=pending,
            report=report,
            denied=denied,
            recent=recent,
            agents=len(engine.policy.agents),
            rules=len(engine.policy.rules),
            approvals_on=self.approvals is not None,
        )

    async def audit_page(self, request: Request) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        filters = AuditFilters.from_query(request.query_params)
        before_text = request.query_params.get("before", "")
        before = int(before_text) if before_text.isdigit() else None
        error = None
        try:
            page = await anyio.to_thread.run_sync(lambda: self.audit.page(filters, before=before))
        except AuditError as exc:
            page, error = None, str(exc)
        report = await anyio.to_thread.run_sync(self.audit.verify)
        engine = self.store.engine()
        next_link = None
        if page is not None and page.next_before is not None:
            next_link = "?" + urlencode({**filters.query_string(), "before": str(page.next_before)})
        return self.render(
            request,
            "audit.html",
            title="Audit",
            filters=filters,
            page=page,
            error=error,
            report=report,
            agents=sorted(engine.policy.agents),
            tools=sorted(engine.tools),
            next_link=next_link,
            first_page=before is None,
            first_link="?" + urlencode(filters.query_string()),
            where=self.audit.where,
        )

    async def record_page(self, request: Request) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        record_id = request.path_params["record_id"]
        if not record_id.isalnum() or len(record_id) > 40:
            return self._not_found(request, "No such audit record.")
        record = await anyio.to_thread.run_sync(lambda: self.audit.record(record_id))
        if record is None:
            return self._not_found(request, "No audit record has this id.")
        related = await anyio.to_thread.run_sync(lambda: self.audit.related(record))
        return self.render(
            request, "record.html", title=f"Record #{record.get('seq')}", record=record, related=related
        )

    def _not_found(self, request: Request, message: str) -> Response:
        return self.render(request, "error.html", status=404, title="Not found", message=message)

    # -- approvals -----------------------------------------------------------------------------------

    def may_decide(self, session: Session, approval: ApprovalRequest) -> bool:
        """Console admins decide any request; a Box-signed-in person those whose approvers name their
        login, a Box group they are in, or (for `caller`) the request they made themselves."""
        if session.admin:
            return True
        if session.kind != "box":
            return False
        login = (session.login or "").lower()
        for name in approval.approvers:
            text = str(name).lower()
            if text == login and login:
                return True
            if text.startswith("group:") and text.removeprefix("group:") in session.groups:
                return True
            if text == "caller" and session.user_id and session.user_id == approval.person_id:
                return True
        return False

    async def _approvals(self, status: Status | None) -> list[ApprovalRequest]:
        store = self.approvals
        if store is None:
            return []
        return await anyio.to_thread.run_sync(lambda: store.list(status=status, limit=200))

    async def approvals_page(self, request: Request) -> Response:
        session = self._guard(request, admin=False)
        if isinstance(session, Response):
            return session
        pending = [a for a in await self._approvals("pending") if self.may_decide(session, a)]
        history = [
            a
            for a in await self._approvals(None)
            if a.status != "pending" and (session.admin or self.may_decide(session, a))
        ][:50]
        return self.render(
            request,
            "approvals.html",
            title="Approvals",
            pending=pending,
            history=history,
            available=self.approvals is not None,
        )

    async def approvals_json(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is None:
            return JSONResponse({"error": "signed out"}, status_code=401)
        pending = [a for a in await self._approvals("pending") if self.may_decide(session, a)]
        return JSONResponse({"pending": [a.id for a in pending]})

    async def approval_page(
        self, request: Request, *, error: str | None = None, status: int = 200
    ) -> Response:
        session = self._guard(request, admin=False)
        if isinstance(session, Response):
            return session
        approval = await self._approval(request.path_params["approval_id"])
        if approval is None or not (session.admin or self.may_decide(session, approval)):
            return self._not_found(request, "No approval request has this id (or it is not yours to see).")
        return self.render(
            request,
            "approval.html",
            status=status,
            title="Approval request",
            a=approval,
            error=error,
            may_decide=self.may_decide(session, approval) and approval.status == "pending",
        )

    async def _approval(self, approval_id: str) -> ApprovalRequest | None:
        store = self.approvals
        if store is None or len(approval_id) > 100:
            return None
        return await anyio.to_thread.run_sync(lambda: store.get(approval_id))

    async def approval_decide(self, request: Request) -> Response:
        session = self._guard(request, admin=False)
        if isinstance(session, Response):
            return session
        fields = await self._form(request, session)
        if isinstance(fields, Response):
            return fields
        approval_id = request.path_params["approval_id"]
        approval = await self._approval(approval_id)
        if approval is None:
            return self._not_found(request, "No approval request has this id.")
        if not self.may_decide(session, approval):
            return self.render(
                request,
                "error.html",
                status=403,
                title="Not yours to decide",
                message="This request does not name you as an approver.",
            )
        decision = fields.get("decision")
        note = " ".join(fields.get("note", "").split())[:MAX_NOTE]
        if decision not in ("approve", "deny"):
            return await self.approval_page(request, error="Choose approve or deny.", status=400)
        if decision == "deny" and not note:
            return await self.approval_page(
                request, error="Say why you deny it: the agent and the audit get the reason.", status=400
            )
        store = self.approvals
        assert store is not None
        try:
            decided = await anyio.to_thread.run_sync(
                lambda: store.decide(approval_id, approve=decision == "approve", by=session.who, note=note)
            )
        except ApprovalStateError as exc:  # already decided, used or expired
            return await self.approval_page(request, error=str(exc), status=409)
        if self.events is not None:  # the same `approval` record `box-mcp approvals` writes
            action = "approved" if decision == "approve" else "denied"
            await self.events.emit("approval", **audit_fields(action, decided))
        return RedirectResponse(f"{PREFIX}/approvals/{approval_id}", status_code=303)

    # -- agents, policy, identities ------------------------------------------------------------------

    async def agents_page(self, request: Request) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        engine = self.store.engine()
        views = await anyio.to_thread.run_sync(lambda: agent_views(engine, self.audit, self.usage))
        return self.render(
            request, "agents.html", title="Agents", agents=views, default_agent=engine.policy.default_agent
        )

    async def policy_page(
        self,
        request: Request,
        *,
        explained: Any = None,
        form: dict[str, str] | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        engine = self.store.engine()
        view = await anyio.to_thread.run_sync(
            lambda: policy_view(
                engine,
                path=str(self.store.path),
                reload_error=self.store.last_error,
                reloads=self.store.reloads,
            )
        )
        return self.render(
            request,
            "policy.html",
            status=status,
            title="Policy",
            view=view,
            explained=explained,
            form=form or {},
            error=error,
            agents=sorted(engine.policy.agents),
            tools=sorted(engine.tools),
        )

    async def policy_explain(self, request: Request) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        fields = await self._form(request, session)
        if isinstance(fields, Response):
            return fields
        engine = self.store.engine()
        try:
            explained = explain(
                engine,
                agent=fields.get("agent", ""),
                tool=fields.get("tool", ""),
                arguments=fields.get("arguments", "")[:20_000],
            )
        except (PolicyError, BoxMCPError) as exc:
            return await self.policy_page(request, form=fields, error=str(exc), status=400)
        return await self.policy_page(request, explained=explained, form=fields)

    async def identities_page(self, request: Request, *, notice: str | None = None) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        ids = self.identities
        grants: list[Any] = []
        people: list[Any] = []
        clients: list[Any] = []
        error = None
        if ids is not None:
            try:
                grants = await anyio.to_thread.run_sync(ids.grants)
                if ids.people is not None:
                    people = await anyio.to_thread.run_sync(ids.people)
                if ids.clients is not None:
                    clients = await anyio.to_thread.run_sync(ids.clients)
            except BoxMCPError as exc:
                error = str(exc)
        return self.render(
            request,
            "identities.html",
            title="Box identities",
            grants=grants,
            people=people,
            clients=clients,
            notice=notice,
            error=error,
            now=time.time(),
            available=ids is not None,
            can_revoke=ids is not None and ids.revoke_grant is not None,
        )

    async def identities_revoke(self, request: Request) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        fields = await self._form(request, session)
        if isinstance(fields, Response):
            return fields
        ids = self.identities
        key = fields.get("grant", "")
        if ids is None or ids.revoke_grant is None or not key or len(key) > 200:
            return await self.identities_page(request, notice="Nothing to revoke.")
        try:
            removed = await ids.revoke_grant(key)
            signed_out = 0
            if key.startswith("person:") and ids.revoke_person is not None:
                signed_out = await ids.revoke_person(key.removeprefix("person:"))
        except BoxMCPError as exc:
            return await self.identities_page(request, notice=f"Not revoked: {exc}")
        await self._emit(action="revoked", grant=key, who=session.who, mcp_sign_ins=signed_out)
        text = f"Revoked {key} at Box and deleted it." if removed else f"No stored grant {key}."
        if signed_out:
            text += f" {signed_out} MCP sign-in(s) revoked."
        return await self.identities_page(request, notice=text)

    # -- agent sandboxes -----------------------------------------------------------------------------

    def _sandbox_dir(self) -> Path:
        """The deployment's policy directory (sandbox stanzas are files in it); SandboxError if the policy
        is one file."""
        return sb.policy_dir(self.store.path)

    async def sandboxes_page(
        self,
        request: Request,
        *,
        form: dict[str, str] | None = None,
        error: str | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        admin = self.sandboxes
        listing: sb.Listing | None = None
        problem = None
        if admin is None:
            problem = _NO_SANDBOXES
        else:
            try:
                listing = await sb.checked_list(admin.settings, self._sandbox_dir())
            except (BoxMCPError, httpx2.HTTPError) as exc:
                problem = _said(exc)
        return self.render(
            request,
            "sandboxes.html",
            status=status,
            title="Sandboxes",
            listing=listing,
            problem=problem,
            directory=str(self.store.path),
            form=form or {"parent": "0", "role": "editor"},
            error=error,
            notice=notice,
            roles=[(role, sb.ROLE_ACCESS[role]) for role in sorted(sb.ROLE_ACCESS)],
            keys_checked=admin is None or admin.keys_checked,
        )

    async def _reloaded(self, name: str, *, present: bool) -> str | None:
        """Reload the policy now; None when `name` is (or, revoked, is no longer) a keyed agent of it,
        else why not (the poll picks it up later, or the files do not load)."""
        await anyio.to_thread.run_sync(self.store.reload)
        agent = self.store.engine().policy.agents.get(name)
        if present == (agent is not None and bool(agent.keys)):
            return None
        return self.store.last_error or "the policy has not reloaded yet: it will within a few seconds"

    async def sandbox_create(self, request: Request) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        fields = await self._form(request, session)
        if isinstance(fields, Response):
            return fields
        form = {k: fields.get(k, "")[:1000] for k in ("name", "folder", "parent", "role")}
        name = form["name"].strip()
        admin = self.sandboxes
        if admin is None:
            return await self.sandboxes_page(request, form=form, error=_NO_SANDBOXES, status=503)
        try:
            async with self._sandbox_lock:  # one at a time: two creates of one name write one stanza
                made = await sb.create(
                    admin.settings,
                    self._sandbox_dir(),
                    name,
                    form["folder"].strip(),
                    parent=form["parent"].strip() or "0",
                    role=form["role"].strip() or "editor",
                    by=f"box-mcp console ({session.who})",
                )
        except (BoxMCPError, httpx2.HTTPError) as exc:
            said = _said(exc)
            await self._emit(action="sandbox_create_refused", who=session.who, sandbox=name[:64], why=said)
            status, todo = _create_failure(exc)
            return await self.sandboxes_page(request, form=form, error=f"{said}\n{todo}", status=status)
        r = made.sandbox.record
        await self._emit(  # never the key: only what was made, and by whom
            action="sandbox_created",
            who=session.who,
            sandbox=made.sandbox.name,
            app_user=r.app_user,
            folder=r.folder,
            path=r.path,
            parent=r.parent,
            role=r.role,
            collaboration=r.collaboration,
            file=made.sandbox.file.name,
            notes=list(made.notes),
        )
        pending = await self._reloaded(made.sandbox.name, present=True)
        return self.render(
            request,
            "sandbox_created.html",
            title=f"Sandbox {made.sandbox.name}",
            made=made,
            r=r,
            access=sb.ROLE_ACCESS.get(r.role, "read"),
            api_key=made.api_key,
            pending=pending,
            keys_checked=admin.keys_checked,
            mcp_url=str(request.base_url).rstrip("/").removesuffix(PREFIX) + "/mcp",
        )

    def _sandbox(self, name: str) -> sb.Sandbox | None:
        try:
            return sb.find_sandbox(self._sandbox_dir(), name)
        except BoxMCPError:
            return None

    async def sandbox_revoke_page(self, request: Request) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        name = request.path_params["name"]
        found = await anyio.to_thread.run_sync(lambda: self._sandbox(name))
        if found is None:
            return self._not_found(request, "No sandbox has this name.")
        return self.render(request, "sandbox_revoke.html", title=f"Revoke sandbox {name}", s=found)

    async def sandbox_revoke(self, request: Request) -> Response:
        session = self._guard(request)
        if isinstance(session, Response):
            return session
        fields = await self._form(request, session)
        if isinstance(fields, Response):
            return fields
        name = request.path_params["name"]
        admin = self.sandboxes
        if admin is None or await anyio.to_thread.run_sync(lambda: self._sandbox(name)) is None:
            return self._not_found(request, "No sandbox has this name.")
        try:
            async with self._sandbox_lock:
                done = await sb.revoke(
                    admin.settings, self._sandbox_dir(), name, by=f"box-mcp console ({session.who})"
                )
        except (BoxMCPError, httpx2.HTTPError) as exc:
            said = _said(exc)
            revoked = self._sandbox(name)
            keys_gone = revoked is not None and revoked.state == "revoked"
            await self._emit(
                action="sandbox_revoked" if keys_gone else "sandbox_revoke_failed",
                who=session.who,
                sandbox=name,
                finished_in_box=False,
                why=said,
            )
            if keys_gone:
                await self._reloaded(name, present=False)
            return await self.sandboxes_page(
                request,
                error=f"{said}\nFix that, then press Revoke again: it finishes what is left.",
                status=502,
            )
        r = done.sandbox.record
        await self._emit(
            action="sandbox_revoked",
            who=session.who,
            sandbox=name,
            app_user=r.app_user,
            collaboration=r.collaboration,
            finished_in_box=True,
            notes=list(done.notes),
        )
        pending = await self._reloaded(name, present=False)
        text = (
            f"Revoked sandbox {name}: its keys are gone from {done.sandbox.file.name}, collaboration "
            f"{r.collaboration} removed, app user {r.app_user} set inactive; the audit is kept."
        )
        if done.notes:
            text += " " + "; ".join(done.notes) + "."
        if pending is not None:
            text += f" Not yet in force: {pending}"
        return await self.sandboxes_page(request, notice=text)


_NO_SANDBOXES = (
    "This console was started without the deployment's settings, so it cannot reach the service account "
    "that makes sandboxes: use `box-mcp sandbox create` on the policy directory instead."
)


def _said(exc: BaseException) -> str:
    """An error's text for the page (an HTTP error by its kind only: its text may name hosts or tokens)."""
    if isinstance(exc, httpx2.HTTPError):
        return f"Box could not be reached ({type(exc).__name__}): check BOX_MCP_BOX_URL and the network."
    return str(exc)[:2000]


def _create_failure(exc: BaseException) -> tuple[int, str]:
    """(status, what to do) for a failed create."""
    if isinstance(exc, sb.NameTaken):
        return 409, "Choose another name."
    if isinstance(exc, sb.NoServiceAccount):
        return 503, "Configure the service account, restart box-mcp serve, then create again."
    if isinstance(exc, sb.BoxRefused | httpx2.HTTPError):
        return 502, (
            "Nothing was written to the policy. Fix what Box says, then press Create again: what was "
            "already made in Box (app user, folder) is found and reused."
        )
    return 400, "Correct the form and press Create again."


def _with_admin(session: Session, admin: bool) -> Session:
    from dataclasses import replace

    return replace(session, admin=admin)


def _safe_next(target: str) -> str:
    """Only a path inside the console (never another site, never `//host`)."""
    if (
        target.startswith(PREFIX + "/")
        and not target.startswith("//")
        and "\\" not in target
        and "\n" not in target
    ):
        return target
    return PREFIX + "/"


def _when(value: Any) -> str:
    """A record's time, or a Unix time, as `2026-12-03 11:04:31 UTC`."""
    if value is None or value == "":
        return ""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = str(value)
    return text[:19].replace("T", " ") + " UTC" if len(text) >= 19 else text


def _clock(value: Any) -> str:
    """Today's records as a time of day; older ones with their date."""
    text = _when(value).removesuffix(" UTC")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    return text[11:] if text.startswith(today) else text


def _pretty(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _router(routes: list[BaseRoute]) -> ASGIApp:
    from starlette.routing import Router

    router = Router(routes=routes)
    router.redirect_slashes = False
    return router


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {form_action}"
)


class SecurityHeaders:
    """The console's response headers: CSP without inline script, no framing, no referrer, no caching."""

    def __init__(self, app: ASGIApp, *, form_action: Callable[[], str]) -> None:
        self.app = app
        self.form_action = form_action

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = CSP.format(form_action=self.form_action()).encode()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in _SET]
                headers += [
                    (b"content-security-policy", csp),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"cache-control", b"no-store"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


_SET = {
    b"content-security-policy",
    b"x-frame-options",
    b"referrer-policy",
    b"x-content-type-options",
    b"cache-control",
}
