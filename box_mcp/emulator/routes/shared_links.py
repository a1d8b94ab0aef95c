"""Shared links resolved: `GET /shared_items` with the `boxapi: shared_link=<url>&shared_link_password=<pw>`
header, enforcing access level (open / company / collaborators), password and `unshared_at`.

Links are set by the item update routes (`changes.shared_link_value`: `PUT /files/{id}` with
`{"shared_link": {...}}`, which is what the SDK's add/update/remove shared link calls send).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import permissions
from ..common import box_json, caller, not_modified, store, view
from ..errors import BoxError, not_found
from ..serialize import parse_fields
from ..shared_access import check_link_access, find_by_link, parse_boxapi


def _parse_boxapi(header: str | None) -> tuple[str, str | None]:
    parsed = parse_boxapi(header)
    if parsed is None:
        raise BoxError(
            400,
            "bad_request",
            "The 'boxapi' header is required: shared_link=<url>[&shared_link_password=<pw>]",
        )
    return parsed


async def get_shared_item(request: Request) -> Response:
    url, password = _parse_boxapi(request.headers.get("boxapi"))
    fields = parse_fields(request.query_params.get("fields"))
    st, who = store(request), caller(request)
    row = find_by_link(st, url)
    if row is None:
        raise not_found("No item is shared at that link")
    has_role = permissions.role_on(st, who.user_id, row) is not None
    check_link_access(st, who.user_id, row, password, has_role=has_role)
    if not_modified(request, row):
        return Response(status_code=304)
    return box_json(view(request).item(row, fields), headers={"ETag": str(row["etag"])})


routes: list[BaseRoute] = [
    Route("/2.0/shared_items", get_shared_item, methods=["GET"]),
]
