"""The `externally_shared` fact: whether the item a call touches, or a folder above it, is open to people
outside the organisation, read from Box as the agent's own identity (it reveals nothing that identity
could not see).

An item is externally shared when it or any folder above it (up to, not including, All Files) has

- a shared link with access `open` (anyone with the link; `company` and `collaborators` links are not
  external), or
- a collaborator outside the enterprise. Groups are the enterprise's own, so a group collaborator is
  inside. A user (or a pending invite to an e-mail address) is outside when the policy's
  `internal_domains` is set and the login's domain is in none of them ('*.example.com' covers
  subdomains); when it is empty, a user is outside unless Box shows the lookup identity the user's record
  in the lookup identity's own enterprise (a user Box will not show that identity, or an invite to an
  address with no Box account, is outside).

For a create, an upload, a copy or a move the item is the destination folder; otherwise each item the
call acts on (not a copy's or move's source, not a search scope). Per call, each item and folder is read
once: `GET /{files|folders|web_links}/{id}` (its shared link, whether it has collaborations, and for the
touched item its path), then its collaborations only when it has some; the search stops at the first
exposure found. Links and collaborations are read fresh on every call that needs them (a link made a
second ago counts); only users' enterprises are cached (bounded, for `max_age` seconds).

Anything that cannot be read (Box down, a folder above the item the identity may not open, no lookup
identity) makes the fact unavailable rather than refusing the call: the engine then fails closed (see
policy/conditions.py).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from box_mcp.access import Exposure, ItemRef, ResourceUse
from box_mcp.errors import BoxError, LocateError
from box_mcp.policy.locate import STANDS_FOR, Locator, ancestry_from_json

if TYPE_CHECKING:
    from box_mcp.box.client import BoxClient
    from box_mcp.identity import Person

# A folder with more collaborations than this is not read to the end: its facts count as unavailable.
MAX_COLLAB_PAGES = 10
COLLAB_PAGE = 1000
MAX_NAME = 60
_PATHS = {"file": "/files/{}", "folder": "/folders/{}", "web_link": "/web_links/{}"}
_TARGET_FIELDS = "name,shared_link,has_collaborations,path_collection"
_FIELDS = "name,shared_link,has_collaborations"
_COLLAB_FIELDS = "accessible_by,invite_email,status"
DESTINATIONS = ("parent", "destination")
SKIPPED = ("source", "scope")

# Whether the agent may see a folder, given its ancestry (the engine's can_see for the call): what the
# sentences may name.
Visible = Callable[[ItemRef, tuple[str, ...]], bool]


def targets(uses: Sequence[ResourceUse], aliases: Mapping[ItemRef, ItemRef]) -> list[ItemRef]:
    """The items whose exposure counts for a call: its destination folders, else the items it acts on."""
    chosen = [u for u in uses if u.role in DESTINATIONS] or [u for u in uses if u.role not in SKIPPED]
    out = [aliases.get(u.item, u.item) for u in chosen]
    # A collaboration not yet resolved to its item is looked up by `find` (its item is what is shared).
    return list(dict.fromkeys(i for i in out if i.type in _PATHS or i.type in STANDS_FOR))


def domain_matches(domain: str, allowed: Sequence[str]) -> bool:
    return any(domain == d or (d.startswith("*.") and domain.endswith(d[1:])) for d in allowed)


def _clean(name: Any) -> str:
    """A Box name for a sentence: untrusted text, so control characters go and it is cut short."""
    text = "".join(ch for ch in str(name) if ch.isprintable())
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


class Unavailable(Exception):
    """The facts could not be read (a control-flow signal inside this module)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class ExposureFinder:
    """Looks up `externally_shared` for calls, through the locator's lookup identities."""

    def __init__(
        self,
        locator: Locator,
        *,
        max_age: float = 300.0,
        max_users: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.locator = locator
        self._max_age = max_age
        self._max_users = max_users
        self._clock = clock
        self.fetches = 0  # Box requests made (for tests and metrics)
        # (whose view, user id or "me") -> (enterprise id or None, when it was read)
        self._enterprises: OrderedDict[tuple[str, str | None, str], tuple[str | None, float]] = OrderedDict()

    async def find(
        self,
        agent: str,
        person: Person | None,
        items: Sequence[ItemRef],
        internal_domains: Sequence[str],
        visible: Visible,
    ) -> Exposure | None:
        """The first touched item that is externally shared; else the first whose facts are unavailable;
        else "not shared". None when the call touches no item (the condition does not apply)."""
        if not items:
            return None
        seen: dict[str, str | None] = {}  # folder id -> what exposes it, for this call (shared parents)
        unknown: Exposure | None = None
        for given in items:
            item = given
            try:
                if item.type in STANDS_FOR:
                    item = await self._collaboration_item(agent, person, item)
                why = await self._item(agent, person, item, internal_domains, visible, seen)
            except Unavailable as exc:
                unknown = unknown or Exposure(item, None, exc.why)
                continue
            if why is not None:
                return Exposure(item, True, why)
        return unknown or Exposure(items[0], False)

    async def _collaboration_item(self, agent: str, person: Person | None, collab: ItemRef) -> ItemRef:
        try:
            item = await self.locator.collaboration_item(agent, collab, person)
        except LocateError as exc:
            raise Unavailable(f"the item of {collab} could not be looked up ({exc})".rstrip(".")) from None
        if item.type not in _PATHS:
            raise Unavailable(
                f"{collab} is on an item of type {item.type}, whose sharing box-mcp cannot read"
            )
        return item

    async def _item(
        self,
        agent: str,
        person: Person | None,
        item: ItemRef,
        internal: Sequence[str],
        visible: Visible,
        seen: dict[str, str | None],
    ) -> str | None:
        if item == ItemRef("folder", "0"):
            return None  # All Files has no link and no collaborators
        if item.type == "folder" and item.id in seen:  # read already, with everything above it
            kind = seen[item.id]
            return None if kind is None else f"{kind} on it"
        try:
            box = await self.locator.client(agent, person)
        except LocateError as exc:
            raise Unavailable(str(exc).rstrip(".")) from None
        body = await self._get(box, item, _TARGET_FIELDS, "it")
        try:
            ancestry = ancestry_from_json(item, body)
        except LocateError:
            raise Unavailable("Box's answer did not say where it sits") from None
        above = [f for f in ancestry if f != "0" and not (item.type == "folder" and f == item.id)]
        names = _path_names(body)
        # Nearest first: the item itself, then its parent folder, up to the top.
        chain: list[tuple[ItemRef, tuple[str, ...]]] = [(item, ancestry)]
        for depth in range(len(above) - 1, -1, -1):
            chain.append((ItemRef("folder", above[depth]), ("0", *above[: depth + 1])))
        for ref, anc in chain:
            where = "it" if ref == item else _place(ref, anc, names, visible)
            if ref.type == "folder" and ref.id in seen:
                kind = seen[ref.id]
            else:
                node = body if ref == item else await self._get(box, ref, _FIELDS, where)
                kind = await self._exposed(agent, person, box, ref, node, where, internal)
                if ref.type == "folder":
                    seen[ref.id] = kind
            if kind is not None:
                return f"{kind} on {where}"
        return None

    async def _exposed(
        self,
        agent: str,
        person: Person | None,
        box: BoxClient,
        ref: ItemRef,
        body: Mapping[str, Any],
        where: str,
        internal: Sequence[str],
    ) -> str | None:
        """What makes one item or folder externally shared, or None."""
        link = body.get("shared_link")
        if isinstance(link, Mapping) and "open" in (link.get("access"), link.get("effective_access")):
            return "open shared link"
        if body.get("has_collaborations") is False or ref.type == "web_link":
            return None  # web links have no collaborations of their own
        for collab in await self._collaborations(box, ref, where):
            if await self._outside(agent, person, box, collab, internal, where):
                return "a collaborator outside the organisation"
        return None

    async def _collaborations(self, box: BoxClient, ref: ItemRef, where: str) -> list[Mapping[str, Any]]:
        path = _PATHS[ref.type].format(ref.id) + "/collaborations"
        out: list[Mapping[str, Any]] = []
        marker: str | None = None
        for _ in range(MAX_COLLAB_PAGES):
            params: dict[str, Any] = {"fields": _COLLAB_FIELDS, "limit": COLLAB_PAGE}
            if marker:
                params["marker"] = marker
            page = await self._read(box, path, params, f"the collaborators of {where}")
            entries = page.get("entries")
            if not isinstance(entries, list):
                raise Unavailable(f"Box's list of the collaborators of {where} had no entries")
            out.extend(e for e in entries if isinstance(e, Mapping))
            marker = page.get("next_marker") or None
            if not marker:
                return out
        raise Unavailable(f"{where} has more collaborators than box-mcp reads for a decision")

    async def _outside(
        self,
        agent: str,
        person: Person | None,
        box: BoxClient,
        collab: Mapping[str, Any],
        internal: Sequence[str],
        where: str,
    ) -> bool:
        if collab.get("status") == "rejected":
            return False
        grantee = collab.get("accessible_by")
        grantee = grantee if isinstance(grantee, Mapping) else {}
        if grantee.get("type") == "group":
            return False  # a Box group is the enterprise's own
        login = grantee.get("login") or collab.get("invite_email")
        if internal:
            if not isinstance(login, str) or "@" not in login:
                return True  # no login to judge by: outside (fails closed)
            return not domain_matches(login.rpartition("@")[2].lower().rstrip("."), internal)
        user_id = grantee.get("id")
        if not isinstance(user_id, str | int) or not str(user_id):
            return True  # an invite to an address with no Box account
        mine = await self._enterprise(agent, person, box, "me", where)
        if mine is None:
            raise Unavailable("Box does not say which enterprise the lookup identity belongs to")
        theirs = await self._enterprise(agent, person, box, str(user_id), where)
        return theirs != mine

    async def _enterprise(
        self, agent: str, person: Person | None, box: BoxClient, user: str, where: str
    ) -> str | None:
        key = (agent, person.box_user_id if person is not None else None, user)
        cached = self._enterprises.get(key)
        if cached is not None and self._clock() - cached[1] < self._max_age:
            self._enterprises.move_to_end(key)
            return cached[0]
        self.fetches += 1
        try:
            body = await box.get(f"/users/{user}", params={"fields": "enterprise"})
        except BoxError as exc:
            status = getattr(exc, "status", None)
            if status in (403, 404) and user != "me":
                found = None  # Box does not show this identity the user: not one of its enterprise
            else:
                said = _said(exc)
                raise Unavailable(f"Box did not say who a collaborator on {where} is ({said})") from None
        else:
            enterprise = body.get("enterprise") if isinstance(body, Mapping) else None
            eid = enterprise.get("id") if isinstance(enterprise, Mapping) else None
            found = str(eid) if isinstance(eid, str | int) else None
        self._enterprises[key] = (found, self._clock())
        self._enterprises.move_to_end(key)
        while len(self._enterprises) > self._max_users:
            self._enterprises.popitem(last=False)
        return found

    async def _get(self, box: BoxClient, ref: ItemRef, fields: str, where: str) -> Mapping[str, Any]:
        if ref.type == "web_link":  # a web link has no collaborations (Box refuses the field)
            fields = fields.replace(",has_collaborations", "")
        return await self._read(box, _PATHS[ref.type].format(ref.id), {"fields": fields}, where)

    async def _read(self, box: BoxClient, path: str, params: dict[str, Any], what: str) -> Mapping[str, Any]:
        self.fetches += 1
        try:
            body = await box.get(path, params=params)
        except BoxError as exc:
            raise Unavailable(f"Box did not answer for {what} ({_said(exc)})") from None
        if not isinstance(body, Mapping):
            raise Unavailable(f"Box's answer for {what} was not an object")
        return body


def _said(exc: BoxError) -> str:
    status = getattr(exc, "status", None)
    return f"status {status}" if status else "no answer"


def _path_names(body: Mapping[str, Any]) -> dict[str, str]:
    path = body.get("path_collection")
    entries = path.get("entries") if isinstance(path, Mapping) else None
    out: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, Mapping) and entry.get("id") is not None:
            out[str(entry["id"])] = _clean(entry.get("name", ""))
    return out


def _place(ref: ItemRef, anc: tuple[str, ...], names: Mapping[str, str], visible: Visible) -> str:
    """A folder above the item, named only when the agent may see it."""
    if not visible(ref, anc):
        return "a folder above it"
    name = names.get(ref.id)
    return f"{ref} '{name}'" if name else str(ref)
