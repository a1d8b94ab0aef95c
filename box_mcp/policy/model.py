"""The policy file format: agents (who they are, which Box identity they act as) and rules (what they may do).

A policy is one YAML file or a directory of them (`*.yaml`, not `*.cases.yaml`), merged. See
`policies/default.yaml` for a commented example. Every error names the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from box_mcp.access import Access, ItemRef
from box_mcp.errors import PolicyError
from box_mcp.policy.yamlsrc import Located, load_file

MAX_POLICY_FILES = 200

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def _box_id(value: Any) -> Any:
    # Box ids are digit strings; YAML reads unquoted ones as ints, which is what people write.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _byte_size(value: Any) -> Any:
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError("write a byte count like 26214400, '25 MB' or '25 MiB'")
        return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    return value


BoxId = Annotated[str, BeforeValidator(_box_id), Field(pattern=r"^\d{1,20}$")]
ByteSize = Annotated[int, BeforeValidator(_byte_size), Field(ge=0)]
KeyHash = Annotated[str, Field(pattern=r"^sha256:[0-9a-fA-F]{64}$")]


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AsUser(_Strict):
    """Act as one Box user (an app user or managed user) through the service account's As-User header."""

    as_user: BoxId


class UserGrant(_Strict):
    """Act with a person's own OAuth grant, stored by the broker under this label."""

    user_grant: str = Field(min_length=1, max_length=128)


