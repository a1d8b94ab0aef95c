"""Where Box items sit and what they are called, as each agent's own Box identity sees them: one bounded,
single-flight cache of item bodies per lookup identity, feeding decisions and confinement alike.

One GET per item asks for every field a consumer needs (`name,path_collection`), so a name asked after the
ancestry is a cache hit. box-mcp calls `invalidate` / `invalidate_subtree` after its own moves, renames and
deletes, and a fetch that races with an invalidation is not cached: a stale location never outlives the
change that made it. Changes made outside box-mcp (by people, other apps) are seen when an entry ages out.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from box_mcp.access import TRASHED, ItemRef
from box_mcp.box.links import boxapi_header
from box_mcp.errors import AncestryError, BoxError, LocateError
from box_mcp.telemetry import NULL, Telemetry

if TYPE_CHECKING:
    from box_mcp.box.client import BoxClient
    from box_mcp.identity import Person

# (agent, the signed-in person or None) -> a Box client on that identity's base token (never narrowed to
# one call's item). A person agent acts as each person's own Box user: each person is an identity.
Lookup = Callable[[str, "Person | None"], Awaitable["BoxClient"]]
# whose view a cache entry is: (agent, the person's Box user id or None)
Who = tuple[str, str | None]


def _who(agent: str, person: Person | None) -> Who:
    return (agent, person.box_user_id if person is not None else None)


NO_LOOKUP = "where the items sit in Box cannot be checked (no lookup identity); ask the operator."

_PATHS = {
    "file": "/files/{}",
    "folder": "/folders/{}",
    "web_link": "/web_links/{}",
    "collaboration": "/collaborations/{}",
    "task": "/tasks/{}",
    "task_assignment": "/task_assignments/{}",
    "user": "/users/{}",
    "webhook": "/webhooks/{}",
    "trashed_file": "/files/{}/trash",
    "trashed_folder": "/folders/{}/trash",
}
_PLACED = ("file", "folder", "web_link")  # items with a path_collection
# Resources outside the folder tree: a Box Hub (`hub:<id>`) and the enterprise's hubs (what creating a hub
# writes). They sit in no folder, so their ancestry is empty without asking Box: `within:` never covers
# them and a folder-scoped forbid never reaches them; a rule names them in `items:` or grants the tool.
UNPLACED = ("hub", "enterprise")
# A trashed file or folder (`trashed_file:<id>`, `trashed_folder:<id>`: what trash tools name) is where it
# was before it was trashed. Box's answer for it (GET /files/{id}/trash) shows `path_collection` as the
# Trash folder alone and keeps `parent`: the folder it was trashed from. Its ancestry is that folder's,
# looked up live, or, when that folder was trashed with it, as a trashed folder in turn (a bounded walk).
# A policy rule matches it as the file or folder it is (access.live_ref): `items: [file:123]` covers it.
MAX_TRASH_DEPTH = 64  # trashed folders above a trashed item, walked before giving up (fails closed)
# None: Box's GET of a task, a task assignment or a webhook takes no `fields` we need; its answer
# always has what ALIASED reads.
_FIELDS: dict[str, str | None] = {
    "collaboration": "item",
    "task": None,
    "task_assignment": None,
    "user": "login",
    "webhook": None,
    "trashed_file": "name,parent",
    "trashed_folder": "name,parent",
}
# What an id stands for: a collaboration, a task or a task assignment is on an item, a webhook watches its
# target. A policy decides on that file or folder (decide.py aliases the id to it), found under this key
# of the id's own Box answer.
ALIASED = {"collaboration": "item", "task": "item", "task_assignment": "item", "webhook": "target"}
STANDS_FOR = tuple(ALIASED)
HUB_PAGE = 1000  # GET /hub_items: limit at most 1000
MAX_HUB_PAGES = 10  # a hub's items are read whole for a decision: past 10,000 the call is refused
ITEM_FIELDS = "name,path_collection"


def ancestry_from_json(item: ItemRef, body: Mapping[str, Any]) -> tuple[str, ...]:
    """Folder ids from root down: a folder's ends with its own id, any other item's with its parent's."""
    if item.type == "folder" and item.id == "0":
        return ("0",)
    path = body.get("path_collection")
    entries = path.get("entries") if isinstance(path, Mapping) else None
    if not isinstance(entries, list):
        raise AncestryError(f"could not check where {item} sits in Box: Box's answer has no path_collection.")
    ids: list[str] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str | int):
            raise AncestryError(
                f"could not check where {item} sits in Box: its path_collection holds an entry without an id."
            )
        ids.append(str(entry["id"]))
    if item.type == "folder":
        ids.append(item.id)
    return tuple(ids)


