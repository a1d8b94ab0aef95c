"""Box Hubs (2025.0 API): hubs CRUD, copy, the enterprise listing for admins, hub items and their
management, and hub collaborations (who may see a hub).

Who may do what, as Box's Hubs roles describe it: the creator owns the hub; a hub collaboration makes a
user (or a group's members) `co-owner`, `editor` or `viewer`. Viewers read the hub and its items; editors
also add and remove items; co-owners also change the hub's title, description and settings and invite;
only the owner deletes. A hub the caller has no role on answers 404 (Box never confirms it exists). A
hub's items are references: listing them shows only the items the caller can itself see, and adding an
item needs the caller to see that item. Reads need a scope that reads items (`root_readonly`, or a
downscope such as `base_explorer`), changes `root_readwrite`; a token downscoped to one item reaches no
hub.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions, versioned
from ..auth import Caller
from ..common import box_json, caller, json_body, marker_page, store, user_row
from ..errors import BoxError, not_found
from ..serialize import user_mini
from ..store import Store, iso, now

TITLE_MAX = 50
DESCRIPTION_SHOWN = 200  # "First 200 characters are returned."
COPY_ACCESS = ("all", "company", "none")
SETTINGS = (
    "is_ai_enabled",
    "is_collaboration_restricted_to_enterprise",
    "can_non_owners_invite",
    "can_shared_link_be_created",
    "can_public_shared_link_be_created",
)
ROLES = ("co-owner", "editor", "viewer")
ROLE_RANK = ("owner", "co-owner", "editor", "viewer")
_VIEWER = frozenset({"read", "copy"})
_EDITOR = _VIEWER | {"manage_items"}
_CO_OWNER = _EDITOR | {"update", "invite"}
HUB_ACTIONS: dict[str, frozenset[str]] = {
    "owner": _CO_OWNER | {"delete"},
    "co-owner": _CO_OWNER,
    "editor": _EDITOR,
    "viewer": _VIEWER,
}
READS = frozenset({"read", "copy"})
MAX_OPERATIONS = 1000
SORTS = ("name", "updated_at", "last_accessed_at", "view_count", "relevance")


# -- permissions ---------------------------------------------------------------------------------
def hub_role(st: Store, user_id: str, hub: sqlite3.Row) -> str | None:
    """The user's role on the hub: owner (its creator), else the strongest accepted hub collaboration."""
    if hub["created_by"] == user_id:
        return "owner"
    groups = permissions.group_ids(st, user_id)
    who = ["(accessible_by_type = 'user' AND accessible_by_id = ?)"]
    params: list[str] = [hub["id"], user_id]
    if groups:
        who.append(f"(accessible_by_type = 'group' AND accessible_by_id IN ({','.join('?' * len(groups))}))")
        params.extend(groups)
    rows = st.fetch_all(
        "SELECT role FROM hub_collaborations WHERE hub_id = ? AND status = 'accepted' "  # noqa: S608
        f"AND ({' OR '.join(who)})",
        params,
    )
    roles = {r["role"] for r in rows}
    return next((role for role in ROLE_RANK if role in roles), None)


def _scope_allows(who: Caller, action: str) -> bool:
    """Changes need root_readwrite; reads what lets a token read items (root_readonly, base_explorer, ...)."""
    if "root_readwrite" in who.scopes:
        return True
    return action in READS and permissions.scope_allows(who, "read")


def check_hub(st: Store, who: Caller, hub: sqlite3.Row, action: str) -> str:
    """Box's answer for a refused hub action (404 unseen, 403 scope or role); the role when allowed."""
    if who.resource is not None:
        raise not_found()  # a token downscoped to one item reaches no hub
    role = hub_role(st, who.user_id, hub)
    if role is None:
        raise not_found()
    if not _scope_allows(who, action):
        raise BoxError(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token.",
        )
    if action not in HUB_ACTIONS[role]:
        raise BoxError(
            403, "access_denied_insufficient_permissions", "Access denied - insufficient permission"
        )
    return role


