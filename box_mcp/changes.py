"""Changes in Box, as one in-process feed: producers publish what changed, consumers hear of it.

Producers are the webhook receiver (`/box/webhooks`, HTTP deployments with a public URL) and the events
API follower (where Box cannot reach the server, e.g. an IDE over stdio). A `Change` carries only ids
and Box's own name of what happened: the payload of a delivery is not trusted beyond the ids, so a
consumer that forwards anything refetches it as the identity it forwards to (an agent never hears of an
item its policy does not let it see, not even the id).

A listener that fails is logged and dropped from that one publication; it never stops the others, nor the
producer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

ItemType = Literal["file", "folder"]
Listener = Callable[["Change"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that happened to one Box item."""

    item_type: ItemType
    item_id: str
    event: str  # Box's trigger or event type, e.g. FILE.UPLOADED, ITEM_UPLOAD
    source: Literal["webhook", "events"]
    delivery_id: str  # Box's delivery id (webhook) or event id (events API): the de-duplication key
    parent_id: str | None = None  # the parent folder Box named, when it named one (a hint, not trusted)


class ChangeFeed:
    """Fan-out of `Change`s to listeners, in publication order per listener."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add `listener`; the returned function removes it (calling it twice is harmless)."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    @property
    def listening(self) -> bool:
        return bool(self._listeners)

    async def publish(self, change: Change) -> None:
        for listener in tuple(self._listeners):
            try:
                await listener(change)
            except Exception:  # one consumer's bug must not stop the others nor the producer
                log.exception("a change listener failed on %s %s", change.item_type, change.item_id)


__all__ = ["Change", "ChangeFeed", "ItemType", "Listener"]
