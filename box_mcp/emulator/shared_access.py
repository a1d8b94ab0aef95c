"""Access through a shared link: find the item a link points at, check the link's access level,
password and expiry for a caller, and the role a `boxapi: shared_link=...` header grants."""

from __future__ import annotations

import hmac
import json
import sqlite3
from urllib.parse import parse_qsl, urlsplit

from . import items
from .errors import BoxError, not_found
from .store import Store, now, sha256_hex, timestamp


def parse_boxapi(header: str | None) -> tuple[str, str | None] | None:
    """`shared_link=<url>[&shared_link_password=<pw>]` -> (url, password); None when absent or empty."""
    if not header:
        return None
    pairs = dict(parse_qsl(header, keep_blank_values=True))
    link = pairs.get("shared_link")
    return (link, pairs.get("shared_link_password")) if link else None


def find_by_link(st: Store, url: str) -> sqlite3.Row | None:
    """The active item whose shared link is this URL (`/s/<token>` or a vanity `/v/<name>`)."""
    path = urlsplit(url).path.rstrip("/")
    kind, _, key = path.rpartition("/")
    if not key or not kind.endswith(("/s", "/v")):
        return None
    field = "token" if kind.endswith("/s") else "vanity_name"
    for row in st.fetch_all("SELECT * FROM items WHERE shared_link IS NOT NULL AND status = 'active'"):
        if json.loads(row["shared_link"]).get(field) == key:
            return row
    return None


def _expired(link: dict[str, object]) -> bool:
    raw = link.get("unshared_at")
    if not isinstance(raw, str):
        return False
    try:
        moment = timestamp(raw, "shared_link.unshared_at")
    except BoxError:  # a value stored before dates needed a time zone: never expires, as before
        return False
    return moment is not None and moment <= now()


def check_link_access(
    st: Store, user_id: str, row: sqlite3.Row, password: str | None, *, has_role: bool
) -> None:
    """Raise Box's error when this user may not open the item through its shared link."""
    link = json.loads(row["shared_link"])
    if _expired(link):
        raise not_found("The shared link has expired")
    access = link.get("access", "open")
    if access == "collaborators" and not has_role:
        raise BoxError(
            403, "access_denied_insufficient_permissions", "This shared link is for collaborators only"
        )
    if access == "company":
        me = st.fetch_one("SELECT enterprise_id FROM users WHERE id = ?", (user_id,))
        owner = st.fetch_one("SELECT enterprise_id FROM users WHERE id = ?", (row["owner_id"],))
        if me is None or owner is None or me["enterprise_id"] != owner["enterprise_id"]:
            raise BoxError(
                403,
                "access_denied_insufficient_permissions",
                "This shared link is for the owner's company only",
            )
    if link.get("password_sha256"):
        if not hmac.compare_digest(sha256_hex(password or ""), str(link["password_sha256"])):
            raise BoxError(
                403, "incorrect_shared_item_password", "The shared link password is missing or incorrect"
            )


def shared_role(
    st: Store, user_id: str, shared_link: tuple[str, str | None], item: sqlite3.Row
) -> str | None:
    """The role a `boxapi` shared link grants on `item`: the linked item and, for a folder, all below it.

    "shared link viewer" when the link allows downloads, else "shared link previewer" (see
    permissions.ROLE_ACTIONS); None when the link does not cover the item or the caller may not use it
    (expired, wrong password, company or collaborators only)."""
    url, password = shared_link
    linked = find_by_link(st, url)
    if linked is None or not items.is_within(st, item, linked["id"]):
        return None
    if linked["type"] != "folder" and linked["id"] != item["id"]:
        return None
    try:
        check_link_access(st, user_id, linked, password, has_role=False)
    except BoxError:
        return None
    perms = json.loads(linked["shared_link"]).get("permissions") or {}
    return "shared link viewer" if perms.get("can_download", True) else "shared link previewer"
