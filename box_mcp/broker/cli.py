"""`box-mcp auth login | status | logout`: sign a person in to Box, show identities, sign out."""

from __future__ import annotations

import argparse
import re
import sys
import time
import webbrowser
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2

from box_mcp.box.client import BoxClient
from box_mcp.broker.broker import Broker, IdentitySpec, open_vault, vault_location
from box_mcp.broker.config import BrokerSettings
from box_mcp.broker.oauth import login, logout
from box_mcp.broker.tokens import BoxEndpoints, TokenEndpoint
from box_mcp.broker.vault import VAULT_FILE
from box_mcp.config import Settings
from box_mcp.errors import BoxMCPError

_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _label(text: str) -> str:
    if not _LABEL.match(text):
        raise argparse.ArgumentTypeError("a user label is 1-64 letters, digits, '.', '_' or '-'")
    return text


def register(subparsers: Any) -> None:
    auth = subparsers.add_parser("auth", help="sign in to Box as a person, list identities, sign out")
    sub = auth.add_subparsers(dest="auth_command", metavar="ACTION", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="where the vault lives (env BOX_MCP_DATA_DIR; default: the user data dir)",
        )
        parser.add_argument(
            "--box-url",
            default=None,
            help="Box origin, e.g. an emulator's http://127.0.0.1:8088 (env BOX_MCP_BOX_URL)",
        )
        parser.add_argument(
            "--database-url",
            default=None,
            help="postgresql://… : the vault in PostgreSQL (env BOX_MCP_DATABASE_URL)",
        )

    p_login = sub.add_parser("login", help="sign in through the browser and store the grant")
    common(p_login)
    p_login.add_argument("--user-label", type=_label, default="default", help="name of this stored sign-in")
    p_login.add_argument("--no-browser", action="store_true", help="only print the URL to open")
    p_login.add_argument("--port", type=int, default=0, help="loopback port for the redirect (default: any)")
    p_login.add_argument("--wait", type=float, default=300.0, help="seconds to wait for the sign-in")
    p_login.set_defaults(func=_run(_login))

    p_status = sub.add_parser("status", help="list configured identities and stored sign-ins")
    common(p_status)
    p_status.add_argument(
        "--check",
        action="store_true",
        help="ask Box (GET /users/me) whether each identity works; exit 1 if one fails",
    )
    p_status.set_defaults(func=_run(_status))

    p_logout = sub.add_parser(
        "logout",
        help="revoke a stored sign-in at Box and delete it (--person: a remotely signed-in person, and every "
        "MCP client token box-mcp gave them)",
    )
    common(p_logout)
    who = p_logout.add_mutually_exclusive_group()
    who.add_argument("--user-label", type=_label, default="default")
    who.add_argument("--person", help="a person signed in through remote sign-in: Box user id or login")
    p_logout.add_argument(
        "--forget",
        action="store_true",
        help="delete the local copy without revoking at Box (e.g. when offline)",
    )
    p_logout.set_defaults(func=_run(_logout))


Action = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _run(action: Action) -> Callable[[argparse.Namespace], int]:
    def func(args: argparse.Namespace) -> int:
        try:
            settings = Settings.load(
                data_dir=args.data_dir, box_url=args.box_url, database_url=args.database_url
            )
            return anyio.run(action, args, settings)
        except BoxMCPError as exc:  # a clear message, never a traceback; 2 as for every CLI error
            print(f"box-mcp auth: {exc}", file=sys.stderr)
            return 2

    return func


def _has_vault(settings: Settings) -> bool:
    """Whether a vault may hold sign-ins: status and logout do not create an empty SQLite vault."""
    return settings.database_url is not None or (settings.data_dir / VAULT_FILE).exists()


_NO_CLIENT = (
    "no OAuth app configured: set BOX_OAUTH_CLIENT_ID and BOX_OAUTH_CLIENT_SECRET "
    "(your Box app's client id and secret; redirect URI http://127.0.0.1 any port)"
)


