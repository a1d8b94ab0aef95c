"""users toolset: who the brokered Box identity is; enterprise toolset: the enterprise's users (Box admins).

How the policy sees the enterprise tools: `list_users` and `create_user` act on `enterprise users`, a
resource outside the folder tree, with `admin` access. A folder grant (`within:`), even `access: admin`,
never covers it; only an unscoped grant of the tools does (`tools: [list_users]`, `toolsets: [enterprise]`,
or `access: admin` with no `within:`/`items:`). They are a toolset of their own, not `users`, so a policy
granting `toolsets: [users]` for who_am_i does not grant managing people. Box itself allows them only to
an admin, co-admin or service account, with the app's "Manage users" scope.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import READ_HINTS, Hints, ToolContext, ToolInput, ToolOutput, ToolSpec

ENTERPRISE_USERS = ItemRef("enterprise", "users")  # what listing and creating users touch
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
USER_FIELDS = "id,name,login,role,status,job_title,space_amount,space_used,created_at,is_platform_access_only"


def enterprise_users(access: Access = Access.ADMIN) -> tuple[ResourceUse, ...]:
    return (ResourceUse(ENTERPRISE_USERS, access, "item"),)


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


# --- list_users / create_user ------------------------------------------------------------------------


class User(ToolOutput):
    type: str = "user"
    id: str
    name: str | None = None
    login: str | None = None
    role: str | None = None
    status: str | None = None
    job_title: str | None = None
    space_amount: int | None = None
    space_used: int | None = None
    created_at: str | None = None
    is_platform_access_only: bool | None = Field(None, description="True for an app user")


class UserList(ToolOutput):
    entries: list[User]
    total_count: int | None = Field(None, description="With offset paging")
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page")
    next_offset: int | None = Field(None, description="Pass as offset for the next page")


def _user(raw: Any) -> User | None:
    if not isinstance(raw, dict) or raw.get("id") is None:
        return None
    return User.model_validate({**raw, "id": str(raw["id"])})


class ListUsersInput(ToolInput):
    filter_term: str | None = Field(
        None, min_length=1, max_length=100, description="Start of the name or login"
    )
    user_type: Literal["all", "managed", "external"] = "managed"
    external_app_user_id: str | None = Field(None, min_length=1, max_length=255)
    limit: int = Field(100, ge=1, le=1000)
    cursor: Cursor | None = None  # next_cursor of the previous page
    offset: int | None = Field(None, ge=0, le=9999, description="Instead of cursor")

    @model_validator(mode="after")
    def _one_paging(self) -> ListUsersInput:
        if self.cursor is not None and self.offset is not None:
            raise ValueError("give cursor or offset, not both")
        return self


async def list_users(ctx: ToolContext, args: ListUsersInput) -> UserList:
    params: dict[str, Any] = {"user_type": args.user_type, "limit": args.limit, "fields": USER_FIELDS}
    for name in ("filter_term", "external_app_user_id"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    if args.offset is not None:
        params["offset"] = args.offset
    else:
        params["usemarker"] = "true"
        if args.cursor:
            params["marker"] = args.cursor
    raw = await ctx.box.get("/users", params=params)
    entries = [u for u in map(_user, raw.get("entries") or ()) if u is not None]
    if args.offset is not None:
        total = raw.get("total_count")
        total = total if isinstance(total, int) else None
        after = args.offset + len(entries)
        more = total is not None and after < total and bool(entries)
        return UserList(
            entries=entries, total_count=total, next_cursor=None, next_offset=after if more else None
        )
    marker = raw.get("next_marker")
    return UserList(
        entries=entries, total_count=None, next_cursor=str(marker) if marker else None, next_offset=None
    )


class CreateUserInput(ToolInput):
    login: Email = Field(description="The new managed user's email address (their Box login)")
    name: str = Field(min_length=1, max_length=50, pattern=r"\S")
    role: Literal["user", "coadmin"] = "user"
    space_amount: int | None = Field(None, ge=-1, description="Storage in bytes; -1 for unlimited")
    job_title: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=255)
    timezone: str | None = Field(None, max_length=100, description="e.g. Europe/Paris")


async def create_user(ctx: ToolContext, args: CreateUserInput) -> User:
    body = args.model_dump(exclude_none=True)
    raw = await ctx.box.post("/users", json=body, params={"fields": USER_FIELDS})
    made = _user(raw)
    if made is None:
        raise ValueError("Box's answer to creating a user names no user")
    return made


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
    ToolSpec(
        name="list_users",
        title="List the enterprise's Box users",
        description=(
            "List the users of your Box enterprise (admins only), optionally by the start of a name or "
            "login, user type, or an app user's external id. Pass next_cursor back as cursor."
        ),
        toolset="enterprise",
        access=Access.ADMIN,
        box_scopes=box_scopes("list_users"),
        hints=READ_HINTS,
        input_model=ListUsersInput,
        output_model=UserList,
        handler=list_users,
        resources=lambda a: enterprise_users(),
    ),
    ToolSpec(
        name="create_user",
        title="Create a Box managed user",
        description=(
            "Create a managed user in your Box enterprise (admins only): a login (email), a name, and "
            "optionally a role (user, coadmin), storage and profile fields. Box may email them an invitation."
        ),
        toolset="enterprise",
        access=Access.ADMIN,
        box_scopes=box_scopes("create_user"),
        # a second call with the same login answers 409: no second user, but not a success either
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CreateUserInput,
        output_model=User,
        handler=create_user,
        resources=lambda a: enterprise_users(),
        facts=lambda a: CallFacts(invitee_email=a.login),  # invitee_domains rules bound the new logins
        keeps_items_in_place=True,
    ),
)
