"""Data-driven decision tests (`box-mcp policy test`), in the manner of `opa test`.

A cases file names its policy and lists calls with the decision each must get:

    policy: contracts-bot.yaml          # relative to this file (or --policy)
    cases:
      - name: the bot cannot move a contract out of the inbox
        agent: contracts-bot
        tool: move_file
        uses:                            # or `args: {...}` (turned into uses/facts by the tool catalog)
          - {type: file, id: "123", access: write, role: source}
          - {type: folder, id: "999", access: write, role: destination}
        ancestry: {"file:123": ["0", "100", "456"], "folder:999": ["0", "999"]}
        facts: {externally_shared: true}  # optional: argument facts, and the looked-up ones
                                         # (externally_shared: true|false|unavailable,
                                         # first_destructive_in_session: true|false)
        expect: deny                     # allow | deny | approval_required
        rules: []                        # optional: the exact rule ids of the decision
        reason_contains: outside         # optional

A case may come from a signed-in person (remote sign-in): `person: {box_user_id, login, groups,
client_id, redirect_host}` (all optional; box_user_id defaults to "0", no real user). Rules with
`people:`/`clients:` then apply when they match; without `agent:` the case runs as the agent that
person would connect as (the first `acts_as: person` agent that admits them), and is denied when none does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from box_mcp.access import Access, CallFacts, Exposure, ItemRef, ResourceUse
from box_mcp.errors import PolicyError
from box_mcp.identity import Person
from box_mcp.policy.engine import Decision, DecisionRequest, Engine
from box_mcp.policy.exposure import targets
from box_mcp.policy.renamed import renamed
from box_mcp.policy.yamlsrc import Located, load_file

ArgsResolver = Callable[[str, dict[str, Any]], tuple[tuple[ResourceUse, ...], CallFacts]]


def _ref(value: Any) -> ItemRef:
    if isinstance(value, ItemRef):
        return value
    kind, sep, ident = str(value).partition(":")
    if not sep or not kind or not ident.strip().isdigit():
        raise ValueError(f"write an item as 'file:123' or 'folder:456', not {value!r}")
    return ItemRef(kind.strip(), ident.strip())


def _ids(value: Any) -> Any:
    return [str(v) for v in value] if isinstance(value, list) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UseSpec(_Strict):
    type: str
    id: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
    access: Access | None = None  # default: the tool's own access
    role: str = "item"


def _use(value: Any) -> Any:
    if isinstance(value, str):
        ref = _ref(value)
        return {"type": ref.type, "id": ref.id}
    return value


def _id(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class PersonSpec(_Strict):
    """The signed-in person (and MCP client) a case's call comes from."""

    box_user_id: Annotated[str, BeforeValidator(_id)] = "0"
    login: str | None = None
    groups: Annotated[tuple[str, ...], BeforeValidator(_ids)] = ()
    client_id: str = ""
    redirect_host: str | None = None

    def person(self) -> Person:
        return Person(
            box_user_id=self.box_user_id,
            login=self.login,
            groups=self.groups,
            client_id=self.client_id,
            redirect_host=self.redirect_host,
        )


class Case(_Strict):
    name: str
    agent: str | None = None  # None: the agent `person` connects as
    person: PersonSpec | None = None
    tool: str
    uses: list[Annotated[UseSpec, BeforeValidator(_use)]] | None = None
    args: dict[str, Any] | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    ancestry: dict[str, Annotated[tuple[str, ...], BeforeValidator(_ids)]] = Field(default_factory=dict)
    expect: Literal["allow", "deny", "approval_required"]
    rules: tuple[str, ...] | None = None
    reason_contains: str | None = None

    @model_validator(mode="after")
    def _who(self) -> Case:
        if self.agent is None and self.person is None:
            raise ValueError("a case names its agent, or the person it comes from (person:), or both")
        return self


class CasesFile(_Strict):
    policy: str | None = None
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True)
class Outcome:
    case: Case
    where: str
    decision: Decision | None
    problem: str | None  # None = passed

    @property
    def passed(self) -> bool:
        return self.problem is None


def load_cases(path: Path) -> tuple[CasesFile, Located]:
    doc = load_file(path)
    try:
        return CasesFile.model_validate(doc.data), doc
    except ValidationError as exc:
        lines = [
            f"{doc.where(tuple(e['loc']))}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)[:20]
        ]
        raise PolicyError("\n".join(lines)) from None


