"""The emulator's routes: every Box area's module, imported explicitly; `ROUTES` is what the app serves.

To add an area, write `routes/<area>.py` with a `routes` list and add it below (order matters only where
two paths could match the same URL: the earlier module wins).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import (
    ai,
    chunked,
    collaborations,
    collections,
    comments,
    docgen,
    events,
    files,
    folder_locks,
    folders,
    groups,
    hubs,
    metadata,
    metadata_queries,
    metadata_templates,
    oauth,
    recent_items,
    representations,
    search,
    shared_links,
    tasks,
    trash,
    uploads,
    users,
    web_links,
    webhooks,
)

ROUTES: list[BaseRoute] = [
    *oauth.routes,
    *users.routes,
    *groups.routes,
    *uploads.routes,
    *chunked.routes,
    *trash.routes,
    *files.routes,
    *representations.routes,
    *folders.routes,
    *collaborations.routes,
    *shared_links.routes,
    *metadata_templates.routes,
    *metadata_queries.routes,
    *metadata.routes,
    *comments.routes,
    *tasks.routes,
    *web_links.routes,
    *search.routes,
    *events.routes,
    *webhooks.routes,
    *ai.routes,
    *hubs.routes,
    *docgen.routes,
    *collections.routes,
    *recent_items.routes,
    *folder_locks.routes,
]
