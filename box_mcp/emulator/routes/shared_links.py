"""Shared links resolved: `GET /shared_items` with the `boxapi: shared_link=<url>&shared_link_password=<pw>`
header, enforcing access level (open / company / collaborators), password and `unshared_at`.

Links are set by the item update routes (`changes.shared_link_value`: `PUT /files/{id}` with
`{"shared_link": {...}}`, which is what the SDK's add/update/remove shared link calls send).
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import permissions
from ..auth import Caller
from ..common import box_json, caller, not_modified, store, view
from ..errors import BoxError, not_found
from ..family import timestamp
from ..serialize import parse_fields
from ..store import Store, now, sha256_hex


def _parse_boxapi(header: str | None) -> tuple[str, str | None]:
    if not header:
        raise BoxError(
            400,
            "bad_request",
            "The 'boxapi' header is required: shared_link=<url>[&shared_link_password=<pw>]",
        )
    pairs = dict(parse_qsl(header, keep_blank_values=True))
    link = pairs.get("shared_link")
    if not link:
        raise BoxError(400, "bad_request", "The 'boxapi' header must carry shared_link=<url>")
    return link, pairs.get("shared_link_password")


def find_by_link(st: Store, url: str) -> sqlite3.Row | None:
    """The active item whose shared link is this URL (`/s/<token>` or a vanity `/v/<name>`)."""
    path = urlsplit(url).path.rstrip("/")
    kind, _, key = path.rpartition("/")
    if not key or not kind.endswith(("/s", "/v")):
        return None
    field = "token" if kind.endswith("/s") else "vanity_name"
    for row in st.q("SELECT * FROM items WHERE shared_link IS NOT NULL AND status = 'active'"):
        if json.loads(row["shared_link"]).get(field) == key:
            return row
    return None


def check_link_access(st: Store, who: Caller, row: sqlite3.Row, password: str | None) -> None:
    """Raise Box's error when this caller may not open the item through its shared link."""
    link = json.loads(row["shared_link"])
    unshared_at = timestamp(link.get("unshared_at"), "unshared_at")
    if unshared_at is not None and unshared_at <= now():
        raise not_found("The shared link has expired")
    access = link.get("access", "open")
    if access == "collaborators" and permissions.role_on(st, who.user_id, row) is None:
        raise BoxError(
            403, "access_denied_insufficient_permissions", "This shared link is for collaborators only"
        )
    if access == "company":
        me = st.one("SELECT enterprise_id FROM users WHERE id = ?", (who.user_id,))
        owner = st.one("SELECT enterprise_id FROM users WHERE id = ?", (row["owner_id"],))
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


async def get_shared_item(request: Request) -> Response:
    url, password = _parse_boxapi(request.headers.get("boxapi"))
    fields = parse_fields(request.query_params.get("fields"))
    st, who = store(request), caller(request)
    row = find_by_link(st, url)
    if row is None:
        raise not_found("No item is shared at that link")
    check_link_access(st, who, row, password)
    if not_modified(request, row):
        return Response(status_code=304)
    return box_json(view(request).item(row, fields), headers={"ETag": str(row["etag"])})


routes: list[BaseRoute] = [
    Route("/2.0/shared_items", get_shared_item, methods=["GET"]),
]