async def _login(args: argparse.Namespace, settings: Settings) -> int:
    client = BrokerSettings.from_settings(settings).oauth_client
    if client is None:
        print(f"box-mcp auth login: {_NO_CLIENT}", file=sys.stderr)
        return 2

    async def open_browser(url: str) -> None:
        print(f"Open this address to sign in to Box:\n\n  {url}\n", file=sys.stderr, flush=True)
        if not args.no_browser:
            await anyio.to_thread.run_sync(webbrowser.open, url)

    vault = open_vault(settings)
    try:
        async with httpx2.AsyncClient(timeout=30.0) as http:
            endpoint = TokenEndpoint(http, BoxEndpoints.for_box_url(settings.box_url))
            record = await login(
                endpoint=endpoint,
                http=http,
                vault=vault,
                label=args.user_label,
                client_id=client.client_id,
                client_secret=client.client_secret.get_secret_value(),
                open_browser=open_browser,
                port=args.port,
                wait_seconds=args.wait,
            )
    finally:
        vault.close()
    who = record.user_login or "an unknown user"
    print(f"Signed in as {who} (user id {record.user_id or '?'}), stored as user label {args.user_label!r}.")
    print(f"A policy uses it with: identity: {{kind: user_grant, label: {args.user_label}}}")
    return 0


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    credentials = BrokerSettings.from_settings(settings)
    print(f"Box: {settings.api_url}   vault: {vault_location(settings)}")
    print(f"  developer token : {'set (BOX_DEVELOPER_TOKEN)' if credentials.developer_token else 'not set'}")
    service = credentials.service_account
    print(f"  service account : {service.describe() if service else 'not configured'}")
    oauth = credentials.oauth_client
    print(f"  OAuth app       : {'client ' + oauth.client_id if oauth else 'not configured'}")
    records = []
    if _has_vault(settings):
        vault = open_vault(settings)
        try:
            records = vault.list()
        finally:
            vault.close()
    print("Stored sign-ins:" if records else "Stored sign-ins: none (run `box-mcp auth login`)")
    now = time.time()
    for record in records:
        label = record.key.removeprefix("user:")
        health = "ok" if record.status == "ok" else f"NEEDS SIGN-IN ({record.status_detail})"
        left = record.access_expires_at - now
        token_state = f"access token valid {int(left // 60)} min" if left > 0 else "access token expired"
        print(f"  {label:<16} {record.user_login or '?':<30} {health}; {token_state}")
    _print_remote(settings)
    if not args.check:
        return 0
    identities: list[IdentitySpec] = []
    if credentials.developer_token:
        identities.append(IdentitySpec(kind="developer_token"))
    if service:
        identities.append(IdentitySpec(kind="service_account"))
    identities += [
        IdentitySpec(kind="person", person_id=r.key.removeprefix("person:"), label=r.user_login)
        if r.key.startswith("person:")  # a person signed in through box-mcp's OAuth (remote sign-in)
        else IdentitySpec(kind="user_grant", label=r.key.removeprefix("user:"))
        for r in records
    ]
    if not identities:
        print("check: no identity to check (set a credential, or run `box-mcp auth login`)")
        return 1
    broker = Broker.from_settings(settings)
    failed = 0
    try:
        for identity in identities:
            name = identity.label or identity.kind
            try:
                who = await _ask_box(broker, identity, settings.api_url)
                print(f"check {name}: ok, Box says this is {who}")
            except BoxMCPError as exc:
                failed += 1
                print(f"check {name}: FAILED: {exc}")
    finally:
        await broker.aclose()
    return 1 if failed else 0


async def _ask_box(broker: Broker, identity: IdentitySpec, api_url: str) -> str:
    """Who Box says the identity is: its token (minted for CCG/JWT; a user grant's stored one while it is
    fresh, so no refresh) on GET /users/me. A token Box refuses raises, in the broker's plain words."""
    source = await broker.token_source(identity)
    # Two attempts and a short deadline: a person is waiting at a terminal, not an agent mid-task.
    async with BoxClient(token_source=source, base_url=api_url, max_attempts=2, deadline=20.0) as box:
        me = await box.get("/users/me", params={"fields": "id,login"})
    login = _printable(me.get("login")) if isinstance(me, dict) else ""
    user_id = _printable(me.get("id")) if isinstance(me, dict) else ""
    return f"{login or 'a user with no login'} (user id {user_id or '?'})"


def _printable(value: object) -> str:
    """Box's text is untrusted, even on a terminal: printable characters only, and short."""
    return "".join(ch for ch in str(value or "") if ch.isprintable())[:100]


