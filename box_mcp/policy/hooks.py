"""The policy's seams into the gate: which tools an agent sees, the decision on each call, result confinement,
and API-key authentication. One `PolicyGate` serves as the gate's PolicyHook and ResultFilterHook.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from box_mcp.access import CallFacts, ItemRef, ResourceUse
from box_mcp.box.errors import BoxAPIError
from box_mcp.decision import Decision, deny
from box_mcp.errors import BoxError, BoxMCPError
from box_mcp.policy import hidden
from box_mcp.policy.engine import DecisionRequest
from box_mcp.policy.limits import RateLimiter
from box_mcp.policy.resolve import AncestryError, AncestryResolver
from box_mcp.policy.scrub import scrub
from box_mcp.policy.store import PolicyStore

if TYPE_CHECKING:
    from box_mcp.gate import Call
    from box_mcp.tools.spec import ToolOutput, ToolSpec

log = logging.getLogger("box_mcp.policy")

Fetch = Callable[[ItemRef], Awaitable[Mapping[str, Any]]]
# agent -> the fetch that looks items up as that agent's own Box identity (base token, never narrowed)
FetchFor = Callable[[str], Awaitable[Fetch]]
MAX_INJECTED_ROOTS = 50  # search's ancestor_folder_ids accepts at most 50 folders
_NO_LOOKUP = "where the items sit in Box cannot be checked (no lookup identity); ask the operator."

_PATHS = {
    "file": "/files/{}",
    "folder": "/folders/{}",
    "web_link": "/web_links/{}",
    "collaboration": "/collaborations/{}",
    "user": "/users/{}",
}
_FIELDS = {"collaboration": "item", "user": "login"}


class BoxFetch:
    """A resolver fetch over a BoxClient: each item's path_collection (a collaboration's item). Its
    `client` also refills pages past hidden entries and counts what a folder holds (policy/hidden.py)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def __call__(self, item: ItemRef) -> Mapping[str, Any]:
        path = _PATHS.get(item.type)
        if path is None:
            raise AncestryError(f"box-mcp cannot locate a {item.type} in Box")
        fields = _FIELDS.get(item.type, "name,path_collection")
        body = await self.client.get(path.format(item.id), params={"fields": fields})
        return body if isinstance(body, Mapping) else {}


def box_fetch(client: Any) -> Fetch:
    return BoxFetch(client)


