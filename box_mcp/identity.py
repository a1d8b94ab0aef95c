"""ActingAs: the Box identity one tool call ran as, named without a secret (for the audit record).

A leaf module like `access` and `decision`: the broker says it, the gate carries it on the Call, the
audit writes it.
"""

from __future__ import annotations

from typing import Literal

from mcp.server.auth.provider import AccessToken
from pydantic import BaseModel, ConfigDict

IdentityKind = Literal["developer_token", "service_account", "as_user", "user_grant", "person"]


class ActingAs(BaseModel):
    """`kind` is how box-mcp holds the credentials (the policy's `acts_as`); the rest says who that is
    where box-mcp knows it without asking Box: the As-User target, the user a CCG/JWT app is configured
    to act as (BOX_SUBJECT_TYPE=user), the enterprise of a service account, a stored grant's label; for
    kind `person` (a signed-in person's own grant), their Box user id and their login as the label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: IdentityKind
    user_id: str | None = None
    enterprise_id: str | None = None
    label: str | None = None


class Person(BaseModel):
    """A person signed in through box-mcp's OAuth (remote sign-in), and the MCP client they connected with.

    The Box facts (`box_user_id`, `login`, `name`, `groups`) are what Box said at sign-in, stored by
    box-mcp; the client facts are the OAuth client box-mcp issued the connection's token to. Never from
    tool arguments or anything else a client sends on /mcp."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    box_user_id: str
    login: str | None = None
    name: str | None = None
    groups: tuple[str, ...] = ()  # the Box group ids the person was a member of at sign-in
    client_id: str  # the MCP OAuth client id (a CIMD URL, or the id box-mcp registered)
    client_name: str | None = None  # as the client describes itself (self-asserted: for display only)
    redirect_host: str | None = None  # the host of the client's redirect URI (checked at sign-in)


class CallerToken(AccessToken):
    """What a verified bearer token says about the caller: the policy agent its calls run as and, for a
    token box-mcp's OAuth issued, the signed-in person. Only a TokenVerifier makes one (the SDK's
    AuthenticationMiddleware puts it on the ASGI scope); nothing a client sends can set it."""

    agent: str | None = None  # None: no agent of the current policy admits this person (refused)
    person: Person | None = None