def load_hub(request: Request, hub_id: str, action: str) -> sqlite3.Row:
    st = store(request)
    row = st.fetch_one("SELECT * FROM hubs WHERE id = ?", (hub_id,))
    if row is None:
        raise not_found()
    check_hub(st, caller(request), row, action)
    return row


def _require_write_scope(who: Caller) -> None:
    if who.resource is not None or "root_readwrite" not in who.scopes:
        raise BoxError(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token.",
        )


# -- rendering -----------------------------------------------------------------------------------
def hub_json(st: Store, row: sqlite3.Row) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row["id"],
        "type": "hubs",
        "title": row["title"],
        "description": row["description"][:DESCRIPTION_SHOWN],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "created_by": user_mini(st, row["created_by"]),
        "updated_by": user_mini(st, row["updated_by"]),
        "view_count": row["view_count"],
    }
    for name in SETTINGS:
        data[name] = bool(row[name])
    data["copy_hub_access"] = row["copy_hub_access"]
    return data


def _hubs_page(request: Request, st: Store, rows: list[sqlite3.Row]) -> Response:
    query = (request.query_params.get("query") or "").strip().lower()
    if query:
        rows = [r for r in rows if query in r["title"].lower() or query in r["description"].lower()]
    sort = request.query_params.get("sort") or "relevance"
    if sort not in SORTS:
        raise BoxError(400, "bad_request", f"'sort' must be one of: {', '.join(SORTS)}")
    direction = request.query_params.get("direction")
    if direction is not None and direction not in ("ASC", "DESC"):
        raise BoxError(400, "bad_request", "'direction' must be ASC or DESC")
    if sort == "name":
        rows.sort(key=lambda r: (r["title"].lower(), r["id"]), reverse=direction == "DESC")
    elif sort == "view_count":
        rows.sort(key=lambda r: (r["view_count"], r["id"]), reverse=direction != "ASC")
    else:  # relevance, updated_at and last_accessed_at: most recently changed first (the emulator's reading)
        rows.sort(key=lambda r: (r["updated_at"], int(r["id"])), reverse=direction != "ASC")
    page, limit, next_marker = marker_page(request, rows, 100, 1000)
    return box_json({"entries": [hub_json(st, r) for r in page], "limit": limit, "next_marker": next_marker})


# -- hubs ----------------------------------------------------------------------------------------
def _title(body: dict[str, Any], *, required: bool) -> str | None:
    value = body.get("title")
    if value is None:
        if required:
            raise BoxError(400, "bad_request", "'title' is required: the hub's title (1-50 characters)")
        return None
    if not isinstance(value, str) or not value.strip():
        raise BoxError(400, "bad_request", "'title' must be a non-empty string")
    if len(value) > TITLE_MAX:
        raise BoxError(400, "bad_request", f"'title' must be at most {TITLE_MAX} characters")
    return value


def _description(body: dict[str, Any]) -> str | None:
    value = body.get("description")
    if value is not None and not isinstance(value, str):
        raise BoxError(400, "bad_request", "'description' must be a string")
    if value is not None and len(value) > 10000:
        raise BoxError(400, "bad_request", "'description' must be at most 10000 characters")
    return value


def _new_hub(st: Store, who: Caller, title: str, description: str, **settings: Any) -> sqlite3.Row:
    user = user_row(st, who.user_id)
    hub_id = st.next_id("hub")
    ts = now()
    st.insert(
        "hubs",
        {
            "id": hub_id,
            "enterprise_id": user["enterprise_id"] if user is not None else None,
            "title": title,
            "description": description,
            "item_list_id": str(uuid.uuid4()),
            "created_by": who.user_id,
            "updated_by": who.user_id,
            "created_at": ts,
            "updated_at": ts,
            **settings,
        },
    )
    row = st.fetch_one("SELECT * FROM hubs WHERE id = ?", (hub_id,))
    assert row is not None
    return row


