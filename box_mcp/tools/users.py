"""users toolset: who the brokered Box identity is."""

from __future__ import annotations

from typing import Any

from box_mcp.access import Access
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import READ_HINTS, ToolContext, ToolInput, ToolOutput, ToolSpec


class WhoAmIInput(ToolInput):
    pass


class WhoAmI(ToolOutput):
    id: str
    name: str | None = None
    login: str | None = None
    role: str | None = None
    status: str | None = None
    enterprise_id: str | None = None
    space_amount: int | None = None
    space_used: int | None = None


async def who_am_i(ctx: ToolContext, args: WhoAmIInput) -> WhoAmI:
    raw: dict[str, Any] = await ctx.box.get(
        "/users/me", params={"fields": "id,name,login,role,status,enterprise,space_amount,space_used"}
    )
    enterprise = raw.get("enterprise")
    return WhoAmI.model_validate(
        {**raw, "enterprise_id": enterprise.get("id") if isinstance(enterprise, dict) else None}
    )


SPECS = (
    ToolSpec(
        name="who_am_i",
        title="Who am I",
        description=(
            "Return the Box user your calls act as: id, name, login, role and storage use. Call it first to "
            "learn which account you will touch."
        ),
        toolset="users",
        access=Access.READ,
        box_scopes=box_scopes("who_am_i"),
        hints=READ_HINTS,
        input_model=WhoAmIInput,
        output_model=WhoAmI,
        handler=who_am_i,
        output_kind="account",
    ),
)
