"""ActingAs: the Box identity one tool call ran as, named without a secret (for the audit record).

A leaf module like `access` and `decision`: the broker says it, the gate carries it on the Call, the
audit writes it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

IdentityKind = Literal["developer_token", "service_account", "as_user", "user_grant"]


class ActingAs(BaseModel):
    """`kind` is how box-mcp holds the credentials (the policy's `acts_as`); the rest says who that is
    where box-mcp knows it without asking Box: the As-User target, the user a CCG/JWT app is configured
    to act as (BOX_SUBJECT_TYPE=user), the enterprise of a service account, a stored grant's label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: IdentityKind
    user_id: str | None = None
    enterprise_id: str | None = None
    label: str | None = None
