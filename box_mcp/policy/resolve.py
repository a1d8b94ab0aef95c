"""Where items sit in Box: ancestry (folder ids from root "0" down) from item JSON, via a bounded cache.

box-mcp calls `invalidate` / `invalidate_subtree` after its own moves, renames and deletes; a fetch that
races with an invalidation is not cached, so a stale location never outlives the change that made it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import anyio

from box_mcp.access import ItemRef

Fetch = Callable[[ItemRef], Awaitable[Mapping[str, Any]]]


class AncestryError(ValueError):
    """Box's answer did not say where the item sits."""


def ancestry_from_json(item: ItemRef, body: Mapping[str, Any]) -> tuple[str, ...]:
    """Folder ids from root down: a folder's ends with its own id, any other item's with its parent's."""
    if item.type == "folder" and item.id == "0":
        return ("0",)
    path = body.get("path_collection")
    entries = path.get("entries") if isinstance(path, Mapping) else None
    if not isinstance(entries, list):
        raise AncestryError(f"Box's answer for {item} has no path_collection")
    ids: list[str] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str | int):
            raise AncestryError(f"Box's path_collection for {item} holds an entry without an id")
        ids.append(str(entry["id"]))
    if item.type == "folder":
        ids.append(item.id)
    return tuple(ids)


def _collab_target(item: ItemRef, body: Mapping[str, Any]) -> ItemRef:
    target = body.get("item")
    if not isinstance(target, Mapping) or not target.get("type") or target.get("id") is None:
        raise AncestryError(f"{item} has no item (it may be pending or on a deleted item)")
    return ItemRef(str(target["type"]), str(target["id"]))


class _Flight:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: tuple[str, ...] | None = None
        self.error: BaseException | None = None


class AncestryResolver:
    """Async, single-flight per item, bounded LRU cache of item ancestry."""

    def __init__(
        self,
        fetch: Fetch,
        max_entries: int = 10_000,
        *,
        max_age: float | None = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._fetch = fetch
        self._max = max_entries
        # Moves made outside box-mcp (by people, other apps) are only seen when an entry ages out.
        self._max_age = max_age
        self._clock = clock
        self._cache: OrderedDict[ItemRef, tuple[str, ...]] = OrderedDict()
        self._stored_at: dict[ItemRef, float] = {}
        self._collab_item: dict[ItemRef, ItemRef] = {}
        self._flights: dict[ItemRef, _Flight] = {}
        self._generation = 0
        self.fetches = 0  # how many times Box was asked (for tests and metrics)

    def __len__(self) -> int:
        return len(self._cache)

    async def ancestry(self, item: ItemRef) -> tuple[str, ...]:
        if item.type == "folder" and item.id == "0":
            return ("0",)
        cached = self._cache.get(item)
        if cached is not None:
            if self._max_age is None or self._clock() - self._stored_at[item] < self._max_age:
                self._cache.move_to_end(item)
                return cached
            self._forget(item)
        flight = self._flights.get(item)
        if flight is not None:
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.result is not None
            return flight.result
        flight = _Flight()
        self._flights[item] = flight
        generation = self._generation
        try:
            result = await self._lookup(item)
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.result = result
            if generation == self._generation:
                self._store(item, result)
            return result
        finally:
            del self._flights[item]
            flight.done.set()

    async def resolve(self, items: Iterable[ItemRef]) -> dict[ItemRef, tuple[str, ...]]:
        """Ancestry of several items (one after another; each is single-flight and cached)."""
        return {item: await self.ancestry(item) for item in dict.fromkeys(items)}

    async def _lookup(self, item: ItemRef) -> tuple[str, ...]:
        self.fetches += 1
        body = await self._fetch(item)
        if item.type == "collaboration":
            ref = _collab_target(item, body)
            self._collab_item[item] = ref
            return await self.ancestry(ref)
        return ancestry_from_json(item, body)

    async def collaboration_item(self, collab: ItemRef) -> ItemRef:
        """The file or folder a collaboration is on (a policy decides on that item, not on the id)."""
        await self.ancestry(collab)
        ref = self._collab_item.get(collab)
        if ref is None:  # invalidated while we asked: ask again, without caching
            self.fetches += 1
            ref = _collab_target(collab, await self._fetch(collab))
        return ref

    def cached(self, item: ItemRef) -> tuple[str, ...] | None:
        """The cached ancestry, if fresh (no Box request)."""
        if item.type == "folder" and item.id == "0":
            return ("0",)
        anc = self._cache.get(item)
        if anc is None:
            return None
        if self._max_age is not None and self._clock() - self._stored_at[item] >= self._max_age:
            return None
        return anc

    def _store(self, item: ItemRef, ancestry: tuple[str, ...]) -> None:
        self._cache[item] = ancestry
        self._stored_at[item] = self._clock()
        self._cache.move_to_end(item)
        while len(self._cache) > self._max:
            old, _ = self._cache.popitem(last=False)
            self._stored_at.pop(old, None)
            self._collab_item.pop(old, None)

    def _forget(self, item: ItemRef) -> None:
        self._cache.pop(item, None)
        self._stored_at.pop(item, None)
        self._collab_item.pop(item, None)

    def invalidate(self, item: ItemRef) -> None:
        """Forget one item (and collaborations on it); a folder's subtree is kept: see invalidate_subtree."""
        self._generation += 1
        self._forget(item)
        for collab in [c for c, target in self._collab_item.items() if target == item]:
            self._forget(collab)

    def invalidate_subtree(self, folder_id: str) -> None:
        """Forget every cached item at or below a folder (after it moved, was renamed or deleted)."""
        self._generation += 1
        stale = [item for item, anc in self._cache.items() if folder_id in anc]
        for item in stale:
            self._forget(item)