class PolicyGate:
    """PolicyHook + ResultFilterHook over a hot-reloading policy store and an ancestry resolver."""

    def __init__(
        self,
        store: PolicyStore,
        fetch: Fetch | None,
        *,
        fetch_for: FetchFor | None = None,
        limiter: RateLimiter | None = None,
        max_cache_entries: int = 10_000,
    ) -> None:
        """`fetch_for` (preferred) looks items up as each agent's own Box identity, so the ancestry the
        engine sees is exactly the path Box shows that identity and works for any credential mode;
        `fetch` is one lookup identity shared by every agent (a developer token)."""
        self.store = store
        self._fetch = fetch
        self._fetch_for = fetch_for
        self._max_cache_entries = max_cache_entries
        # One resolver per lookup identity: two identities may see different paths to the same item.
        self._resolvers: dict[str, AncestryResolver] = {}
        if fetch is not None and fetch_for is None:
            self._resolvers[""] = AncestryResolver(fetch, max_cache_entries)
        self.limiter = limiter or RateLimiter()

    @property
    def can_locate(self) -> bool:
        return self._fetch_for is not None or self._fetch is not None

    async def _resolver(self, agent: str) -> AncestryResolver | None:
        if self._fetch_for is None:
            return self._resolvers.get("")
        resolver = self._resolvers.get(agent)
        if resolver is None:
            resolver = AncestryResolver(await self._lookup(agent), self._max_cache_entries)
            self._resolvers[agent] = resolver
        return resolver

    async def _lookup(self, agent: str) -> Fetch:
        async def fetch(item: ItemRef) -> Mapping[str, Any]:
            body = await self._fetch_as(agent, item)
            return {} if body is None else body

        return fetch

    async def _fetch_as(self, agent: str, item: ItemRef) -> Mapping[str, Any] | None:
        if self._fetch_for is not None:
            return await (await self._fetch_for(agent))(item)
        if self._fetch is not None:
            return await self._fetch(item)
        return None

    # -- PolicyHook --------------------------------------------------------------------------------

    def tool_visible(self, agent: str, tool: ToolSpec) -> bool:
        return tool.name in self.store.engine().visible_tools(agent)

    def admit(self, agent: str, tool: ToolSpec | None) -> str | None:
        """Count one tools/call against the agent's rate limits (any call, even one with bad arguments or
        an unknown tool: each costs an audit record); the sentence to refuse it with, or None."""
        spec = self.store.engine().agent(agent)
        if spec is None:
            return None  # decide() refuses an agent the policy does not know
        is_write = tool is not None and not tool.read_only
        return self.limiter.check(agent, spec.limits, is_write=is_write)

    async def decide(self, call: Call) -> Decision:

        engine = self.store.engine()
        spec = engine.agent(call.agent)
        if spec is None:
            return deny(f"{call.agent!r} is not an agent this policy knows.")
        tool = call.tool.name
        args = None
        if not call.resources and hasattr(call.args, "ancestor_folder_ids"):
            # An unscoped search by a confined agent is scoped to its grant roots, and results filtered.
            roots = engine.roots(call.agent, tool)
            if roots is not None:
                if not roots:
                    return deny(f"{call.agent} holds no folder grant to search in.")
                args = call.args.model_copy(update={"ancestor_folder_ids": list(roots[:MAX_INJECTED_ROOTS])})
        uses = call.resources
        # An agent the policy hides items from gets one answer for an id it may not see and one that
        # does not exist; lookups that find nothing are collected here instead of answered at once.
        missing: dict[ItemRef, str] | None = {} if engine.may_hide(call.agent, tool) else None
        aliases: dict[ItemRef, ItemRef] = {}
        if any(u.item.type == "collaboration" for u in uses) and engine.scoped(call.agent, tool):
            # A collaboration id stands for the item it is on: rules naming that item must see it.
            resolved = await self._collaboration_items(call.agent, uses, missing)
            if isinstance(resolved, str):
                return _lookup_denied(resolved)
            aliases = resolved
        ancestry: dict[ItemRef, tuple[str, ...]] = {}
        if uses and engine.needs_ancestry(call.agent, tool):
            located = await self._locate(call.agent, uses, missing)
            if isinstance(located, str):
                return _lookup_denied(located)
            ancestry = located
            for alias, target in aliases.items():
                if alias in ancestry:
                    ancestry.setdefault(target, ancestry[alias])
        if missing is not None and uses:
            # Before any further lookup, so a hidden item costs the same Box requests as a missing one.
            refused = self._unavailable(call, DecisionRequest(call.agent, tool, uses, call.facts, ancestry,
                                                              aliases), missing)
            if refused is not None:
                return refused
        if any(u.subtree and aliases.get(u.item, u.item).type == "folder" for u in uses):
            # A call on a whole folder meets forbids on anything inside it: learn where those sit.
            guards = [g for g in engine.guards(call.agent, tool) if g not in ancestry]
            if guards:
                found = await self._locate_guards(call.agent, guards)
                if isinstance(found, str):
                    return _lookup_denied(found)
                ancestry.update(found)
        facts = _with_local_size(call)
        if facts.invitee_email is None and isinstance(getattr(call.args, "user_id", None), str):
            invitee = await self._login_of(call.agent, str(call.args.user_id))  # type: ignore[attr-defined]
            if invitee is None:
                return deny(f"could not look up Box user {call.args.user_id}; check the id.")  # type: ignore[attr-defined]
            facts = dataclasses.replace(facts, invitee_email=invitee)
        if facts.name is None and facts.extension is None:
            source = next((u.item for u in call.resources if _keeps_name(u, facts)), None)
            if source is not None:
                # A copy, a move or a new version keeps the file's name: extension and name limits apply.
                name = await self._name_of(call.agent, source)
                if name is None:
                    return deny(f"could not look up the name of {source}; check the id.")
                facts = dataclasses.replace(facts, name=name, extension=_extension(name))
        decision = engine.decide(DecisionRequest(call.agent, tool, uses, facts, ancestry, aliases))
        return _to_gate(decision, args)

    def _unavailable(
        self, call: Call, req: DecisionRequest, missing: Mapping[ItemRef, str]
    ) -> Decision | None:
        """The denial for the first item the call names that does not exist or that the agent may not see:
        one wording for the agent, the detail (not found, outside the grants, which rule) for the audit."""

        engine = self.store.engine()
        for given, use in zip(req.uses, req.matched(), strict=True):
            if given.item in missing:
                detail = f"not found: {missing[given.item]}"
                return deny(detail, shown=engine.unavailable(req.agent, req.tool, given.item))
            if not engine.can_see(req.agent, req.tool, req.ancestry.get(use.item) or (), use.item):
                # Decided on this item alone (not its subtree, whose forbids are not located yet): the
                # reason then names it, and the rule that hides it if one does.
                only = dataclasses.replace(given, subtree=False)
                alone = engine.decide(dataclasses.replace(req, uses=(only,)))
                shown = engine.unavailable(req.agent, req.tool, given.item)
                return deny(alone.reason, alone.rule_ids, shown=shown)
        return None

    async def _collaboration_items(
        self, agent: str, uses: tuple[ResourceUse, ...], missing: dict[ItemRef, str] | None = None
    ) -> dict[ItemRef, ItemRef] | str:
        """collaboration -> the item it is on, for each collaboration the call names. With `missing`, one
        that Box does not find (or that is on no item) goes there instead of ending the lookup."""
        resolver = await self._resolver(agent)
        if resolver is None:
            return _NO_LOOKUP
        out: dict[ItemRef, ItemRef] = {}
        for use in uses:
            if use.item.type != "collaboration" or use.item in out:
                continue
            try:
                out[use.item] = await resolver.collaboration_item(use.item)
            except BoxError as exc:
                if getattr(exc, "status", None) == 404:
                    if missing is not None:
                        missing[use.item] = f"Box has no {use.item} that {agent}'s identity can see"
                        continue
                    return _unlocated(exc, f"Box has no {use.item} that this server can see; check the id.")
                return _unlocated(exc, f"could not check which item {use.item} is on ({exc}); retry later.")
            except AncestryError as exc:
                if missing is not None:
                    missing[use.item] = str(exc)
                    continue
                return f"could not check which item {use.item} is on: {exc}."
        return out

    async def _locate_guards(self, agent: str, guards: list[ItemRef]) -> dict[ItemRef, tuple[str, ...]] | str:
        """Where the items forbids name sit; one this identity cannot see lies inside none of its folders."""
        resolver = await self._resolver(agent)
        if resolver is None:
            return _NO_LOOKUP
        out: dict[ItemRef, tuple[str, ...]] = {}
        for guard in guards:
            try:
                out[guard] = await resolver.ancestry(guard)
            except BoxError as exc:
                if getattr(exc, "status", None) != 404:
                    return _unlocated(exc, f"could not check what the folder holds ({exc}); retry later.")
                out[guard] = ()
            except AncestryError as exc:
                return f"could not check what the folder holds: {exc}."
        return out

    async def _locate(
        self, agent: str, uses: tuple[ResourceUse, ...], missing: dict[ItemRef, str] | None = None
    ) -> dict[ItemRef, tuple[str, ...]] | str:
        """Ancestry of every item the call touches, or the sentence that explains why it is unknown.
        With `missing`, an item Box does not find goes there instead of ending the lookup."""
        resolver = await self._resolver(agent)
        if resolver is None:
            return _NO_LOOKUP
        out: dict[ItemRef, tuple[str, ...]] = {}
        for use in uses:
            if use.item in out or (missing is not None and use.item in missing):
                continue
            try:
                out[use.item] = await resolver.ancestry(use.item)
            except BoxError as exc:
                if getattr(exc, "status", None) == 404:
                    if missing is not None:
                        missing[use.item] = f"Box has no {use.item} that {agent}'s identity can see"
                        continue
                    return _unlocated(exc, f"Box has no {use.item} that this server can see; check the id.")
                return _unlocated(exc, f"could not check where {use.item} sits in Box ({exc}); retry later.")
            except AncestryError as exc:
                return f"could not check where {use.item} sits in Box: {exc}."
        return out

    async def _name_of(self, agent: str, item: ItemRef) -> str | None:
        try:
            body = await self._fetch_as(agent, item)
        except (BoxError, AncestryError):
            return None
        name = None if body is None else body.get("name")
        return name if isinstance(name, str) else None

    async def _login_of(self, agent: str, user_id: str) -> str | None:
        """An invitee named by user id still meets invitee_domains conditions: by the user's login."""
        try:
            body = await self._fetch_as(agent, ItemRef("user", user_id))
        except (BoxError, AncestryError):
            return None
        login = None if body is None else body.get("login")
        return login if isinstance(login, str) and "@" in login else None

    # -- ResultFilterHook --------------------------------------------------------------------------

    async def confine(self, call: Call, output: ToolOutput) -> ToolOutput:
        if not call.tool.read_only:
            self._invalidate(call)
        output = await self._hide(call, output)
        roots = self.store.engine().roots(call.agent, call.tool.name)
        if roots is not None:
            resolver = await self._resolver(call.agent)

            async def locate(folder: ItemRef) -> tuple[str, ...] | None:
                if resolver is None:
                    return None
                try:
                    return await resolver.ancestry(folder)
                except (BoxError, AncestryError):
                    return None  # scrub then hides the whole path

            output = await scrub(output, frozenset(roots), locate)
        return output

    async def confine_error(self, call: Call, exc: BoxError) -> BoxError:
        """Drop the items a Box error names (name conflicts) that the agent may not see."""
        conflicts = exc.conflicts if isinstance(exc, BoxAPIError) else []
        if not conflicts:
            return exc
        kept = [c for c in conflicts if await self._may_see(call, c)]
        if len(kept) == len(conflicts):
            return exc
        assert isinstance(exc, BoxAPIError)
        info = {**exc.context_info, "conflicts": kept}
        return BoxAPIError(exc.status, exc.code, exc.message, exc.request_id, info, exc.help_url, exc.fix,
                           retry_after=exc.retry_after)

    async def _may_see(self, call: Call, raw: Mapping[str, Any]) -> bool:
        ref = ItemRef(str(raw.get("type") or ""), str(raw.get("id") or ""))
        if not ref.type or not ref.id:
            return False
        engine = self.store.engine()
        anc: tuple[str, ...] = ()
        if engine.needs_ancestry(call.agent, call.tool.name):
            resolver = await self._resolver(call.agent)
            if resolver is None:
                return False
            try:
                anc = await resolver.ancestry(ref)
            except (BoxMCPError, AncestryError):  # any lookup failure (Box, broker): not shown
                return False
        return engine.can_see(call.agent, call.tool.name, anc, ref)

    async def _hide(self, call: Call, output: ToolOutput) -> ToolOutput:
        """Take out what the output shows of items the agent may not see: listing and search entries
        (pages refilled past them), counts and sizes that include them, the account's totals."""
        engine = self.store.engine()
        if hasattr(output, "space_used"):
            hides = engine.hides_anything(call.agent)
            return hidden.without(output, hidden.ACCOUNT_TOTALS) if hides else output
        if isinstance(getattr(output, "entries", None), list):
            return await self._hide_entries(call, output)
        if getattr(output, "type", None) == "folder" and hasattr(output, "item_count"):
            return await self._hide_in_folder(call, output)
        return output

    async def _hide_entries(self, call: Call, output: ToolOutput) -> ToolOutput:
        engine = self.store.engine()
        searched = hasattr(output, "next_offset")  # search hits carry their own ancestry
        folder_id = getattr(call.args, "folder_id", None)
        if not engine.may_hide(call.agent, call.tool.name) or not (searched or folder_id is not None):
            return output  # nothing hidden, or not a listing of items (comments, tasks, collaborations)
        base = None if searched else await self._folder_ancestry(call, str(folder_id))
        sight = await self._sight(call.agent, call.tool.name)
        return await hidden.conceal_entries(sight, output, call.args, base, await self._rerun(call))

    async def _hide_in_folder(self, call: Call, output: ToolOutput) -> ToolOutput:
        # Counted as the listing would show the folder's items, when the agent may list.
        engine = self.store.engine()
        listing = "list_folder_content_by_folder_id"
        tool = listing if listing in engine.visible_tools(call.agent) else call.tool.name
        if not engine.may_hide(call.agent, tool):
            return output
        return await hidden.conceal_folder(await self._sight(call.agent, tool), output)

    async def _sight(self, agent: str, tool: str) -> hidden.Sight:
        resolver = await self._resolver(agent)

        async def locate(item: ItemRef) -> tuple[str, ...] | None:
            try:
                return None if resolver is None else await resolver.ancestry(item)
            except BoxError as exc:
                return () if getattr(exc, "status", None) == 404 else None
            except (BoxMCPError, AncestryError):
                return None

        return hidden.Sight(self.store.engine(), agent, tool, locate, await self._lookup_client(agent))

    async def _lookup_client(self, agent: str) -> Any | None:
        fetch = await self._fetch_for(agent) if self._fetch_for is not None else self._fetch
        return getattr(fetch, "client", None)

    async def _rerun(self, call: Call) -> hidden.Rerun | None:
        """The call's own handler on the agent's lookup identity, for the pages a refill reads."""
        client = await self._lookup_client(call.agent)
        if client is None:
            return None
        from box_mcp.tools.spec import ToolContext

        ctx = ToolContext(box=client, transport=call.transport)

        async def rerun(args: Any) -> Any:
            return await call.tool.handler(ctx, args)

        return rerun

    async def _folder_ancestry(self, call: Call, folder_id: str) -> tuple[str, ...]:
        engine = self.store.engine()
        resolver = await self._resolver(call.agent)
        if not engine.needs_ancestry(call.agent, call.tool.name) or resolver is None:
            return ("0",) if folder_id == "0" else ()
        return await resolver.ancestry(ItemRef("folder", folder_id))

    def _invalidate(self, call: Call) -> None:
        """After a write, forget where the changed items were (moves, renames, deletes), for every
        lookup identity: a move changes the path every identity sees."""
        for use in call.resources:
            if use.access.rank == 0 or use.role not in ("item", "source"):
                continue
            for resolver in self._resolvers.values():
                if use.item.type == "folder":
                    resolver.invalidate_subtree(use.item.id)
                resolver.invalidate(use.item)

    # -- audit ----------------------------------------------------------------------------------------

    def secret_fields(self) -> frozenset[str]:
        """Argument names the current policy marks secret: the audit masks them (follows hot reloads)."""
        return self.store.engine().policy.secret_fields

    # -- inbound authentication (HTTP) ------------------------------------------------------------

    def authenticate(self, request: Any) -> str | None:
        """`Authorization: Bearer <key>` -> the agent whose key hash matches, else None (401)."""
        scheme, _, key = str(request.headers.get("authorization", "")).partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return None
        return self.store.engine().agent_for_key(key)


