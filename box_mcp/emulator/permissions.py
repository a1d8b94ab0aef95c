"""The one place that decides whether a caller may do an action on an item.

Order of checks, as Box answers them: a downscoped token's `resource` (other items are 404), visibility
(no ownership and no collaboration on the item or any folder above it: 404, never confirming the item
exists), the token's scopes (403 insufficient_scope), then the collaboration role (403).
"""

from __future__ import annotations

import sqlite3

from .auth import Caller
from .errors import BoxError, not_found
from .items import ROOT_ID, ancestors, is_within
from .shared_access import shared_role
from .store import Store, now

ACTIONS = (
    "read",
    "list",
    "preview",
    "download",
    "upload",
    "update",
    "delete",
    "share",
    "comment",
    "invite",
    "lock",
)
READ_ACTIONS = frozenset({"read", "list", "preview", "download"})

_PREVIEWER = frozenset({"read", "list", "preview"})
_VIEWER = _PREVIEWER | {"download", "comment", "share"}
_EDITOR = _VIEWER | {"upload", "update", "delete", "invite", "lock"}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "owner": frozenset(ACTIONS),
    "co-owner": _EDITOR,
    "editor": _EDITOR,
    "viewer uploader": _VIEWER | {"upload", "update"},
    "previewer uploader": _PREVIEWER | {"upload"},
    "viewer": _VIEWER,
    "previewer": _PREVIEWER,
    "uploader": frozenset({"read", "upload"}),
}
# What a shared link (not a collaboration) lets its users do: look, and download if the link allows.
ROLE_ACTIONS["shared link viewer"] = frozenset(READ_ACTIONS)
ROLE_ACTIONS["shared link previewer"] = _PREVIEWER
# Strongest first: when several collaborations apply, the strongest role wins.
ROLE_RANK = (
    "owner",
    "co-owner",
    "editor",
    "viewer uploader",
    "previewer uploader",
    "viewer",
    "previewer",
    "uploader",
)

# Which downscope scope lets a downscoped token do each action (root_readwrite permits all of them,
# root_readonly the read ones). Box publishes no per-endpoint list; each entry follows a scope's text in
# Box's docs: "Scopes for downscoping" (developer.box.com/guides/api-calls/permissions-and-errors/scopes/)
# and the UI Elements' scope sections (guides/embed/ui-elements/explorer, preview, sidebar, uploader,
# picker). Content Sidebar: base_sidebar shows a file's details and activity feed (comments, tasks),
# item_upload "allows editing of file metadata", item_rename "editing of file description", item_comment
# "adding and editing comments", item_task "creating and resolving of tasks". Most routes load an item with
# "read" before the action itself, so a feature scope works only beside a base scope, as Box's "Dedicated
# Scopes" page says (guides/embed/ui-elements/scopes: the base scope "must always be present").
DOWNSCOPE_ACTIONS: dict[str, frozenset[str]] = {
    "read": frozenset(
        {
            "item_read",
            "base_explorer",
            "base_picker",
            "base_preview",
            "base_sidebar",
            "item_preview",
            "item_download",
            "base_upload",
        }
    ),
    "list": frozenset({"item_read", "base_explorer", "base_picker", "item_download"}),
    "preview": frozenset({"item_preview", "base_preview", "item_download"}),
    "download": frozenset({"item_download"}),
    "upload": frozenset({"item_upload", "base_upload"}),
    "update": frozenset({"item_rename"}),
    "delete": frozenset({"item_delete"}),
    "share": frozenset({"item_share"}),
    "comment": frozenset({"item_comment"}),
    "invite": frozenset({"item_share"}),
    "lock": frozenset({"item_rename"}),
    "metadata": frozenset({"item_upload"}),
    "activity": frozenset({"base_sidebar"}),
    "task": frozenset({"item_task"}),
}
# Actions whose scope differs from the collaboration right that allows them: the role check uses the right.
ROLE_RIGHT = {"metadata": "update", "activity": "preview", "task": "comment"}
_READ_SCOPED = READ_ACTIONS | {"activity"}  # what root_readonly permits