def _lower_list(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(v.lower().rstrip(".") for v in values)


def domain_list(domains: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Login domains, lower-case: 'example.com' exactly, '*.example.com' for its subdomains."""
    out = _lower_list(None if domains is None else tuple(d.lstrip("@") for d in domains))
    for d in out or ():
        if not re.fullmatch(r"(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+", d):
            raise ValueError(
                f"{d!r} is not a domain: write 'example.com', or '*.example.com' for its subdomains"
            )
    return out


Text = Annotated[str, Field(min_length=1, max_length=2048)]
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")]


class PeopleSelector(_Strict):
    """Who: any listed Box user id, login, login domain or Box group (the lists are OR-ed)."""

    users: Annotated[tuple[BoxId, ...], BeforeValidator(_listify)] | None = None
    logins: Annotated[tuple[Text, ...], BeforeValidator(_listify)] | None = None
    domains: Annotated[tuple[Text, ...], BeforeValidator(_listify)] | None = None
    groups: Annotated[tuple[BoxId, ...], BeforeValidator(_listify)] | None = None

    @field_validator("logins")
    @classmethod
    def _logins(cls, logins: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for login in logins or ():
            if "@" not in login:
                raise ValueError(f"{login!r} is not a Box login (an email address)")
        return _lower_list(logins)

    @field_validator("domains")
    @classmethod
    def _domains(cls, domains: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return domain_list(domains)

    @model_validator(mode="after")
    def _not_empty(self) -> PeopleSelector:
        if not any((self.users, self.logins, self.domains, self.groups)):
            raise ValueError(
                "an empty people selector matches nobody: list users, logins, domains or groups, "
                "or leave people out (anyone)"
            )
        return self


class ClientSelector(_Strict):
    """Through which MCP clients: exact OAuth client ids, or hosts of the client's redirect URI (OR-ed)."""

    ids: Annotated[tuple[Text, ...], BeforeValidator(_listify)] | None = None
    redirect_hosts: Annotated[tuple[Host, ...], BeforeValidator(_listify)] | None = None

    @field_validator("redirect_hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _lower_list(hosts)

    @model_validator(mode="after")
    def _not_empty(self) -> ClientSelector:
        if not any((self.ids, self.redirect_hosts)):
            raise ValueError(
                "an empty clients selector matches no client: list ids or redirect_hosts, "
                "or leave clients out (any client)"
            )
        return self


class SignIn(_Strict):
    """Which MCP clients may sign in at all (remote sign-in). Default: any client, registration open."""

    clients: Annotated[tuple[Text, ...], BeforeValidator(_listify)] | None = None
    redirect_hosts: Annotated[tuple[Host, ...], BeforeValidator(_listify)] | None = None
    registration: bool = True

    @field_validator("redirect_hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _lower_list(hosts)


class RateLimits(_Strict):
    calls_per_minute: int | None = Field(default=None, ge=1)
    writes_per_minute: int | None = Field(default=None, ge=0)
    # Calls of the `ai` toolset only (Box meters Box AI apart and asks callers to pace it); 0: no AI calls.
    ai_calls_per_minute: int | None = Field(default=None, ge=0)


def _on_off(value: Any) -> Any:
    # YAML reads an unquoted on/off as a boolean; people write `notifications: off`.
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


Timestamp = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")]


class SandboxRecord(_Strict):
    """What `box-mcp sandbox create` made in Box for an agent (read by `sandbox list` and `revoke`;
    the engine ignores it: the agent's rules and acts_as are what confine it)."""

    app_user: BoxId
    folder: BoxId
    path: str = Field(min_length=1, max_length=1024)
    parent: BoxId = "0"
    role: str = Field(min_length=1, max_length=40)
    collaboration: BoxId | None = None
    created: Timestamp
    revoked: Timestamp | None = None


class Agent(_Strict):
    description: str = ""
    # "person": each person signed in through box-mcp's OAuth acts with their own Box grant
    acts_as: Literal["service_account", "person"] | AsUser | UserGrant = "service_account"
    keys: tuple[KeyHash, ...] = ()
    # off: the agent's writes carry Box's `box-notifications: off` header (no emails or webhooks to
    # collaborators; the actions still show in Box's updates feed and admin logs)
    notifications: Annotated[Literal["on", "off"], BeforeValidator(_on_off)] = "on"
    sandbox: SandboxRecord | None = None  # made by `box-mcp sandbox create`
    limits: RateLimits = RateLimits()
    people: PeopleSelector | None = None  # acts_as person: who may connect as this agent (None: anyone)
    clients: ClientSelector | None = None  # acts_as person: only through these MCP clients (None: any)

    @property
    def for_people(self) -> bool:
        return self.acts_as == "person"

    @model_validator(mode="after")
    def _person(self) -> Agent:
        if self.acts_as == "person":
            if self.keys:
                raise ValueError(
                    "an acts_as: person agent cannot have keys: an API key carries no person (people "
                    "connect by signing in to Box); give the keys to another agent"
                )
        elif self.people is not None or self.clients is not None:
            raise ValueError(
                "people: and clients: on an agent choose who signs in as it, so they need acts_as: person"
            )
        return self

    @field_validator("acts_as", mode="before")
    @classmethod
    def _identity(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"as_user"}:
                return AsUser.model_validate(value)
            if set(value) == {"user_grant"}:
                return UserGrant.model_validate(value)
        if isinstance(value, AsUser | UserGrant) or value in ("service_account", "person"):
            return value
        raise ValueError(
            "acts_as is one of: service_account, person, {as_user: <Box user id>}, {user_grant: <label>}"
        )

    @field_validator("keys")
    @classmethod
    def _lower(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k.lower() for k in keys)


SharedLinkAccess = Literal["open", "company", "collaborators"]
CollaborationRole = Literal[
    "editor", "viewer", "previewer", "uploader", "previewer uploader", "viewer uploader", "co-owner", "owner"
]


class Conditions(_Strict):
    """Argument limits. A condition on a value the call does not set never makes the rule stricter."""

    max_upload_bytes: ByteSize | None = None
    file_extensions: tuple[str, ...] | None = None
    name_patterns: tuple[str, ...] | None = None
    shared_link_access: tuple[SharedLinkAccess, ...] | None = None
    collaboration_roles: tuple[CollaborationRole, ...] | None = None
    invitee_domains: tuple[str, ...] | None = None
    metadata_templates: tuple[str, ...] | None = None
    url_domains: tuple[str, ...] | None = None  # a web link's host: `acme.example`, `*.acme.example`
    # Facts the policy looks up (see policies/README.md): the item the call touches (for a create, upload,
    # copy or move: the destination folder) or a folder above it has an open shared link or a collaborator
    # outside the enterprise (see PolicyFile.internal_domains) ...
    externally_shared: bool | None = None
    # ... and the call is to a destructive tool while no destructive call has succeeded in this session.
    first_destructive_in_session: bool | None = None

    @field_validator("file_extensions")
    @classmethod
    def _extensions(cls, exts: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if exts is None else tuple(e.lower().lstrip(".") for e in exts)

    @field_validator("invitee_domains", "url_domains")
    @classmethod
    def _domains(cls, domains: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if domains is None else tuple(d.lower().lstrip("@") for d in domains)

    def is_empty(self) -> bool:
        return all(v is None for v in self.__dict__.values())


Approver = Annotated[str, Field(min_length=1, max_length=254)]


class ApprovalSpec(_Strict):
    """A require_approval rule's `approval:` block: who approves, how long the call is held, expiry."""

    by: Annotated[tuple[Approver, ...], BeforeValidator(_listify)] = ("caller",)
    hold: int = Field(default=0, ge=0, le=120)
    expires: int = Field(default=600, ge=60, le=86400)

    @field_validator("by")
    @classmethod
    def _approvers(cls, by: tuple[str, ...]) -> tuple[str, ...]:
        if not by:
            raise ValueError(
                "list at least one approver: caller, admin, a Box login, or 'group:<Box group id>'"
            )
        out = []
        for who in by:
            low = who.lower()
            if low in ("caller", "admin"):
                out.append(low)
            elif low.startswith("group:") and re.fullmatch(r"\d{1,20}", low.removeprefix("group:")):
                out.append(low)
            elif re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", who):
                out.append(low)
            else:
                raise ValueError(
                    f"{who!r} is not an approver: write caller, admin, a Box login (an email address), "
                    "or 'group:<Box group id>' (digits)"
                )
        return tuple(dict.fromkeys(out))


def _item(value: Any) -> Any:
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(file|folder|web_link|hub)\s*[: ]\s*(\d{1,20})\s*", value)
        if not m:
            raise ValueError("write an item as 'file:123', 'folder:456', 'web_link:789' or 'hub:321'")
        return ItemRef(m.group(1), m.group(2))
    return value


ItemSpec = Annotated[ItemRef, BeforeValidator(_item)]


class Rule(_Strict):
    """permit | forbid | require_approval: which agents, which tools, where, and under which conditions."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, arbitrary_types_allowed=True
    )

    id: str = Field(pattern=_ID)
    effect: Literal["permit", "forbid", "require_approval"]
    description: str = ""
    agents: Annotated[tuple[str, ...], BeforeValidator(_listify)] = Field(min_length=1)
    tools: Annotated[tuple[str, ...], BeforeValidator(_listify)] | None = None
    toolsets: Annotated[tuple[str, ...], BeforeValidator(_listify)] | None = None
    access: Access | None = None
    within: Annotated[tuple[BoxId, ...], BeforeValidator(_listify)] | None = None
    items: Annotated[tuple[ItemSpec, ...], BeforeValidator(_listify)] | None = None
    when: Conditions | None = None
    unless: Conditions | None = None
    people: PeopleSelector | None = None  # the rule applies only to calls of these signed-in people
    clients: ClientSelector | None = None  # ... and only through these MCP clients
    approval: ApprovalSpec | None = None  # require_approval only: who approves, hold, expiry
    origin: str = Field(default="", exclude=True)  # file:line, filled by the loader

    @model_validator(mode="after")
    def _approval_only_where_asked(self) -> Rule:
        if self.approval is not None and self.effect != "require_approval":
            raise ValueError(
                f"approval: says who approves a call this rule holds, so it needs effect: require_approval "
                f"(this rule is a {self.effect}); remove it or change the effect"
            )
        return self


class AuditSettings(_Strict):
    """What the audit log must never hold in clear: argument names whose values are masked in every
    record (on top of the built-in rules: file content, tokens, long strings)."""

    secret_fields: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = ()


class ConsoleAdmins(_Strict):
    """Who may sign in to the web console (/console) as an administrator: named admin keys (for headless
    set-ups; `box-mcp policy new-key NAME --console` mints one) and Box logins (Box sign-in)."""

    keys: dict[Annotated[str, Field(pattern=_ID)], KeyHash] = Field(default_factory=dict)
    people: Annotated[tuple[Text, ...], BeforeValidator(_listify)] = ()

    @field_validator("keys")
    @classmethod
    def _lower_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        return {name: digest.lower() for name, digest in keys.items()}

    @field_validator("people")
    @classmethod
    def _logins(cls, logins: tuple[str, ...]) -> tuple[str, ...]:
        for login in logins:
            if "@" not in login:
                raise ValueError(f"{login!r} is not a Box login (an email address)")
        return tuple(login.lower() for login in logins)


class ConsoleSettings(_Strict):
    """The web console's section of the policy:
    `console: {admins: {keys: {NAME: "sha256:..."}, people: [login, ...]}}`."""

    admins: ConsoleAdmins = Field(default_factory=ConsoleAdmins)


class PolicyFile(_Strict):
    version: Literal[1] = 1
    default_agent: str | None = None
    agents: dict[Annotated[str, Field(pattern=_ID)], Agent] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    audit: AuditSettings = Field(default_factory=AuditSettings)
    sign_in: SignIn | None = None
    # Login domains whose people are inside the organisation, for `externally_shared`: a collaborator
    # whose login is in none of them is external. Empty: a collaborator is external unless Box shows
    # the lookup identity that the user is in its own enterprise.
    internal_domains: Annotated[tuple[Text, ...], BeforeValidator(_listify)] = ()

    @field_validator("internal_domains")
    @classmethod
    def _internal(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        return domain_list(domains) or ()

    console: ConsoleSettings | None = None


class Policy(_Strict):
    """Every agent and rule from all files, checked for cross references."""

    default_agent: str | None = None
    agents: dict[str, Agent]
    rules: tuple[Rule, ...]
    sources: tuple[str, ...] = ()
    # sha256 of the policy as loaded (agents, rules, settings; not file names or lines): the version an
    # approval record and the policy_load audit record name
    digest: str = ""
    secret_fields: frozenset[str] = frozenset()  # audit: argument names masked in every record
    sign_in: SignIn = Field(default_factory=SignIn)  # which MCP clients may sign in (remote sign-in)
    internal_domains: tuple[str, ...] = ()  # for externally_shared (see PolicyFile)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)  # who administers /console

    def person_agents(self) -> list[str]:
        """The `acts_as: person` agents, in declaration order (the order people are matched in)."""
        return [name for name, agent in self.agents.items() if agent.for_people]


def policy_files(path: Path) -> list[Path]:
    """The files a policy path means: the file itself, or a directory's `*.yaml` except test cases."""
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.endswith(".cases.yaml")
        )
        if not files:
            raise PolicyError(f"{path}: no policy files (*.yaml) in this directory")
        if len(files) > MAX_POLICY_FILES:
            raise PolicyError(f"{path}: more than {MAX_POLICY_FILES} policy files")
        return files
    if not path.exists():
        raise PolicyError(f"{path}: no such policy file or directory")
    return [path]


def parse_file(doc: Located) -> PolicyFile:
    """Validate one parsed file, turning pydantic's errors into `file:line: field: problem` lines."""
    if not isinstance(doc.data, dict):
        raise PolicyError(f"{doc.path}:1: a policy file is a mapping with 'agents:' and 'rules:'")
    try:
        parsed = PolicyFile.model_validate(doc.data)
    except ValidationError as exc:
        raise PolicyError(_explain(doc, exc)) from None
    rules = tuple(
        rule.model_copy(update={"origin": doc.where(("rules", i))}) for i, rule in enumerate(parsed.rules)
    )
    return parsed.model_copy(update={"rules": rules})


def _explain(doc: Located, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False)[:20]:
        loc = tuple(p for p in err["loc"] if not ((isinstance(p, str) and p[:1].isupper()) or "[" in str(p)))
        field = ".".join(str(p) for p in loc) or "(top level)"
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and isinstance(doc.data, dict):
            rules = doc.data.get("rules")
            if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
                field = f"rule {rules[loc[1]].get('id', loc[1])!r}: " + ".".join(str(p) for p in loc[2:])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling; see policies/default.yaml for the format)"
        lines.append(f"{doc.where(loc)}: {field}: {msg}")
    return "\n".join(dict.fromkeys(lines))


def merge(files: list[PolicyFile], names: list[str]) -> Policy:
    """Join files into one policy; duplicate agents or rule ids and unknown agents are errors."""
    agents: dict[str, Agent] = {}
    agent_origin: dict[str, str] = {}
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    default_agent: str | None = None
    secret_fields: set[str] = set()
    sign_in: SignIn | None = None
    internal: tuple[str, ...] | None = None
    console: ConsoleSettings | None = None
    problems: list[str] = []
    for pf, name in zip(files, names, strict=True):
        secret_fields.update(pf.audit.secret_fields)  # a union: a file can only add secrecy
        if pf.internal_domains:  # not a union: a second file must not quietly widen "internal"
            if internal is not None and set(internal) != set(pf.internal_domains):
                problems.append(f"{name}: internal_domains is set differently in two files; set it in one")
            internal = pf.internal_domains
        if pf.sign_in is not None:
            if sign_in is not None and sign_in != pf.sign_in:
                problems.append(f"{name}: sign_in is set differently in two files; set it in one")
            sign_in = pf.sign_in
        if pf.console is not None:
            if console is not None and console != pf.console:
                problems.append(f"{name}: console is set differently in two files; set it in one")
            console = pf.console
        for agent_name, agent in pf.agents.items():
            if agent_name in agents:
                problems.append(
                    f"{name}: agent {agent_name!r} is also declared in {agent_origin[agent_name]}"
                )
            agents[agent_name] = agent
            agent_origin[agent_name] = name
        if pf.default_agent is not None:
            if default_agent is not None and default_agent != pf.default_agent:
                problems.append(f"{name}: default_agent is set differently in two files")
            default_agent = pf.default_agent
        for rule in pf.rules:
            if rule.id in seen:
                problems.append(f"{rule.origin}: rule id {rule.id!r} is already used at {seen[rule.id]}")
            seen[rule.id] = rule.origin
            rules.append(rule)
    for rule in rules:
        for agent_name in rule.agents:
            if agent_name != "*" and agent_name not in agents:
                problems.append(f"{rule.origin}: rule {rule.id!r} names unknown agent {agent_name!r}")
    agent_keys = {key: agent_name for agent_name, agent in agents.items() for key in agent.keys}
    for key_name, digest in console.admins.keys.items() if console is not None else ():
        if digest in agent_keys:
            problems.append(
                f"console admin key {key_name!r} is also agent {agent_keys[digest]!r}'s API key: an agent "
                "must not be able to sign in to the console; mint the admin its own key"
            )
    if default_agent is not None and default_agent not in agents:
        problems.append(f"default_agent {default_agent!r} is not a declared agent")
    elif default_agent is not None and agents[default_agent].for_people:
        problems.append(
            f"default_agent {default_agent!r} acts as the signed-in person, and a call without a "
            "signed-in person has none: choose another default_agent"
        )
    if problems:
        raise PolicyError("\n".join(problems))
    policy = Policy(
        default_agent=default_agent,
        agents=agents,
        rules=tuple(rules),
        sources=tuple(names),
        secret_fields=frozenset(secret_fields),
        sign_in=sign_in or SignIn(),
        internal_domains=internal or (),
        console=console or ConsoleSettings(),
    )
    return policy.model_copy(update={"digest": policy_digest(policy)})


def policy_digest(policy: Policy) -> str:
    """'sha256:' and the hex digest of the policy's content in a canonical JSON form: the same policy
    in other files, or with other comments, has the same digest; any change to what it decides, another."""
    import hashlib
    import json

    content = policy.model_dump(mode="json", exclude={"sources", "digest"})
    content["secret_fields"] = sorted(content["secret_fields"])
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def load_policy(path: str | Path) -> Policy:
    """Load, validate and merge a policy file or directory. Raises PolicyError with file:line."""
    files = policy_files(Path(path))
    parsed = [parse_file(load_file(f)) for f in files]
    return merge(parsed, [str(f) for f in files])


def policy_from_text(text: str, name: str = "<policy>") -> Policy:
    """Load a policy from YAML text (tests, `policy explain --policy -`)."""
    from box_mcp.policy.yamlsrc import load_text

    return merge([parse_file(load_text(text, name))], [name])