def _print_remote(settings: Settings) -> None:
    """Remote sign-in's people and MCP clients (from the OAuth store: the database's, else the data dir's),
    if any."""
    from box_mcp.remote.store import open_store, store_exists

    if not store_exists(settings):
        return
    store = open_store(settings)
    try:
        people, clients = store.people(), store.clients()
    finally:
        store.close()
    print("Signed-in people (remote sign-in):" if people else "Signed-in people (remote sign-in): none")
    for person in people:
        seen = time.strftime("%Y-%m-%d %H:%M", time.gmtime(person.last_seen))
        connected = ", ".join(_printable(c) for c in person.clients) or "no live connection"
        login = _printable(person.login or "?")
        print(f"  {person.box_user_id:<14} {login:<30} last seen {seen} UTC; clients: {connected}")
    print("MCP clients:" if clients else "MCP clients: none")
    for client in clients:
        how = "metadata document" if client.kind == "cimd" else "registered"
        hosts = ", ".join(_printable(h) for h in client.redirect_hosts) or "-"
        name = _printable(client.name or "")
        print(f"  {_printable(client.client_id)}  {name or '(no name)'}  [{how}; redirects to {hosts}]")


async def _logout_person(args: argparse.Namespace, settings: Settings) -> int:
    """Sign a remotely signed-in person out: revoke their Box grant at Box, delete it, and revoke every
    token box-mcp issued to their MCP clients (a running server refuses them within seconds)."""
    from box_mcp.remote.store import open_store, store_exists

    client = BrokerSettings.from_settings(settings).oauth_client
    if client is None and not args.forget:
        print(f"box-mcp auth logout: {_NO_CLIENT}; or use --forget", file=sys.stderr)
        return 2
    person_id = args.person
    store = open_store(settings) if store_exists(settings) else None
    try:
        if store is not None and not str(person_id).isdigit():
            match = [p for p in store.people() if (p.login or "").lower() == str(person_id).lower()]
            if not match:
                print(f"No signed-in person {person_id!r} (see `box-mcp auth status`).")
                return 1
            person_id = match[0].box_user_id
        revoked = store.revoke_person(person_id) if store is not None else 0
        if store is not None:
            store.forget_person(person_id)
    finally:
        if store is not None:
            store.close()
    key = f"person:{person_id}"
    removed = _has_vault(settings) and await _revoke_grant(settings, key, forget=args.forget)
    if not removed and not revoked:
        print(f"No signed-in person {person_id!r}.")
        return 1
    how = "deleted locally" if args.forget else "revoked at Box and deleted"
    print(
        f"Signed out person {person_id}: Box grant {how if removed else 'not stored'}; {revoked} "
        "MCP sign-in(s) revoked."
    )
    return 0


async def _revoke_grant(settings: Settings, key: str, *, forget: bool) -> bool:
    """Revoke the vault's grant `key` at Box (unless `forget`) and delete it; False if none was stored."""
    client = BrokerSettings.from_settings(settings).oauth_client
    vault = open_vault(settings)
    try:
        async with httpx2.AsyncClient(timeout=30.0) as http:
            endpoint = TokenEndpoint(http, BoxEndpoints.for_box_url(settings.box_url))
            return await logout(
                endpoint=endpoint,
                vault=vault,
                label="",
                key=key,
                client_id=client.client_id if client else "",
                client_secret=client.client_secret.get_secret_value() if client else "",
                forget_only=forget,
            )
    finally:
        vault.close()


async def _logout(args: argparse.Namespace, settings: Settings) -> int:
    if args.person:
        return await _logout_person(args, settings)
    client = BrokerSettings.from_settings(settings).oauth_client
    if client is None and not args.forget:
        print(f"box-mcp auth logout: {_NO_CLIENT}; or use --forget", file=sys.stderr)
        return 2
    if not _has_vault(settings):
        print(f"No stored sign-in {args.user_label!r}.")
        return 1
    removed = await _revoke_grant(settings, f"user:{args.user_label}", forget=args.forget)
    if not removed:
        print(f"No stored sign-in {args.user_label!r}.")
        return 1
    how = "deleted locally." if args.forget else "revoked at Box and deleted."
    print(f"Signed out {args.user_label!r}: {how}")
    return 0
