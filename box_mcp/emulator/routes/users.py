"""Users: /users/me (the rest of the user family lands here too)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..common import box_json, caller, emulator, store
from ..errors import not_found
from ..serialize import user_json


async def get_me(request: Request) -> Response:
    who = caller(request)
    row = store(request).one("SELECT * FROM users WHERE id = ?", (who.user_id,))
    if row is None:
        raise not_found()
    return box_json(user_json(store(request), row, emulator(request).origin(request)))


routes: list[BaseRoute] = [
    Route("/2.0/users/me", get_me, methods=["GET"]),
]