async def list_hubs(request: Request) -> Response:
    versioned.require(request)
    st, who = store(request), caller(request)
    scope = request.query_params.get("scope") or "all"
    if scope not in ("editable", "view_only", "all"):
        raise BoxError(400, "bad_request", "'scope' must be one of: editable, view_only, all")
    if not _scope_allows(who, "read"):
        raise BoxError(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token.",
        )
    rows = []
    if who.resource is None:
        for row in st.fetch_all("SELECT * FROM hubs"):
            role = hub_role(st, who.user_id, row)
            if role is None:
                continue
            editable = "manage_items" in HUB_ACTIONS[role]
            if scope == "all" or (scope == "editable") == editable:
                rows.append(row)
    return _hubs_page(request, st, rows)


async def list_enterprise_hubs(request: Request) -> Response:
    """Every hub of the caller's enterprise: admins and co-admins only."""
    versioned.require(request)
    st, who = store(request), caller(request)
    user = user_row(st, who.user_id)
    if user is None or user["role"] not in ("admin", "coadmin") or who.resource is not None:
        raise BoxError(
            403,
            "access_denied_insufficient_permissions",
            "Only enterprise admins and co-admins can list the enterprise's hubs",
        )
    if not _scope_allows(who, "read"):
        raise BoxError(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token.",
        )
    rows = st.fetch_all("SELECT * FROM hubs WHERE enterprise_id = ?", (user["enterprise_id"],))
    return _hubs_page(request, st, list(rows))


async def create_hub(request: Request) -> Response:
    versioned.require(request)
    who = caller(request)
    body = await json_body(request)
    title = _title(body, required=True)
    description = _description(body) or ""
    _require_write_scope(who)
    st = store(request)
    with st.tx():
        assert title is not None
        row = _new_hub(st, who, title, description)
        return box_json(hub_json(st, row), status=201)


async def get_hub(request: Request) -> Response:
    versioned.require(request)
    st = store(request)
    with st.tx():
        row = load_hub(request, request.path_params["hub_id"], "read")
        st.execute("UPDATE hubs SET view_count = view_count + 1 WHERE id = ?", (row["id"],))
        fresh = st.fetch_one("SELECT * FROM hubs WHERE id = ?", (row["id"],))
        assert fresh is not None
        return box_json(hub_json(st, fresh))


async def update_hub(request: Request) -> Response:
    versioned.require(request)
    who = caller(request)
    body = await json_body(request)
    changes: dict[str, Any] = {}
    title = _title(body, required=False)
    if title is not None:
        changes["title"] = title
    description = _description(body)
    if description is not None:
        changes["description"] = description
    for name in SETTINGS:
        if name in body:
            if not isinstance(body[name], bool):
                raise BoxError(400, "bad_request", f"'{name}' must be true or false")
            changes[name] = int(body[name])
    if "copy_hub_access" in body:
        if body["copy_hub_access"] not in COPY_ACCESS:
            raise BoxError(400, "bad_request", f"'copy_hub_access' must be one of: {', '.join(COPY_ACCESS)}")
        changes["copy_hub_access"] = body["copy_hub_access"]
    st = store(request)
    with st.tx():
        row = load_hub(request, request.path_params["hub_id"], "update")
        if changes:
            st.update("hubs", {"id": row["id"]}, {**changes, "updated_by": who.user_id, "updated_at": now()})
        fresh = st.fetch_one("SELECT * FROM hubs WHERE id = ?", (row["id"],))
        assert fresh is not None
        return box_json(hub_json(st, fresh))


async def delete_hub(request: Request) -> Response:
    versioned.require(request)
    st = store(request)
    with st.tx():
        row = load_hub(request, request.path_params["hub_id"], "delete")
        for table in ("hub_items", "hub_collaborations"):
            st.execute(f"DELETE FROM {table} WHERE hub_id = ?", (row["id"],))  # noqa: S608
        st.execute("DELETE FROM hubs WHERE id = ?", (row["id"],))
    return Response(status_code=204)


