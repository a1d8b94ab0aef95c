"""The console built from a deployment's parts: its policy store, audit log, events, token vault,
remote sign-in store and Box OAuth app. Kept apart from app.py so the pages can be tested with fakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from box_mcp.audit.store import load_key
from box_mcp.broker.oauth import logout
from box_mcp.broker.vault import VAULT_FILE
from box_mcp.console.app import Console, Identities, SandboxAdmin
from box_mcp.console.data import AuditSource
from box_mcp.policy.limits import RateLimiter

if TYPE_CHECKING:
    from box_mcp.deployment import Deployment


def secure_cookies(base: str) -> bool:
    """Secure cookies unless the console is served over plain http on loopback (a browser drops a Secure
    cookie there)."""
    parts = urlsplit(base)
    return not (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"))


def console_for(deployment: Deployment, base: str) -> Console:
    settings = deployment.settings
    assert deployment.store is not None and deployment.console_secret is not None
    key = load_key(settings.audit_key_file) if settings.audit_key_file is not None else None
    audit = AuditSource(
        directory=Path(settings.data_dir) / "audit",
        database_url=settings.database_url,
        key=key,
    )
    broker = deployment.broker
    remote = deployment.remote
    oauth = broker.settings.oauth_client

    def grants() -> list[Any]:
        if settings.database_url is None and not (Path(settings.data_dir) / VAULT_FILE).exists():
            return []  # no vault yet: do not create one (and its key) just to list nothing
        return broker.vault.list()

    async def revoke_grant(vault_key: str) -> bool:
        return await logout(
            endpoint=broker.endpoint,
            vault=broker.vault,
            label="",
            key=vault_key,
            client_id=oauth.client_id if oauth is not None else "",
            client_secret=oauth.client_secret.get_secret_value() if oauth is not None else "",
            forget_only=oauth is None,  # without the OAuth app nothing can be revoked at Box: delete only
        )

    async def revoke_person(person_id: str) -> int:
        if remote is None:
            return 0
        count = remote.store.revoke_person(person_id)
        remote.store.forget_person(person_id)
        return count

    identities = Identities(
        grants=grants,
        people=remote.store.people if remote is not None else None,
        clients=remote.store.clients if remote is not None else None,
        revoke_grant=revoke_grant,
        revoke_person=revoke_person,
    )
    box = deployment.console_box
    if box is not None:
        box.redirect_uri = base.rstrip("/") + "/console/signin/box/callback"
    limiter = deployment.limiter
    usage: Callable[[str], tuple[int, int] | None] | None = None
    if isinstance(limiter, RateLimiter):
        usage = limiter.usage
    elif settings.database_url is not None:  # the budget every replica shares
        from box_mcp.state.limits import recent_usage

        url = settings.database_url
        usage = lambda agent: recent_usage(url, agent)  # noqa: E731
    return Console(
        store=deployment.store,
        secret=deployment.console_secret,
        audit=audit,
        events=deployment.events,
        # Bound to every address (a container) without --public-url: the browser's URL is unknown, so Secure.
        secure=secure_cookies(base) if settings.loopback or settings.public_url is not None else True,
        approvals=deployment.approval_store,
        identities=identities,
        box=box,
        usage=usage,
        # A server that started without agent API keys checks none (deployment.open_deployment): the
        # sandboxes page says so, since a new sandbox's key would not be asked for until a restart.
        sandboxes=SandboxAdmin(settings, keys_checked=deployment.verifier is not None),
    )
