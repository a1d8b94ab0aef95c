"""Route modules, one per Box area. Each exposes `routes: list[BaseRoute]` and optionally `SCHEMA: str`.

To add an area, write `routes/<area>.py` and add its name to ROUTE_MODULES (order matters only
where two paths could match the same URL: the earlier module wins).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import BaseRoute

ROUTE_MODULES: tuple[str, ...] = (
    "oauth",
    "users",
    "groups",
    "uploads",
    "chunked",
    "trash",
    "files",
    "folders",
    # A2: collaborations, shared items, metadata, comments, tasks, web links, search, events, webhooks
    "families",
)


class BoxIdConvertor(Convertor[str]):
    """`{file_id:boxid}`: Box ids are digits; anything else falls through to a 404."""

    regex = "[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("boxid", BoxIdConvertor())


def modules() -> list[ModuleType]:
    found = []
    for name in ROUTE_MODULES:
        try:
            found.append(importlib.import_module(f"{__name__}.{name}"))
        except ModuleNotFoundError as exc:  # an area not built yet in this checkout (as box_mcp/cli.py does)
            if exc.name != f"{__name__}.{name}":
                raise
    return found


def all_routes() -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for module in modules():
        out.extend(module.routes)
    return out


def schemas() -> list[str]:
    return [module.SCHEMA for module in modules() if getattr(module, "SCHEMA", None)]
