"""The policy's answer before a call runs: which tools an agent sees, its rate limits, and the decision on
each call, with the Box facts the rules need (where items sit, a kept file name, an invitee's login) from
the item locator. The tool spec says which arguments to read (search roots, an invitee's user id).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from pydantic import SecretStr

from box_mcp.access import CallFacts, ItemRef, ResourceUse, extension_of, live_ref
from box_mcp.decision import Decision, deny
from box_mcp.errors import AncestryError, LocateError
from box_mcp.policy.engine import DecisionRequest
from box_mcp.policy.exposure import ExposureFinder, targets
from box_mcp.policy.firsts import DestructiveMemory
from box_mcp.policy.limits import Limiter, RateLimiter
from box_mcp.policy.locate import ALIASED, Locator
from box_mcp.policy.reasons import no_person
from box_mcp.policy.store import PolicyStore

if TYPE_CHECKING:
    from box_mcp.identity import Person
    from box_mcp.seams import Call
    from box_mcp.tools.spec import ToolSpec

MAX_INJECTED_ROOTS = 50  # search's ancestor_folder_ids accepts at most 50 folders
NAME_CONDITIONS = ("name_patterns", "file_extensions")  # what a kept file name is looked up for
INVITEE = ("invitee_domains",)
EXPOSURE = ("externally_shared",)
FIRST_DESTRUCTIVE = ("first_destructive_in_session",)
SHARED_LINK = "shared_link"  # a resource whose id is a shared link's URL (tools/shared_items.py)

T = TypeVar("T")


class Decider:
    """Visibility, rate limits and per-call decisions over a hot-reloading policy store."""

    def __init__(self, store: PolicyStore, locator: Locator, limiter: Limiter | None = None) -> None:
        self.store = store
        self.locator = locator
        self.limiter: Limiter = limiter or RateLimiter()
        self.exposure = ExposureFinder(locator)
        self.firsts = DestructiveMemory()

    def tool_visible(self, agent: str, tool: ToolSpec, person: Person | None = None) -> bool:
        return tool.name in self.store.engine().visible_tools(agent, person)

    async def admit(self, agent: str, tool: ToolSpec | None, person: Person | None = None) -> str | None:
        """Count one tools/call against the agent's rate limits (any call, even one with bad arguments or
        an unknown tool: each costs an audit record); the sentence to refuse it with, or None. A person
        agent's limits hold for each signed-in person on their own."""
        spec = self.store.engine().agent(agent)
        if spec is None:
            return None  # decide() refuses an agent the policy does not know
        is_write = tool is not None and not tool.read_only
        is_ai = tool is not None and tool.toolset == "ai"  # Box meters Box AI apart: its own budget
        who = agent if person is None else f"{agent} (Box user {person.box_user_id})"
        return await self.limiter.check(who, spec.limits, is_write=is_write, is_ai=is_ai)

    async def decide(self, call: Call) -> Decision:
        try:
            decision = await self._decide(call)
            reads_hub = any(u.subtree and u.item.type == "hub" for u in call.resources)
            if reads_hub and decision.effect != "deny":
                decision = await self._with_hub_items(call, decision)
            return decision
        except LocateError as exc:  # a lookup the rules needed failed: refused, saying why
            return refused(exc)

    async def _with_hub_items(self, call: Call, decision: Decision) -> Decision:
        """A call that reads a whole hub (Box AI over it) reads every item in it: with the hub allowed, the
        call is decided again with each item the hub holds now (as the agent's identity sees them) as a read
        of its own. Refused if any is not granted; the agent is told so without the ids (they may lie
        outside its grants), the audit gets the sentence naming the item. Where items sit never matters to
        a pair no rule scopes, so then nothing is looked up."""
        engine = self.store.engine()
        if not engine.scoped(call.agent, call.tool.name, call.person):
            return decision
        hubs = [u for u in call.resources if u.subtree and u.item.type == "hub"]
        held: list[ResourceUse] = []
        for use in hubs:
            for ref in await self.locator.hub_items(call.agent, use.item, call.person):
                held.append(ResourceUse(ref, use.access, "member", ref.type == "folder"))
        if not held:
            return decision
        whole = await self._decide(dataclasses.replace(call, resources=(*call.resources, *held)))
        if whole.effect != "deny":
            return whole
        named = " and ".join(str(u.item) for u in hubs)
        tool, agent = call.tool.name, call.agent
        shown = (
            f"{tool} reads every item in {named}, and {agent}'s grants for {tool} do not cover all of them; "
            f"ask about the files {agent} may read with ai_qa_single_file or ai_qa_multi_file instead."
        )
        return dataclasses.replace(whole, reason=f"an item in {named}: {whole.reason}", shown=shown)

    async def _decide(self, call: Call) -> Decision:
        engine = self.store.engine()
        agent, tool, person = call.agent, call.tool.name, call.person
        spec = engine.agent(agent)
        if spec is None:
            return deny(f"{agent!r} is not an agent this policy knows.")
        if spec.for_people and person is None:
            return deny(no_person(agent))
        args = None
        roots_field = call.tool.search_roots_field
        if not call.resources and roots_field is not None:
            # An unscoped search by a confined agent is scoped to its grant roots, and results filtered.
            roots = engine.roots(agent, tool, person)
            if roots is not None:
                if not roots:
                    return deny(f"{agent} holds no folder grant to search in.")
                args = call.args.model_copy(update={roots_field: list(roots[:MAX_INJECTED_ROOTS])})
        uses = call.resources
        # An agent the policy hides items from gets one answer for an id it may not see and one that
        # does not exist; lookups that find nothing are collected here instead of answered at once.
        missing: dict[ItemRef, str] | None = {} if engine.may_hide(agent, tool, person) else None
        aliases: dict[ItemRef, ItemRef] = {}
        linked: dict[ItemRef, tuple[str, ...]] = {}  # where the items shared links point at sit
        scoped = engine.scoped(agent, tool, person)
        collabs = [u.item for u in uses if u.item.type in ALIASED]
        if collabs and scoped:
            # A collaboration (task) id stands for the item it is on, a webhook id for the item it
            # watches: rules naming that item must see it.
            aliases = await self._each(
                agent, person, collabs, self.locator.item_of, missing, unplaced_missing=True
            )
        links = [u.item for u in uses if u.item.type == SHARED_LINK]
        if links and scoped:
            # A shared link stands for the item it points at, learnt only by resolving it (a read on the
            # agent's lookup identity): the rules decide on that item, and one outside the grant gets the
            # answer a link to nothing gets. Its ancestry comes with the answer.
            password = _link_password(call)

            async def resolve(agent: str, link: ItemRef, person: Person | None) -> ItemRef:
                target, where = await self.locator.shared_item(agent, link.id, password, person)
                linked[target] = where
                return target

            aliases.update(await self._each(agent, person, links, resolve, missing, unplaced_missing=True))
        for use in uses:  # a trashed file or folder is, to the rules, the file or folder it is
            live = live_ref(use.item)
            if live is not None:
                aliases[use.item] = live
        ancestry: dict[ItemRef, tuple[str, ...]] = {}
        if uses and engine.needs_ancestry(agent, tool, person):
            placed = [u.item for u in uses if u.item.type != SHARED_LINK]
            ancestry = await self._each(agent, person, placed, self.locator.ancestry, missing)
            ancestry.update(linked)
            for alias, target in aliases.items():
                if alias in ancestry:
                    ancestry.setdefault(target, ancestry[alias])
        if missing is not None and uses:
            # Before any further lookup, so a hidden item costs the same Box requests as a missing one.
            req = DecisionRequest(agent, tool, uses, call.facts, ancestry, aliases, person)
            unavailable = self._unavailable(req, missing)
            if unavailable is not None:
                return unavailable
        if any(u.subtree and aliases.get(u.item, u.item).type == "folder" for u in uses):
            # A call on a whole folder meets forbids on anything inside it: learn where those sit. One this
            # identity cannot see lies inside none of its folders.
            guards = [g for g in engine.guards(agent, tool, person) if g not in ancestry]
            outside: tuple[str, ...] = ()
            ancestry.update(
                await self._each(agent, person, guards, self.locator.ancestry, None, absent=outside)
            )
        facts = await self._facts(call, uses, aliases)
        if isinstance(facts, Decision):
            return facts
        decision = engine.decide(DecisionRequest(agent, tool, uses, facts, ancestry, aliases, person))
        pinned = [aliases[link] for link in links if link in aliases]
        if len(pinned) == 1 and call.tool.shared_link_fields is not None:
            # The call resolves the link again: it must find the item decided on here (a vanity link can be
            # given to another item in between), else it shows nothing.
            target = pinned[0]
            field = call.tool.shared_link_fields[1]
            args = (args or call.args).model_copy(update={field: f"{target.type}:{target.id}"})
        return decision if args is None else dataclasses.replace(decision, args=args)

    async def _facts(
        self, call: Call, uses: tuple[ResourceUse, ...], aliases: Mapping[ItemRef, ItemRef]
    ) -> CallFacts | Decision:
        """The call's facts with what only Box knows, looked up when a rule for the pair tests it."""
        engine = self.store.engine()
        agent, tool, facts, person = call.agent, call.tool.name, call.facts, call.person
        if engine.tests(agent, tool, *FIRST_DESTRUCTIVE, person=person):
            facts = dataclasses.replace(facts, first_destructive_in_session=self.firsts.first(call))
        if engine.tests(agent, tool, *EXPOSURE, person=person):
            # Unreadable facts do not refuse the call: they stand as unavailable and the rules fail closed.
            exposure = await self.exposure.find(
                agent,
                person,
                targets(uses, aliases),
                engine.policy.internal_domains,
                lambda ref, anc: engine.can_see(agent, tool, anc, ref, person),
            )
            facts = dataclasses.replace(facts, externally_shared=exposure)
        field = call.tool.invitee_user_field
        user_id = getattr(call.args, field, None) if field is not None else None
        tests_invitee = engine.tests(agent, tool, *INVITEE, person=person)
        if isinstance(user_id, str) and facts.invitee_email is None and tests_invitee:
            # An invitee named by user id still meets invitee_domains conditions: by the user's login.
            try:
                login = await self.locator.login(agent, user_id, person)
                facts = dataclasses.replace(facts, invitee_email=login)
            except LocateError as exc:
                return refused(exc, f"could not look up Box user {user_id}")
        tests_name = engine.tests(agent, tool, *NAME_CONDITIONS, person=person)
        if facts.name is None and facts.extension is None and tests_name:
            source = next((u.item for u in uses if _keeps_name(u, facts)), None)
            if source is not None:
                # A copy, a move or a new version keeps the file's name: extension and name limits apply.
                try:
                    name = await self.locator.name(agent, source, person)
                except LocateError as exc:
                    return refused(exc, f"could not look up the name of {source}")
                facts = dataclasses.replace(facts, name=name, extension=extension_of(name))
        return facts

    async def _each(
        self,
        agent: str,
        person: Person | None,
        items: Iterable[ItemRef],
        look: Callable[[str, ItemRef, Person | None], Awaitable[T]],
        missing: dict[ItemRef, str] | None,
        *,
        unplaced_missing: bool = False,
        absent: T | None = None,
    ) -> dict[ItemRef, T]:
        """`look` for each item once. An item Box does not find (with `unplaced_missing`, also one whose
        answer says nothing usable) goes into `missing` when given, else stands as `absent` when given;
        any other failure, or a missing item with neither, ends the decision (LocateError)."""
        out: dict[ItemRef, T] = {}
        for item in dict.fromkeys(items):
            if missing is not None and item in missing:
                continue
            try:
                out[item] = await look(agent, item, person)
            except LocateError as exc:
                not_found = exc.missing or (unplaced_missing and isinstance(exc, AncestryError))
                if not_found and missing is not None:
                    missing[item] = str(exc)
                elif exc.missing and absent is not None:
                    out[item] = absent
                else:
                    raise
        return out

    def _unavailable(self, req: DecisionRequest, missing: Mapping[ItemRef, str]) -> Decision | None:
        """The denial for the first item the call names that does not exist or that the agent may not see:
        one wording for the agent, the detail (not found, outside the grants, which rule) for the audit."""
        engine = self.store.engine()
        for given, use in zip(req.uses, req.matched(), strict=True):
            if given.item in missing:
                detail = f"not found: {missing[given.item]}"
                return deny(detail, shown=engine.unavailable(req.agent, req.tool, given.item, req.person))
            anc = req.ancestry.get(use.item) or ()
            if not engine.can_see(req.agent, req.tool, anc, use.item, req.person):
                # Decided on this item alone (not its subtree, whose forbids are not located yet): the
                # reason then names it, and the rule that hides it if one does.
                only = dataclasses.replace(given, subtree=False)
                alone = engine.decide(dataclasses.replace(req, uses=(only,)))
                shown = engine.unavailable(req.agent, req.tool, given.item, req.person)
                return deny(alone.reason, alone.rule_ids, shown=shown)
        return None


def refused(exc: LocateError, what: str | None = None) -> Decision:
    """A denial because a lookup failed, carrying Box's answer (status, code, request id) for the audit."""
    said = str(exc) if what is None else f"{what} ({exc})"
    reason = f"{said}; check the id." if exc.missing else said
    return Decision(
        "deny", reason=reason, box_status=exc.status, box_code=exc.code, box_request_id=exc.request_id
    )


def _link_password(call: Call) -> str | None:
    """The shared link password the call gives (the spec names its argument), sent to Box only."""
    fields = call.tool.shared_link_fields
    value = getattr(call.args, fields[0], None) if fields is not None else None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value if isinstance(value, str) else None


def _keeps_name(use: ResourceUse, facts: CallFacts) -> bool:
    """A file the call copies, moves, or uploads new content into without renaming it."""
    if use.item.type != "file":
        return False
    return use.role == "source" or (facts.size_bytes is not None and use.access.rank > 0)