async def copy_hub(request: Request) -> Response:
    versioned.require(request)
    who = caller(request)
    body = await json_body(request, required=False)  # every field is optional (the SDK may send none)
    title = _title(body, required=False)
    description = _description(body)
    include = body.get("include_items", False)
    if not isinstance(include, bool):
        raise BoxError(400, "bad_request", "'include_items' must be true or false")
    st = store(request)
    with st.tx():
        source = load_hub(request, request.path_params["hub_id"], "copy")
        _require_write_scope(who)
        user = user_row(st, who.user_id)
        same_company = user is not None and user["enterprise_id"] == source["enterprise_id"]
        if source["copy_hub_access"] == "none" or (
            source["copy_hub_access"] == "company" and not same_company
        ):
            raise BoxError(
                403,
                "access_denied_insufficient_permissions",
                f"This hub's copy_hub_access is '{source['copy_hub_access']}': you may not copy it",
            )
        settings = {name: source[name] for name in (*SETTINGS, "copy_hub_access")}
        row = _new_hub(
            st,
            who,
            title if title is not None else source["title"],
            description if description is not None else source["description"],
            **settings,
        )
        if include:
            # "the items which the user has Editor or Owner access to in the original Box Hub"
            for entry in _hub_item_rows(st, source["id"]):
                item = items.get(st, entry["item_id"], entry["item_type"])
                if item is None or item["status"] != "active":
                    continue
                if not permissions.can(st, who, item, "read"):
                    continue
                if permissions.role_on(st, who.user_id, item) not in ("owner", "co-owner", "editor"):
                    continue
                _add_item(st, row, entry["item_type"], entry["item_id"], who.user_id)
        return box_json(hub_json(st, row), status=201)


# -- hub items -----------------------------------------------------------------------------------
def _hub_item_rows(st: Store, hub_id: str) -> list[sqlite3.Row]:
    return st.fetch_all("SELECT * FROM hub_items WHERE hub_id = ? ORDER BY position", (hub_id,))


def _add_item(st: Store, hub: sqlite3.Row, item_type: str, item_id: str, user_id: str) -> bool:
    """Add one reference; False when the hub already holds it."""
    if st.fetch_one(
        "SELECT 1 FROM hub_items WHERE hub_id = ? AND item_type = ? AND item_id = ?",
        (hub["id"], item_type, item_id),
    ):
        return False
    last = st.fetch_one("SELECT MAX(position) AS p FROM hub_items WHERE hub_id = ?", (hub["id"],))
    position = (last["p"] if last is not None and last["p"] is not None else -1) + 1
    st.insert(
        "hub_items",
        {
            "hub_id": hub["id"],
            "item_type": item_type,
            "item_id": item_id,
            "parent_id": hub["item_list_id"],
            "position": position,
            "added_by": user_id,
            "added_at": now(),
        },
    )
    return True


async def list_hub_items(request: Request) -> Response:
    versioned.require(request)
    hub_id = request.query_params.get("hub_id")
    if not hub_id:
        raise BoxError(400, "bad_request", "'hub_id' is required: the hub whose items to list")
    st, who = store(request), caller(request)
    hub = load_hub(request, hub_id, "read")
    parent_id = request.query_params.get("parent_id")
    if parent_id is not None and parent_id != hub["item_list_id"]:
        raise not_found("No item list block with that parent_id in this hub")
    visible = []
    for entry in _hub_item_rows(st, hub["id"]):
        item = items.get(st, entry["item_id"], entry["item_type"])
        if item is not None and item["status"] == "active" and permissions.can(st, who, item, "read"):
            visible.append({"id": item["id"], "type": item["type"], "name": item["name"]})
    page, limit, next_marker = marker_page(request, visible, 100, 1000)
    return box_json({"entries": page, "limit": limit, "next_marker": next_marker})


def _operation(raw: Any, index: int) -> tuple[str, str, str, str | None]:
    where = f"operations[{index}]"
    if not isinstance(raw, dict):
        raise BoxError(400, "bad_request", f"'{where}' must be an object with 'action' and 'item'")
    action = raw.get("action")
    if action not in ("add", "remove"):
        raise BoxError(400, "bad_request", f"'{where}.action' must be add or remove")
    item = raw.get("item")
    if not isinstance(item, dict) or item.get("type") not in ("file", "folder", "web_link"):
        raise BoxError(400, "bad_request", f"'{where}.item' must be {{type: file|folder|web_link, id}}")
    ident = item.get("id")
    if not isinstance(ident, str) or not ident.isdigit():
        raise BoxError(400, "bad_request", f"'{where}.item.id' must be a Box id (digits, as a string)")
    parent_id = raw.get("parent_id")
    if parent_id is not None and not isinstance(parent_id, str):
        raise BoxError(400, "bad_request", f"'{where}.parent_id' must be a string")
    return str(action), str(item["type"]), ident, parent_id


