"""The gate's credentials hook on the broker: agent -> Box identity -> a Box client on a token narrowed to
the call (its scopes from `box_mcp.tools.scopes`, bound to the call's one item where Box allows it).

Which identity an agent acts as comes only from the policy (`acts_as`), never from tool arguments; a
person agent's (`acts_as: person`) is the signed-in person's own Box grant, the person taken from the
verified OAuth token only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from box_mcp.broker.broker import Broker, IdentitySpec
from box_mcp.broker.downscope import narrowing_scopes
from box_mcp.errors import BrokerError
from box_mcp.identity import ActingAs, Person
from box_mcp.tools import scopes as scope_table

if TYPE_CHECKING:
    from box_mcp.box.client import BoxClient
    from box_mcp.seams import Call

# (agent, the signed-in person or None) -> the identity its calls act as (raises BrokerError)
Identities = Callable[[str, Person | None], IdentitySpec]


class BrokerCredentials:
    """CredentialsHook: a Box client view bound to the agent's identity, on a token narrowed to the call."""

    def __init__(
        self, broker: Broker, box: BoxClient, identities: Identities, *, downscope: bool = True
    ) -> None:
        self.broker = broker
        self._box = box
        self._identities = identities
        self._downscope = downscope

    def __repr__(self) -> str:
        return f"BrokerCredentials({self.broker!r})"

    async def client_for(self, call: Call) -> BoxClient:
        identity = self._identities(call.agent, call.person)
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
        return self._box.bound(
            token_source=source,
            as_user=self.broker.as_user_header(identity),
            notifications=identity.notifications,
        )

    def acting_as(self, agent: str, person: Person | None = None) -> ActingAs:
        """The Box identity the agent's calls run as, for the audit record (no secret in it)."""
        identity = self._identities(agent, person)
        if identity.kind == "person":
            return ActingAs(kind="person", user_id=identity.person_id, label=identity.label)
        if identity.kind == "as_user":
            return ActingAs(kind="as_user", user_id=identity.as_user)
        if identity.kind == "user_grant":
            return ActingAs(kind="user_grant", label=identity.label or "default")
        if identity.kind == "service_account":
            app = self.broker.settings.service_account
            subject_type = getattr(app, "subject_type", None)
            subject_id = getattr(app, "subject_id", None) or None
            if subject_type == "user":  # a CCG/JWT app configured to act as one user
                return ActingAs(kind="service_account", user_id=subject_id)
            return ActingAs(kind="service_account", enterprise_id=subject_id)
        return ActingAs(kind=identity.kind)

    async def lookup_client(self, agent: str, person: Person | None = None) -> BoxClient:
        """The agent's own identity (a person agent's: the person's) on its base token (never narrowed
        to one call's item): what the policy uses to learn where items sit. The agent never receives
        this client."""
        identity = self._identities(agent, person)
        source = await self.broker.token_source(identity)
        return self._box.bound(
            token_source=source,
            as_user=self.broker.as_user_header(identity),
            notifications=identity.notifications,
        )


class _Unbound:
    async def access_token(self) -> str:
        raise BrokerError("no Box identity was chosen for this request")

    async def invalidate(self, token: str) -> None:
        return None


class Unbound:
    """The root client's token source: every call runs on a bound view with its own source."""

    async def access_token(self) -> str:
        raise BrokerError("no Box identity was chosen for this request")

    async def invalidate(self, token: str) -> None:
        return None
