"""The second half of the Box areas, registered as one entry of ROUTE_MODULES: collaborations, shared
items, metadata, comments, tasks, web links, search, events and webhooks (their routes and tables)."""

from __future__ import annotations

import importlib
from types import ModuleType

from starlette.routing import BaseRoute

FAMILY_MODULES = (
    "collaborations",
    "shared_links",
    "metadata_templates",
    "metadata",
    "comments",
    "tasks",
    "web_links",
    "search",
    "events",
    "webhooks",
)


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__package__}.{name}") for name in FAMILY_MODULES]


routes: list[BaseRoute] = [route for module in _modules() for route in module.routes]
SCHEMA = "\n".join(module.SCHEMA for module in _modules() if getattr(module, "SCHEMA", None))