def group_ids(store: Store, user_id: str) -> list[str]:
    return [
        r["group_id"]
        for r in store.fetch_all("SELECT group_id FROM group_memberships WHERE user_id = ?", (user_id,))
    ]


def role_on(store: Store, user_id: str, item: sqlite3.Row) -> str | None:
    """The caller's effective role: owner, or the strongest collaboration on the item or above it."""
    chain = [*ancestors(store, item), item]
    if any(row["owner_id"] == user_id for row in chain):
        return "owner"
    groups = group_ids(store, user_id)
    who = ["(accessible_by_type = 'user' AND accessible_by_id = ?)"]
    params: list[str] = [user_id]
    if groups:
        who.append(f"(accessible_by_type = 'group' AND accessible_by_id IN ({','.join('?' * len(groups))}))")
        params.extend(groups)
    ids = [row["id"] for row in chain]
    rows = store.fetch_all(
        f"SELECT role FROM collaborations WHERE item_id IN ({','.join('?' * len(ids))}) "  # noqa: S608
        f"AND status = 'accepted' AND (expires_at IS NULL OR expires_at > ?) AND ({' OR '.join(who)})",
        [*ids, now(), *params],
    )
    roles = {row["role"] for row in rows}
    for role in ROLE_RANK:
        if role in roles:
            return role
    return None


def effective_role(store: Store, caller: Caller, item: sqlite3.Row) -> str | None:
    """The caller's own role, else what a `boxapi` shared link header grants on the item."""
    role = role_on(store, caller.user_id, item)
    if role is None and caller.shared_link is not None:
        role = shared_role(store, caller.user_id, caller.shared_link, item)
    return role


def scope_allows(caller: Caller, action: str) -> bool:
    if "root_readwrite" in caller.scopes:
        return True
    if action in _READ_SCOPED and "root_readonly" in caller.scopes:
        return True
    return bool(caller.scopes & DOWNSCOPE_ACTIONS.get(action, frozenset()))


def resource_allows(store: Store, caller: Caller, item: sqlite3.Row | None) -> bool:
    """A token downscoped to one item reaches that item and, for a folder, what lies below it."""
    if caller.resource is None:
        return True
    rtype, _, rid = caller.resource.partition(":")
    if item is None:
        return False
    if rtype == "file":
        return bool(item["id"] == rid and item["type"] == "file")
    return is_within(store, item, rid)


def check(store: Store, caller: Caller, item: sqlite3.Row, action: str) -> str:
    """Raise the Box error for a refused action; return the caller's role when allowed."""
    if not resource_allows(store, caller, item):
        raise not_found()
    role = effective_role(store, caller, item)
    if role is None:
        raise not_found()
    if not scope_allows(caller, action):
        raise BoxError(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token.",
        )
    if ROLE_RIGHT.get(action, action) not in ROLE_ACTIONS[role]:
        raise BoxError(
            403, "access_denied_insufficient_permissions", "Access denied - insufficient permission"
        )
    return role


def check_root(store: Store, caller: Caller, action: str) -> None:
    """The caller's own root folder ('0'): always visible, never renamed, moved or deleted."""
    if caller.resource is not None and caller.resource != f"folder:{ROOT_ID}":
        raise not_found()
    if not scope_allows(caller, action):
        raise BoxError(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token.",
        )
    if action in ("update", "delete", "share", "invite", "lock"):
        raise BoxError(
            403, "access_denied_insufficient_permissions", "Access denied - insufficient permission"
        )


def can(store: Store, caller: Caller, item: sqlite3.Row, action: str) -> bool:
    try:
        check(store, caller, item, action)
    except BoxError:
        return False
    return True


def allowed_actions(store: Store, caller: Caller, item: sqlite3.Row) -> frozenset[str]:
    """Every action the caller may take on the item (for the `permissions` field)."""
    if not resource_allows(store, caller, item):
        return frozenset()
    role = effective_role(store, caller, item)
    if role is None:
        return frozenset()
    return frozenset(a for a in ROLE_ACTIONS[role] if scope_allows(caller, a))