async def manage_hub_items(request: Request) -> Response:
    """Add and remove item references; each operation answers its own status (207 Multi-Status)."""
    versioned.require(request)
    who = caller(request)
    body = await json_body(request)
    raw_ops = body.get("operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise BoxError(
            400, "bad_request", "'operations' is required: a non-empty list of add/remove operations"
        )
    if len(raw_ops) > MAX_OPERATIONS:
        raise BoxError(400, "bad_request", f"At most {MAX_OPERATIONS} operations per request")
    ops = [_operation(raw, i) for i, raw in enumerate(raw_ops)]
    st = store(request)
    results: list[dict[str, Any]] = []
    with st.tx():
        hub = load_hub(request, request.path_params["hub_id"], "manage_items")
        for action, item_type, item_id, parent_id in ops:
            result: dict[str, Any] = {"action": action, "item": {"type": item_type, "id": item_id}}
            if parent_id is not None and parent_id != hub["item_list_id"]:
                results.append({**result, "status": 404, "error": "Parent block not found"})
                continue
            result["parent_id"] = hub["item_list_id"]
            if action == "add":
                item = items.get(st, item_id, item_type)
                if item is None or item["status"] != "active" or not permissions.can(st, who, item, "read"):
                    results.append({**result, "status": 404, "error": "Item not found"})
                    continue
                added = _add_item(st, hub, item_type, item_id, who.user_id)
                results.append(
                    {
                        **result,
                        "status": 200 if added else 409,
                        **({} if added else {"error": "Item is already in the hub"}),
                    }
                )
            else:
                gone = st.execute(
                    "DELETE FROM hub_items WHERE hub_id = ? AND item_type = ? AND item_id = ?",
                    (hub["id"], item_type, item_id),
                )
                results.append(
                    {**result, "status": 200}
                    if gone
                    else {**result, "status": 404, "error": "Item not found in the hub"}
                )
        st.update("hubs", {"id": hub["id"]}, {"updated_by": who.user_id, "updated_at": now()})
    return box_json({"operations": results}, status=207)


# -- hub collaborations --------------------------------------------------------------------------
def collaboration_json(st: Store, row: sqlite3.Row) -> dict[str, Any]:
    if row["accessible_by_type"] == "group":
        group = st.fetch_one("SELECT id, name FROM groups WHERE id = ?", (row["accessible_by_id"],))
        grantee: dict[str, Any] = {
            "type": "group",
            "id": row["accessible_by_id"],
            "name": group["name"] if group else "",
            "group_type": "managed_group",
        }
    else:
        grantee = user_mini(st, row["accessible_by_id"])
    return {
        "id": row["id"],
        "type": "hub_collaboration",
        "hub": {"id": row["hub_id"], "type": "hubs"},
        "accessible_by": grantee,
        "role": row["role"],
        "status": row["status"],
    }