@dataclass(frozen=True, slots=True)
class _Entry:
    body: Mapping[str, Any]
    ancestry: tuple[str, ...] | None  # files, folders and web links
    stored_at: float


class _Flight:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.entry: _Entry | None = None
        self.error: BaseException | None = None


class Locator:
    """Item lookups per agent (its own Box identity): ancestry, name, a collaboration's item, a user's login.

    `lookup=None` means no lookup identity: every lookup fails closed with LocateError(NO_LOOKUP)."""

    def __init__(
        self,
        lookup: Lookup | None,
        *,
        max_entries: int = 10_000,
        max_age: float | None = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._lookup = lookup
        self._max = max_entries
        self._max_age = max_age
        self._clock = clock
        # Keyed by (who, item): two identities may see different paths to the same item.
        self._cache: OrderedDict[tuple[Who, ItemRef], _Entry] = OrderedDict()
        self._agents: set[Who] = set()
        self._flights: dict[tuple[Who, ItemRef], _Flight] = {}
        self._generation = 0
        self.fetches = 0  # how many times Box was asked (for tests and metrics)
        self.telemetry: Telemetry = NULL  # a "locate" span per Box lookup (the deployment sets it)

    def __len__(self) -> int:
        return len(self._cache)

    async def client(self, agent: str, person: Person | None = None) -> BoxClient:
        """The agent's lookup client (refilling pages, counting a folder's items); the agent never has it."""
        if self._lookup is None:
            raise LocateError(NO_LOOKUP)
        return await self._lookup(agent, person)

    async def ancestry(self, agent: str, item: ItemRef, person: Person | None = None) -> tuple[str, ...]:
        """Folder ids from "0" down (see ancestry_from_json); a collaboration's (a task's) are its item's."""
        if item.type == "folder" and item.id == "0":
            return ("0",)
        if item.type in ALIASED:
            return await self.ancestry(agent, await self.item_of(agent, item, person), person)
        if item.type in UNPLACED:
            return ()
        if item.type in TRASHED:
            return await self._trashed_ancestry(agent, item, person)
        entry = await self._entry(agent, item, person)
        if entry.ancestry is None:
            raise AncestryError(f"box-mcp cannot locate a {item.type} in Box")
        return entry.ancestry

    async def name(self, agent: str, item: ItemRef, person: Person | None = None) -> str:
        name = (await self._entry(agent, item, person)).body.get("name")
        if not isinstance(name, str):
            raise LocateError(f"Box's answer for {item} has no name")
        return name

    async def collaboration_item(self, agent: str, collab: ItemRef, person: Person | None = None) -> ItemRef:
        """The file or folder a collaboration (a task, a task assignment) is on: a policy decides on that
        item, not on the id."""
        return await self.item_of(agent, collab, person)

    async def item_of(self, agent: str, ref: ItemRef, person: Person | None = None) -> ItemRef:
        """The file or folder a collaboration, task or assignment is on, or a webhook watches (ALIASED)."""
        key = ALIASED.get(ref.type)
        if key is None:
            raise AncestryError(f"a {ref.type} stands for no other item")
        target = (await self._entry(agent, ref, person)).body.get(key)
        if not isinstance(target, Mapping) or not target.get("type") or target.get("id") is None:
            raise AncestryError(f"{ref} has no {key} (it may be pending or on a deleted item)")
        return ItemRef(str(target["type"]), str(target["id"]))

    async def shared_item(
        self, agent: str, url: str, password: str | None, person: Person | None = None
    ) -> tuple[ItemRef, tuple[str, ...]]:
        """The file, folder or web link a shared link points at, and where it sits as Box shows it through
        the link (folder ids as ancestry_from_json reads them), for this identity. Never cached: the answer
        depends on the password, which is sent to Box in the `boxapi` header only and kept nowhere.

        Where an identity that is no collaborator sees the item through a link, Box's path_collection
        shows only what that identity may see: an item outside its folders is outside any `within:`."""
        client = await self.client(agent, person)
        self.fetches += 1
        try:
            body = await client.get(
                "/shared_items",
                params={"fields": f"type,id,{ITEM_FIELDS}"},
                headers={"boxapi": boxapi_header(url, password)},
            )
        except BoxError as exc:
            status = getattr(exc, "status", None)
            text = (
                f"Box has no item at that shared link that {agent}'s identity can open"
                if status == 404
                else f"could not resolve the shared link in Box ({exc})"
            )
            raise LocateError(
                text,
                status=status,
                code=getattr(exc, "code", None),
                request_id=getattr(exc, "request_id", None),
            ) from exc
        body = body if isinstance(body, Mapping) else {}
        kind, item_id = body.get("type"), body.get("id")
        if kind not in _PLACED or not isinstance(item_id, str | int):
            raise AncestryError("Box's answer for the shared link names no file, folder or web link")
        item = ItemRef(str(kind), str(item_id))
        return item, ancestry_from_json(item, body)

    async def login(self, agent: str, user_id: str, person: Person | None = None) -> str:
        login = (await self._entry(agent, ItemRef("user", user_id), person)).body.get("login")
        if not isinstance(login, str) or "@" not in login:
            raise LocateError(f"Box user {user_id} has no login")
        return login

    async def hub_items(self, agent: str, hub: ItemRef, person: Person | None = None) -> tuple[ItemRef, ...]:
        """The files, folders and web links in a hub as this identity sees them, asked of Box now (a hub's
        items change without box-mcp knowing: never cached). Box 404 when the identity has no role on it."""
        client = await self.client(agent, person)
        found: dict[ItemRef, None] = {}
        marker: str | None = None
        for _ in range(MAX_HUB_PAGES):
            params: dict[str, Any] = {"hub_id": hub.id, "limit": HUB_PAGE}
            if marker:
                params["marker"] = marker
            self.fetches += 1
            try:
                body = await client.get("/hub_items", params=params, headers={"box-version": "2025.0"})
            except BoxError as exc:
                raise _lookup_failed(agent, hub, exc) from exc
            entries = body.get("entries") if isinstance(body, Mapping) else None
            for entry in entries if isinstance(entries, list) else ():
                if (
                    isinstance(entry, Mapping)
                    and entry.get("type") in _PLACED
                    and entry.get("id") is not None
                ):
                    found[ItemRef(str(entry["type"]), str(entry["id"]))] = None
            marker = body.get("next_marker") if isinstance(body, Mapping) else None
            if not marker:
                return tuple(found)
        raise LocateError(
            f"{hub} holds more than {HUB_PAGE * MAX_HUB_PAGES} items, more than box-mcp checks one by one; "
            "ask about its files with ai_qa_multi_file instead."
        )

    async def _trashed_ancestry(self, agent: str, item: ItemRef, person: Person | None) -> tuple[str, ...]:
        """Where a trashed item was: its `parent` as that folder is now, or as a trashed folder when it was
        trashed with the item (then its own parent in turn, at most MAX_TRASH_DEPTH folders up)."""
        chain: list[str] = [item.id] if item.type == "trashed_folder" else []
        current = item
        for _ in range(MAX_TRASH_DEPTH):
            parent = (await self._entry(agent, current, person)).body.get("parent")
            if not isinstance(parent, Mapping) or not isinstance(parent.get("id"), str | int):
                raise AncestryError(f"Box's answer for {current} names no folder it was trashed from")
            parent_id = str(parent["id"])
            try:
                above = await self.ancestry(agent, ItemRef("folder", parent_id), person)
            except LocateError as exc:
                if not exc.missing:
                    raise
                chain.insert(0, parent_id)  # trashed too (or gone: the next lookup says so)
                current = ItemRef("trashed_folder", parent_id)
                continue
            return (*above, *chain)
        raise AncestryError(
            f"could not find where {item} was: over {MAX_TRASH_DEPTH} trashed folders above it"
        )

    def learn(
        self, agent: str, item: ItemRef, name: str | None, parent_id: str, person: Person | None = None
    ) -> None:
        """Record an item a call of this agent just created or moved into `parent_id` (Box's answer names
        the parent): where it sits follows from the parent's cached place, which it never outlives. An
        uncached parent teaches nothing."""
        if item.type not in _PLACED:
            return
        above: tuple[str, ...]
        if parent_id == "0":
            above, at = ("0",), self._clock()
        else:
            parent = self._fresh((_who(agent, person), ItemRef("folder", parent_id)))
            if parent is None or parent.ancestry is None:
                return
            above, at = parent.ancestry, parent.stored_at
        body = (
            {"type": item.type, "id": item.id}
            if name is None
            else {"type": item.type, "id": item.id, "name": name}
        )
        self._store(
            (_who(agent, person), item),
            _Entry(body, (*above, item.id) if item.type == "folder" else above, at),
        )

    def invalidate(self, item: ItemRef) -> None:
        """Forget one item for every identity; a folder's subtree is kept: see invalidate_subtree."""
        self._generation += 1
        for agent in self._agents:
            self._cache.pop((agent, item), None)

    def invalidate_subtree(self, folder_id: str) -> None:
        """Forget every cached item at or below a folder (after it moved, was renamed or deleted)."""
        self._generation += 1
        stale = [key for key, entry in self._cache.items() if entry.ancestry and folder_id in entry.ancestry]
        for key in stale:
            del self._cache[key]

    # -- the cache ------------------------------------------------------------------------------------

    def _fresh(self, key: tuple[Who, ItemRef]) -> _Entry | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        if self._max_age is not None and self._clock() - entry.stored_at >= self._max_age:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return entry

    async def _entry(self, agent: str, item: ItemRef, person: Person | None) -> _Entry:
        key = (_who(agent, person), item)
        entry = self._fresh(key)
        if entry is not None:
            return entry
        flight = self._flights.get(key)
        if flight is not None:
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.entry is not None
            return flight.entry
        flight = self._flights[key] = _Flight()
        generation = self._generation
        try:
            with self.telemetry.stage("locate"):
                entry = await self._fetch(agent, item, person)
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.entry = entry
            if generation == self._generation:
                self._store(key, entry)
            return entry
        finally:
            del self._flights[key]
            flight.done.set()

    async def _fetch(self, agent: str, item: ItemRef, person: Person | None) -> _Entry:
        path = _PATHS.get(item.type)
        if path is None:
            raise AncestryError(f"box-mcp cannot locate a {item.type} in Box")
        client = await self.client(agent, person)
        self.fetches += 1
        try:
            fields = _FIELDS.get(item.type, ITEM_FIELDS)
            params = {"fields": fields} if fields is not None else None
            body = await client.get(path.format(item.id), params=params)
        except BoxError as exc:
            raise _lookup_failed(agent, item, exc) from exc
        body = body if isinstance(body, Mapping) else {}
        # A body without the path is an error, not an entry: it is never cached.
        ancestry = ancestry_from_json(item, body) if item.type in _PLACED else None
        return _Entry(body, ancestry, self._clock())

    def _store(self, key: tuple[Who, ItemRef], entry: _Entry) -> None:
        self._agents.add(key[0])
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)


def _lookup_failed(agent: str, item: ItemRef, exc: BoxError) -> LocateError:
    status = getattr(exc, "status", None)
    text = (
        f"Box has no {item} that {agent}'s identity can see"
        if status == 404
        else f"could not look up {item} in Box ({exc}); retry later."
    )
    return LocateError(
        text, status=status, code=getattr(exc, "code", None), request_id=getattr(exc, "request_id", None)
    )