def request_for(engine: Engine, case: Case, args_resolver: ArgsResolver | None) -> DecisionRequest:
    """Turn a case into the request the gate would build."""
    tool = engine.tools.get(case.tool)
    default_access = tool.access if tool else Access.READ
    facts = CallFacts()
    uses: tuple[ResourceUse, ...] = ()
    if case.args is not None:
        if args_resolver is None:
            raise PolicyError("this case gives `args:`, which needs the tool catalog; state `uses:` instead")
        uses, facts = args_resolver(case.tool, case.args)
    if case.uses is not None:
        uses = tuple(
            ResourceUse(ItemRef(u.type, u.id), u.access or default_access, u.role) for u in case.uses
        )
    if case.facts:
        given = dict(case.facts)
        if "externally_shared" in given:
            given["externally_shared"] = case_exposure(given["externally_shared"], uses)
        if not isinstance(given.get("first_destructive_in_session", False), bool):
            raise PolicyError("facts: first_destructive_in_session is true or false")
        try:
            facts = dataclasses.replace(facts, **given)
        except TypeError as exc:
            raise PolicyError(f"facts: {exc}") from None
    ancestry = {_ref(k): v for k, v in case.ancestry.items()}
    person = case.person.person() if case.person is not None else None
    agent = case.agent
    if agent is None:
        assert person is not None  # Case._who
        agent = engine.agent_for_person(person) or ""
    return DecisionRequest(agent, case.tool, uses, facts, ancestry, person=person)


def case_exposure(value: Any, uses: tuple[ResourceUse, ...]) -> Exposure:
    """`externally_shared: true | false | unavailable` in a case (or `explain --facts`), as the fact the
    policy would have looked up for the call's destination or item."""
    found = targets(uses, {})
    item = found[0] if found else None
    if value is True:
        return Exposure(item, True, "as given")
    if value is False:
        return Exposure(item, False)
    if value == "unavailable":
        return Exposure(item, None, "as given")
    raise PolicyError(f"facts: externally_shared is true, false or unavailable, not {value!r}")


def no_agent_for(person: Person | None) -> Decision:
    """The decision for a person no `acts_as: person` agent admits: they cannot connect at all."""
    who = (person.login or f"Box user {person.box_user_id}") if person is not None else "nobody"
    return Decision(
        "deny", (), f"no acts_as: person agent admits {who} (their people: and clients: do not match)"
    )


def decide_case(engine: Engine, req: DecisionRequest) -> Decision:
    """The engine's decision, or `no_agent_for` a case whose person no agent admits."""
    if not req.agent:
        return no_agent_for(req.person)
    return engine.decide(req)


def run_case(engine: Engine, case: Case, where: str, args_resolver: ArgsResolver | None) -> Outcome:
    try:
        req = request_for(engine, case, args_resolver)
    except (PolicyError, ValueError) as exc:
        return Outcome(case, where, None, f"cannot build the call: {exc}")
    decision = decide_case(engine, req)
    problems = []
    if decision.effect != case.expect:
        problems.append(f"expected {case.expect}, got {decision.effect}")
    if case.rules is not None and tuple(case.rules) != decision.rule_ids:
        problems.append(f"expected rules {list(case.rules)}, got {list(decision.rule_ids)}")
    if case.reason_contains is not None and case.reason_contains not in decision.reason:
        problems.append(f"reason does not contain {case.reason_contains!r}")
    return Outcome(case, where, decision, "; ".join(problems) or None)


def run_file(
    path: Path,
    engine_for: Callable[[Path], Engine],
    policy_override: Path | None = None,
    args_resolver: ArgsResolver | None = None,
) -> list[Outcome]:
    """Run every case in a file against its policy (or `policy_override`)."""
    cases, doc = load_cases(path)
    if policy_override is not None:
        policy_path = policy_override
    elif cases.policy is not None:
        policy_path = (path.parent / cases.policy).resolve()
    else:
        raise PolicyError(f"{path}: say which policy these cases test (`policy: file.yaml`) or pass --policy")
    engine = engine_for(policy_path)
    return [
        run_case(engine, case, doc.where(("cases", i)), args_resolver) for i, case in enumerate(cases.cases)
    ]


def catalog_args_resolver() -> ArgsResolver | None:
    """Validate args with the tool's input model and run its extractors; None if the catalog is absent."""
    try:
        from box_mcp.tools.catalog import BY_NAME  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None

    def resolve(tool: str, args: dict[str, Any]) -> tuple[tuple[ResourceUse, ...], CallFacts]:
        spec: Any = BY_NAME.get(tool)
        if spec is None:
            raise PolicyError(f"unknown tool {tool!r}{renamed(tool)}")
        try:
            parsed = spec.input_model.model_validate(args)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise PolicyError(
                f"args for {tool}: {'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None
        return tuple(spec.resources(parsed)), spec.facts(parsed)

    return resolve


def facts_dict(facts: CallFacts) -> Mapping[str, Any]:
    out = {k: v for k, v in dataclasses.asdict(facts).items() if v is not None}
    e = facts.externally_shared
    if e is not None:  # in words, as the decision's sentence reads it
        out["externally_shared"] = "unavailable" if e.shared is None else e.shared
    return out