async def create_hub_collaboration(request: Request) -> Response:
    versioned.require(request)
    who = caller(request)
    body = await json_body(request)
    hub_ref, grantee, role = body.get("hub"), body.get("accessible_by"), body.get("role")
    if not isinstance(hub_ref, dict) or not isinstance(hub_ref.get("id"), str):
        raise BoxError(400, "bad_request", "'hub' is required: {type: hubs, id}")
    if not isinstance(grantee, dict) or grantee.get("type") not in ("user", "group"):
        raise BoxError(400, "bad_request", "'accessible_by' is required: {type: user|group, id or login}")
    if role not in ROLES:
        raise BoxError(400, "bad_request", f"'role' must be one of: {', '.join(ROLES)}")
    st = store(request)
    with st.tx():
        hub = load_hub(request, hub_ref["id"], "invite")
        if grantee["type"] == "group":
            target = st.fetch_one("SELECT id FROM groups WHERE id = ?", (str(grantee.get("id")),))
        elif isinstance(grantee.get("login"), str):
            target = st.fetch_one("SELECT id FROM users WHERE lower(login) = lower(?)", (grantee["login"],))
        else:
            target = st.fetch_one("SELECT id FROM users WHERE id = ?", (str(grantee.get("id")),))
        if target is None:
            raise not_found(f"The {grantee['type']} named in 'accessible_by' was not found")
        if target["id"] == hub["created_by"] or st.fetch_one(
            "SELECT 1 FROM hub_collaborations WHERE hub_id = ? AND accessible_by_type = ? "
            "AND accessible_by_id = ?",
            (hub["id"], grantee["type"], target["id"]),
        ):
            raise BoxError(400, "user_already_collaborator", "User is already a collaborator")
        collab_id = st.next_id("hub_collaboration")
        st.insert(
            "hub_collaborations",
            {
                "id": collab_id,
                "hub_id": hub["id"],
                "accessible_by_type": grantee["type"],
                "accessible_by_id": target["id"],
                "role": role,
                "created_by": who.user_id,
                "created_at": now(),
            },
        )
        row = st.fetch_one("SELECT * FROM hub_collaborations WHERE id = ?", (collab_id,))
        assert row is not None
        return box_json(collaboration_json(st, row), status=201)


async def list_hub_collaborations(request: Request) -> Response:
    versioned.require(request)
    hub_id = request.query_params.get("hub_id")
    if not hub_id:
        raise BoxError(400, "bad_request", "'hub_id' is required: the hub whose collaborations to list")
    st = store(request)
    hub = load_hub(request, hub_id, "read")
    rows = st.fetch_all(
        "SELECT * FROM hub_collaborations WHERE hub_id = ? ORDER BY CAST(id AS INTEGER)", (hub["id"],)
    )
    page, limit, next_marker = marker_page(request, list(rows), 100, 1000)
    return box_json(
        {"entries": [collaboration_json(st, r) for r in page], "limit": limit, "next_marker": next_marker}
    )


async def delete_hub_collaboration(request: Request) -> Response:
    versioned.require(request)
    st, who = store(request), caller(request)
    with st.tx():
        row = st.fetch_one(
            "SELECT * FROM hub_collaborations WHERE id = ?", (request.path_params["collaboration_id"],)
        )
        if row is None:
            raise not_found()
        hub = st.fetch_one("SELECT * FROM hubs WHERE id = ?", (row["hub_id"],))
        if hub is None:
            raise not_found()
        # a collaborator may leave; removing someone else needs the right to invite
        if not (row["accessible_by_type"] == "user" and row["accessible_by_id"] == who.user_id):
            check_hub(st, who, hub, "invite")
        st.execute("DELETE FROM hub_collaborations WHERE id = ?", (row["id"],))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/2.0/hubs", list_hubs, methods=["GET"]),
    Route("/2.0/hubs", create_hub, methods=["POST"]),
    Route("/2.0/enterprise_hubs", list_enterprise_hubs, methods=["GET"]),
    Route("/2.0/hubs/{hub_id:boxid}", get_hub, methods=["GET"]),
    Route("/2.0/hubs/{hub_id:boxid}", update_hub, methods=["PUT"]),
    Route("/2.0/hubs/{hub_id:boxid}", delete_hub, methods=["DELETE"]),
    Route("/2.0/hubs/{hub_id:boxid}/copy", copy_hub, methods=["POST"]),
    Route("/2.0/hub_items", list_hub_items, methods=["GET"]),
    Route("/2.0/hubs/{hub_id:boxid}/manage_items", manage_hub_items, methods=["POST"]),
    Route("/2.0/hub_collaborations", list_hub_collaborations, methods=["GET"]),
    Route("/2.0/hub_collaborations", create_hub_collaboration, methods=["POST"]),
    Route("/2.0/hub_collaborations/{collaboration_id:boxid}", delete_hub_collaboration, methods=["DELETE"]),
]
