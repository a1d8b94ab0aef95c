"""The policy's part after a call ran: keep the item locator true to the writes box-mcp made, take out what
results show of items the agent may not see (policy/hidden.py), trim paths above its grants
(policy/scrub.py), and drop hidden items from Box errors. What an output shows is the tool spec's
`output_kind`; the policy never guesses it from field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from box_mcp.access import ItemRef, live_ref, trashed_ref
from box_mcp.box.errors import BoxAPIError
from box_mcp.errors import BoxError, BoxMCPError, LocateError
from box_mcp.policy import hidden
from box_mcp.policy.locate import Locator
from box_mcp.policy.scrub import scrub
from box_mcp.policy.store import PolicyStore

if TYPE_CHECKING:
    from box_mcp.seams import Call
    from box_mcp.tools.spec import ToolOutput

FOLDER_LISTING = "list_folder_content_by_folder_id"


class Confiner:
    """ResultFilterHook over a hot-reloading policy store and the item locator decisions use."""

    def __init__(self, store: PolicyStore, locator: Locator) -> None:
        self.store = store
        self.locator = locator

    async def confine(self, call: Call, output: ToolOutput) -> ToolOutput:
        if not call.tool.read_only:
            self._after_write(call, output)
        output = await self._hide(call, output)
        roots = self.store.engine().roots(call.agent, call.tool.name, call.person)
        if roots is not None:

            async def locate(folder: ItemRef) -> tuple[str, ...] | None:
                try:
                    return await self.locator.ancestry(call.agent, folder, call.person)
                except LocateError:
                    return None  # scrub then hides the whole path

            output = await scrub(output, frozenset(roots), locate, call.tool.output_kind)
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
        return BoxAPIError(
            exc.status,
            exc.code,
            exc.message,
            exc.request_id,
            info,
            exc.help_url,
            exc.fix,
            retry_after=exc.retry_after,
        )

    def _after_write(self, call: Call, output: ToolOutput) -> None:
        """Forget where the changed items were (moves, renames, deletes) for every lookup identity: a move
        changes the path every identity sees. Then learn where the item the call returned now sits."""
        if not call.tool.keeps_items_in_place:
            for use in call.resources:
                if use.access.rank == 0 or use.role not in ("item", "source"):
                    continue
                live = live_ref(use.item)  # a restore: the trashed item and the item it is again
                if use.item.type == "folder" or (live is not None and live.type == "folder"):
                    self.locator.invalidate_subtree(use.item.id)
                self.locator.invalidate(use.item)
                if live is not None:
                    self.locator.invalidate(live)
        if call.tool.output_kind in ("item", "folder"):
            kind, item_id, name = (getattr(output, k, None) for k in ("type", "id", "name"))
            parent_id = getattr(getattr(output, "parent", None), "id", None)
            if isinstance(kind, str) and isinstance(item_id, str) and isinstance(parent_id, str):
                named = name if isinstance(name, str) else None
                self.locator.learn(call.agent, ItemRef(kind, item_id), named, parent_id, call.person)

    async def _may_see(self, call: Call, raw: Mapping[str, Any]) -> bool:
        ref = ItemRef(str(raw.get("type") or ""), str(raw.get("id") or ""))
        if not ref.type or not ref.id:
            return False
        engine = self.store.engine()
        anc: tuple[str, ...] = ()
        if engine.needs_ancestry(call.agent, call.tool.name, call.person):
            try:
                anc = await self.locator.ancestry(call.agent, ref, call.person)
            except BoxMCPError:  # any lookup failure (Box, broker, no lookup identity): not shown
                return False
        return engine.can_see(call.agent, call.tool.name, anc, ref, call.person)

    async def _hide(self, call: Call, output: ToolOutput) -> ToolOutput:
        """Take out what the output shows of items the agent may not see: listing and search entries
        (pages refilled past them), counts and sizes that include them, the account's totals."""
        engine = self.store.engine()
        kind = call.tool.output_kind
        if kind == "account":
            hides = engine.hides_anything(call.agent, call.person)
            return hidden.without(output, hidden.ACCOUNT_TOTALS) if hides else output
        if kind in ("listing", "search"):
            return await self._hide_entries(call, output)
        if kind in ("hubs", "items", "webhooks", "trash"):
            return await self._hide_located(call, output)
        if kind == "folder":
            return await self._hide_in_folder(call, output)
        return output

    async def _hide_entries(self, call: Call, output: ToolOutput) -> ToolOutput:
        engine = self.store.engine()
        if not engine.may_hide(call.agent, call.tool.name, call.person):
            return output
        base = None  # search hits carry their own ancestry
        if call.tool.output_kind == "listing":
            folder = call.tool.single_item_resource(call.args)
            if folder is None:
                raise ValueError(f"{call.tool.name} lists no one folder: its output_kind cannot be 'listing'")
            base = await self._folder_ancestry(call, folder)
        sight = await self._sight(call, call.tool.name)
        rerun = await self._rerun(call)
        concealed: ToolOutput = await hidden.conceal_entries(sight, output, call.args, base, rerun)
        return concealed

    async def _hide_located(self, call: Call, output: ToolOutput) -> ToolOutput:
        """Hubs the grant does not name, or items (from anywhere) the agent could not read, taken out of a
        cursor-paged page and refilled. A hub sits in no folder; an item is located (an item Box no longer
        finds, or that cannot be located, is not shown)."""
        engine = self.store.engine()
        if not engine.may_hide(call.agent, call.tool.name, call.person):
            return output
        sight = await self._sight(call, call.tool.name)
        kind = call.tool.output_kind

        async def visible(entry: Any) -> bool:
            if kind == "hubs":
                return sight.sees(ItemRef("hub", str(entry.id)), ())
            if kind == "trash":  # located where it was trashed from; shown when the agent could read it there
                if entry.type not in ("file", "folder"):
                    return False
                was = await sight.locate(trashed_ref(str(entry.type), str(entry.id)))
                return bool(was) and sight.sees(ItemRef(str(entry.type), str(entry.id)), was or ())
            # a webhook is shown when the item it watches could be: never one on an item outside the grant
            watched = entry.target if kind == "webhooks" else entry
            ref = ItemRef(str(watched.type), str(watched.id))
            where = await sight.locate(ref)
            if not where:  # () Box finds no such item, None unknown: not shown either way
                return False
            return sight.sees(ref, (*where, ref.id) if ref.type == "folder" else where)

        rerun = await self._rerun(call)
        page: ToolOutput = await hidden.fill_by_cursor(output, call.args, visible, rerun)
        return page

    async def _hide_in_folder(self, call: Call, output: ToolOutput) -> ToolOutput:
        # Counted as the listing would show the folder's items, when the agent may list.
        engine = self.store.engine()
        visible = engine.visible_tools(call.agent, call.person)
        tool = FOLDER_LISTING if FOLDER_LISTING in visible else call.tool.name
        if not engine.may_hide(call.agent, tool, call.person):
            return output
        counted: ToolOutput = await hidden.conceal_folder(await self._sight(call, tool), output)
        return counted

    async def _sight(self, call: Call, tool: str) -> hidden.Sight:
        agent, person = call.agent, call.person

        async def locate(item: ItemRef) -> tuple[str, ...] | None:
            try:
                return await self.locator.ancestry(agent, item, person)
            except LocateError as exc:
                return () if exc.missing else None
            except BoxMCPError:
                return None

        client = await self._lookup_client(call)
        return hidden.Sight(self.store.engine(), agent, tool, locate, client, person=person)

    async def _lookup_client(self, call: Call) -> Any | None:
        try:
            return await self.locator.client(call.agent, call.person)
        except LocateError:
            return None  # no lookup identity: nothing is recounted or refilled

    async def _rerun(self, call: Call) -> hidden.Rerun | None:
        """The call's own handler on the agent's lookup identity, for the pages a refill reads."""
        client = await self._lookup_client(call)
        if client is None:
            return None
        from box_mcp.tools.spec import ToolContext

        ctx = ToolContext(box=client, transport=call.transport)

        async def rerun(args: Any) -> Any:
            return await call.tool.handler(ctx, args)

        return rerun

    async def _folder_ancestry(self, call: Call, folder: ItemRef) -> tuple[str, ...]:
        if not self.store.engine().needs_ancestry(call.agent, call.tool.name, call.person):
            return ("0",) if folder.id == "0" else ()
        return await self.locator.ancestry(call.agent, folder, call.person)
