"""The broker's part of a deployment: the gate's credentials hook (agent -> Box identity -> a Box client
on a token narrowed to the call). Loaded by `box_mcp.server.load_hooks`.

Which identity an agent acts as comes only from the policy (`acts_as`), never from tool arguments:
service_account, {as_user: id} (the service account, or failing that the developer token, plus As-User),
{user_grant: label}. With no policy, every call acts with the developer token, else the service account.
Set BOX_MCP_DOWNSCOPE=0 to run every call on the identity's base token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from box_mcp.broker.broker import Broker, IdentitySpec
from box_mcp.broker.downscope import narrowing_scopes
from box_mcp.errors import BrokerError, ConfigError
from box_mcp.tools import scopes as scope_table

if TYPE_CHECKING:
    from box_mcp.box.client import BoxClient
    from box_mcp.config import Settings
    from box_mcp.gate import Call
    from box_mcp.server import GateHooks

class PolicyIdentities:
    """agent name -> IdentitySpec from the policy's `acts_as`; re-read when the policy files change."""

    def __init__(self, path: Path, *, poll_interval: float = 1.0) -> None:
        self._path = path
        self._interval = poll_interval
        self._checked = 0.0
        self._signature: tuple[tuple[str, int, int], ...] = ()
        self._map: dict[str, IdentitySpec] = {}
        self._refresh(force=True)

    def _scan(self) -> tuple[tuple[str, int, int], ...]:
        from box_mcp.policy.model import policy_files

        out = []
        for f in policy_files(self._path):
            st = f.stat()
            out.append((str(f), st.st_mtime_ns, st.st_size))
        return tuple(out)

    def _refresh(self, *, force: bool = False) -> None:
        from box_mcp.errors import PolicyError
        from box_mcp.policy.model import AsUser, UserGrant, load_policy

        self._checked = time.monotonic()
        try:
            signature = self._scan()
            if not force and signature == self._signature:
                return
            policy = load_policy(self._path)
        except (OSError, PolicyError):
            if force:
                raise
            return  # keep the last good mapping, as the policy engine keeps its last good policy
        mapping: dict[str, IdentitySpec] = {}
        for name, agent in policy.agents.items():
            acts = agent.acts_as
            if isinstance(acts, AsUser):
                mapping[name] = IdentitySpec(kind="as_user", as_user=acts.as_user)
            elif isinstance(acts, UserGrant):
                mapping[name] = IdentitySpec(kind="user_grant", label=acts.user_grant)
            else:
                mapping[name] = IdentitySpec(kind="service_account")
        self._signature, self._map = signature, mapping

    def agents(self) -> dict[str, IdentitySpec]:
        return dict(self._map)

    def __call__(self, agent: str) -> IdentitySpec:
        if time.monotonic() - self._checked >= self._interval:
            self._refresh()
        identity = self._map.get(agent)
        if identity is None:
            raise BrokerError(f"agent {agent!r} has no Box identity: add it with acts_as to the policy")
        return identity


class BrokerCredentials:
    """CredentialsHook: a Box client view bound to the agent's identity, on a token narrowed to the call."""

    def __init__(self, broker: Broker, box: BoxClient, identities: Any, *, downscope: bool = True) -> None:
        self.broker = broker
        self._box = box
        self._identities = identities
        self._downscope = downscope

    def __repr__(self) -> str:
        return f"BrokerCredentials({self.broker!r})"

    async def client_for(self, call: Call) -> BoxClient:
        identity: IdentitySpec = self._identities(call.agent)
        scopes = resource = None
        if self._downscope:
            need = scope_table.need(call.tool.name)
            scopes = narrowing_scopes(need)
            # Only a call on one item can be bound to it (see the table's "binding" for why the rest cannot).
            item = call.tool.single_item_resource(call.args) if scopes and need.binding == "item" else None
            # The root folder ("0") cannot be a token's resource, and binding to it would narrow nothing.
            # Box checks a token's resource against the token's own user, so a token used As-User
            # another user cannot be bound to that user's item: narrow its scopes only.
            if (
                item is not None
                and item.type in ("file", "folder", "web_link")
                and item.id != "0"
                and identity.kind != "as_user"
            ):
                resource = self.broker.item_resource(item.type, item.id)
        source = await self.broker.token_source(identity, scopes=scopes, resource=resource)
        return self._box.bound(token_source=source, as_user=self.broker.as_user_header(identity))

    async def lookup_client(self, agent: str) -> BoxClient:
        """The agent's own identity on its base token (never narrowed to one call's item): what the
        policy uses to learn where items sit. The agent never receives this client."""
        identity: IdentitySpec = self._identities(agent)
        source = await self.broker.token_source(identity)
        return self._box.bound(token_source=source, as_user=self.broker.as_user_header(identity))


class _Unbound:
    async def access_token(self) -> str:
        raise BrokerError("no Box identity was chosen for this request")

    async def invalidate(self, token: str) -> None:
        return None


def _check_credentials(broker: Broker, agents: Mapping[str, IdentitySpec]) -> None:
    """Refuse to start when the policy names an identity that no configured credential can serve."""
    has_service = broker.settings.service_account is not None
    for name, identity in sorted(agents.items()):
        if identity.kind == "service_account" and not has_service:
            raise ConfigError(
                f"policy agent {name!r} acts as the service account, but no app credentials are set: set "
                "BOX_JWT_CONFIG_FILE, or BOX_CLIENT_ID + BOX_CLIENT_SECRET + BOX_ENTERPRISE_ID"
            )
        if identity.kind == "as_user" and not has_service and broker.settings.developer_token is None:
            raise ConfigError(
                f"policy agent {name!r} acts as user {identity.as_user} (As-User), which needs the service "
                "account's credentials (or an admin's BOX_DEVELOPER_TOKEN)"
            )


def _default_identity(broker: Broker) -> IdentitySpec | None:
    if broker.settings.developer_token is not None:
        return IdentitySpec(kind="developer_token")
    if broker.settings.service_account is not None:
        return IdentitySpec(kind="service_account")
    return None


async def gate_hooks(settings: Settings, stack: AsyncExitStack, *, events: Any = None) -> GateHooks:
    from box_mcp.box.client import BoxClient
    from box_mcp.server import GateHooks

    downscope = settings.downscope
    broker = Broker.from_settings(settings)
    if events is not None:  # refreshes and needs-sign-in become audit records (box_mcp.events)
        broker.on_event = events.post
    stack.push_async_callback(broker.aclose)
    identities: Any
    if settings.policy is not None:
        identities = PolicyIdentities(settings.policy)
        _check_credentials(broker, identities.agents())
    else:
        default = _default_identity(broker)
        if default is None:
            return GateHooks()  # no credential at all: the server's own error says what to set
        identities = lambda agent: default  # noqa: E731
    # Every call runs on a bound view with its own token source; the root client never sends a request.
    box = BoxClient(token_source=_Unbound(), base_url=settings.api_url, upload_url=settings.upload_url)
    stack.push_async_callback(box.aclose)
    credentials = BrokerCredentials(broker, box, identities, downscope=downscope)
    return GateHooks(credentials=credentials, lookup=credentials.lookup_client)