class Unlocated(str):
    """A denial sentence for a lookup Box failed, carrying Box's status and code for the audit record."""

    status: int | None = None
    code: str | None = None
    request_id: str | None = None


def _unlocated(exc: BoxError, text: str) -> Unlocated:
    out = Unlocated(text)
    out.status, out.code = getattr(exc, "status", None), getattr(exc, "code", None)
    out.request_id = getattr(exc, "request_id", None)
    return out


def _lookup_denied(reason: str) -> Decision:
    return Decision("deny", reason=reason, box_status=getattr(reason, "status", None),
                    box_code=getattr(reason, "code", None),
                    box_request_id=getattr(reason, "request_id", None))


def _with_local_size(call: Call) -> CallFacts:
    """An upload from a local path states no size in its arguments; measure it so size limits still hold."""
    local = getattr(call.args, "local_path", None)
    if call.facts.size_bytes is not None or not isinstance(local, str):
        return call.facts
    try:
        size = os.stat(local).st_size
    except OSError:
        return call.facts  # the handler refuses a path it cannot read
    return dataclasses.replace(call.facts, size_bytes=size)


def _keeps_name(use: ResourceUse, facts: CallFacts) -> bool:
    """A file the call copies, moves, or uploads new content into without renaming it."""
    if use.item.type != "file":
        return False
    return use.role == "source" or (facts.size_bytes is not None and use.access.rank > 0)


def _extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def _to_gate(decision: Decision, args: Any) -> Decision:
    return decision if args is None else dataclasses.replace(decision, args=args)
