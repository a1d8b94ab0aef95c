"""Agent sandboxes: a Box app user of its own, one folder collaborated to it, a policy stanza confining it.

`create_sandbox` (as the deployment's service account, CCG or JWT):

1. finds or makes the app user `box-mcp <NAME>` (POST /users, is_platform_access_only, with
   external_app_user_id `box-mcp:<NAME>`, so a second run finds it instead of making another);
2. finds or makes the folder path under the parent (missing intermediate folders too; an existing folder
   of that path is reused, and the result says so);
3. collaborates the app user onto that folder only, with the role asked for;
4. writes `sandbox-<NAME>.yaml` (0600) into the policy directory: the agent acts as the app user
   (`acts_as: {as_user}`), its writes send `box-notifications: off`, one permit `within: [folder]` whose
   access matches the role, and a freshly minted API key of which only the hash is stored. The key is
   returned once. The merged policy must load and pass the linter, else the file is taken back.

`revoke_sandbox` rewrites the stanza first (no keys, no rules, `revoked:` date: a running server's reload
drops the agent's access within its poll interval), then removes the collaboration and sets the app user
inactive (PUT /users/{id} status=inactive). The audit is never touched. Running it again finishes what a
failed run left undone. `list_sandboxes` reads the stanzas; with a client it also asks Box whether what
they record still holds (drift).

The operations take a BoxClient acting as the service account (`admin_client` builds one from settings);
`create`, `revoke` and `checked_list` wrap them with the settings, the checks made before any Box work and
what to do without a service account: the CLI (`sandbox_cli`) and the web console (`box_mcp.console`)
call those, so both do exactly the same thing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2

from box_mcp.box.client import BoxClient
from box_mcp.box.errors import BoxAPIError
from box_mcp.broker.broker import Broker, IdentitySpec
from box_mcp.config import Settings
from box_mcp.errors import BoxMCPError, PolicyError
from box_mcp.policy.engine import Engine
from box_mcp.policy.keys import mint_key
from box_mcp.policy.lint import lint
from box_mcp.policy.model import Policy, SandboxRecord, load_policy, parse_file
from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.yamlsrc import load_file

# Box's collaboration roles -> the most a permit inside the folder grants (read < write < admin).
ROLE_ACCESS = {
    "editor": "write",
    "viewer": "read",
    "previewer": "read",
    "uploader": "write",
    "previewer uploader": "write",
    "viewer uploader": "write",
    "co-owner": "admin",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a policy agent name (model._ID)
FILE_PREFIX = "sandbox-"
EXTERNAL_PREFIX = "box-mcp:"
MAX_DEPTH = 32  # folder path segments
MAX_LISTED = 10_000  # children looked through to find one folder by name


class SandboxError(BoxMCPError):
    """A sandbox cannot be made, listed or revoked; the message says why and what to do."""


class NoServiceAccount(SandboxError):
    """No app credentials that act as the enterprise's service account are configured."""


class NameTaken(SandboxError):
    """The sandbox name is in use: a stanza of that name, or an agent of the policy."""


class BoxRefused(SandboxError):
    """Box refused a step (the message carries Box's code and what the app may lack)."""


@dataclass(frozen=True)
class Sandbox:
    """One sandbox as its stanza records it (and, after `check_drift`, what Box says differs)."""

    name: str
    file: Path
    record: SandboxRecord
    keys: int
    drift: tuple[str, ...] = ()

    @property
    def state(self) -> str:
        return "revoked" if self.record.revoked else "active"


@dataclass(frozen=True)
class Created:
    sandbox: Sandbox
    api_key: str = field(repr=False)  # shown once, never stored
    notes: tuple[str, ...] = ()  # what was found and reused rather than made


@dataclass(frozen=True)
class Revoked:
    sandbox: Sandbox
    notes: tuple[str, ...] = ()


def utc_stamp(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


# -- checks on what a person typed -------------------------------------------------------------------


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise SandboxError(
            f"sandbox name {name[:80]!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (it becomes the policy agent's name)"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLE_ACCESS:
        raise SandboxError(
            f"role {role[:40]!r} is not a Box collaboration role: use one of {', '.join(ROLE_ACCESS)}"
        )
    return role


def folder_segments(path: str) -> list[str]:
    """'Agents/claims' -> ['Agents', 'claims'], refusing names Box refuses (item_name_invalid)."""
    parts = [p for p in path.split("/") if p != ""]
    if not parts:
        raise SandboxError("the folder path is empty: give one such as --folder 'Agents/NAME'")
    if len(parts) > MAX_DEPTH:
        raise SandboxError(f"the folder path has more than {MAX_DEPTH} levels")
    for part in parts:
        problem = None
        if part in (".", ".."):
            problem = "'.' and '..' are not folder names"
        elif "\\" in part:
            problem = "Box folder names cannot contain '\\'"
        elif part != part.strip():
            problem = "Box folder names cannot start or end with a space"
        elif not part.isprintable():
            problem = "Box folder names cannot contain control characters"
        elif len(part) > 255:
            problem = "Box folder names are at most 255 characters"
        if problem:
            raise SandboxError(f"folder path {path[:200]!r} is invalid: {problem}")
    return parts


def check_parent(parent: str) -> str:
    if not parent.isdigit() or len(parent) > 20:
        raise SandboxError(f"--parent {parent[:40]!r} is not a Box folder id (digits; 0 is the root)")
    return parent


# -- the service account's client ----------------------------------------------------------------------


@asynccontextmanager
async def admin_client(
    settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None
) -> AsyncIterator[BoxClient]:
    """A BoxClient acting as the deployment's service account (CCG or JWT, through the broker).
    `transport` lets tests serve Box in-process."""
    http = httpx2.AsyncClient(transport=transport) if transport is not None else None
    broker = Broker.from_settings(settings, downscope=False, http=http)
    service = broker.settings.service_account
    box = None
    try:
        if service is None:
            raise NoServiceAccount(
                "no service account configured: sandboxes are made by the app's service account; set "
                "BOX_CLIENT_ID + BOX_CLIENT_SECRET + BOX_ENTERPRISE_ID (Client Credentials Grant) or "
                "BOX_JWT_CONFIG_FILE (JWT)"
            )
        if getattr(service, "subject_type", "enterprise") != "enterprise":
            raise NoServiceAccount(
                "BOX_SUBJECT_TYPE=user makes the app act as one user, which cannot create app users or act "
                "as them: unset BOX_SUBJECT_TYPE/BOX_SUBJECT_ID so the app acts as its service account"
            )
        source = await broker.token_source(IdentitySpec(kind="service_account"))
        box = BoxClient(
            token_source=source,
            base_url=settings.api_url,
            upload_url=settings.upload_url,
            transport=transport,
        )
        yield box
    finally:
        if box is not None:
            await box.aclose()
        await broker.aclose()
        if http is not None:
            await http.aclose()


def _refused(what: str, exc: BoxAPIError) -> SandboxError:
    return BoxRefused(f"Box refused to {what}: {exc}")


# -- reading stanzas ----------------------------------------------------------------------------------


def policy_dir(path: Path | None) -> Path:
    if path is None:
        raise SandboxError(
            "no policy directory: pass --policy-dir, or set BOX_MCP_POLICY to the directory `box-mcp serve` "
            "reads (sandbox stanzas are files in it)"
        )
    if not path.is_dir():
        raise SandboxError(
            f"{path} is not a directory: a sandbox's stanza is a file of its own, so the policy must be a "
            "directory of *.yaml files (move the policy file into one and point BOX_MCP_POLICY at it)"
        )
    return path


def stanza_path(directory: Path, name: str) -> Path:
    return directory / f"{FILE_PREFIX}{name}.yaml"


def _sandbox_of(path: Path) -> Sandbox | None:
    parsed = parse_file(load_file(path))
    for agent_name, agent in parsed.agents.items():
        if agent.sandbox is not None:
            return Sandbox(agent_name, path, agent.sandbox, len(agent.keys))
    return None


def read_sandboxes(directory: Path) -> list[Sandbox]:
    """Every sandbox stanza in the policy directory, by name."""
    directory = policy_dir(directory)
    found = []
    for path in sorted(directory.glob(f"{FILE_PREFIX}*.yaml")):
        sandbox = _sandbox_of(path)
        if sandbox is not None:
            found.append(sandbox)
    return found


def find_sandbox(directory: Path, name: str) -> Sandbox:
    path = stanza_path(policy_dir(directory), check_name(name))
    if not path.exists():
        raise SandboxError(f"no sandbox {name!r}: {path} does not exist (`box-mcp sandbox list` shows them)")
    sandbox = _sandbox_of(path)
    if sandbox is None or sandbox.name != name:
        raise SandboxError(
            f"{path} holds no sandbox record for agent {name!r}; it was not made by sandbox create"
        )
    return sandbox


# -- writing stanzas ----------------------------------------------------------------------------------


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are a subset of YAML's)."""
    return json.dumps(value, ensure_ascii=True)


def stanza_text(
    name: str, record: SandboxRecord, key_hashes: tuple[str, ...], *, by: str = "box-mcp sandbox create"
) -> str:
    access = ROLE_ACCESS.get(record.role, "read")
    by = "".join(ch for ch in by if ch.isprintable() and ch != "`")[:200]  # one comment line, always
    header = [
        f"# Agent sandbox {name}: written by `{by}` on {record.revoked or record.created}.",
        f"# Box app user {record.app_user}, collaborated as {record.role} on folder {record.folder}"
        f" ({_q(record.path)} under folder {record.parent}).",
    ]
    if record.revoked:
        header.append(
            f"# Revoked on {record.revoked}: no keys and no rules; the collaboration was removed and the app "
            "user set inactive. Kept so the audit's agent stays explained."
        )
    else:
        header.append(
            "# The API key was shown once; only its hash is here. Revoke with "
            f"`box-mcp sandbox revoke {name}`; edit by hand at your own risk."
        )
    sandbox_lines = [
        f"      app_user: {_q(record.app_user)}",
        f"      folder: {_q(record.folder)}",
        f"      path: {_q(record.path)}",
        f"      parent: {_q(record.parent)}",
        f"      role: {_q(record.role)}",
    ]
    if record.collaboration is not None:
        sandbox_lines.append(f"      collaboration: {_q(record.collaboration)}")
    sandbox_lines.append(f"      created: {_q(record.created)}")
    if record.revoked:
        sandbox_lines.append(f"      revoked: {_q(record.revoked)}")
    keys = "".join(f"\n      - {_q(k)}" for k in key_hashes) if key_hashes else " []"
    description = f"Agent sandbox: Box app user {record.app_user}, folder {record.folder}" + (
        f" (revoked {record.revoked})" if record.revoked else ""
    )
    lines = [
        *header,
        "version: 1",
        "agents:",
        f"  {name}:",
        f"    description: {_q(description)}",
        f"    acts_as: {{as_user: {_q(record.app_user)}}}",
        '    notifications: "off"',
        f"    keys:{keys}",
        "    sandbox:",
        *sandbox_lines,
    ]
    if record.revoked:
        lines.append("rules: []")
    else:
        lines += [
            "rules:",
            f"  - id: {_q(f'sandbox-{name}')}",
            "    effect: permit",
            f"    description: {_q(f'{name} works in its own folder {record.folder} and nowhere else')}",
            f"    agents: [{_q(name)}]",
            f"    access: {access}",
            f"    within: [{_q(record.folder)}]",
        ]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, mode 0600 (it holds key hashes)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_policy(directory: Path) -> None:
    """The merged policy loads and the linter finds no error (what `box-mcp policy check` says)."""
    engine = Engine(load_policy(directory), tools_for_policy())
    errors = [f for f in lint(engine) if f.level == "error"]
    if errors:
        raise PolicyError("\n".join(str(f) for f in errors))


def foreign_grants(policy: Policy, name: str) -> list[str]:
    """Rules of other files that permit (or ask approval for) the sandbox agent: an `agents: "*"` permit
    elsewhere would reach past its folder. Forbids are welcome."""
    own = f"sandbox-{name}"
    return [
        f"rule {rule.id!r} ({rule.origin}) also grants agent {name!r} ({rule.effect} for {list(rule.agents)})"
        for rule in policy.rules
        if rule.effect != "forbid" and rule.id != own and ("*" in rule.agents or name in rule.agents)
    ]


# -- Box steps ----------------------------------------------------------------------------------------


async def _find_app_user(box: BoxClient, external_id: str) -> dict[str, Any] | None:
    found = await box.get(
        "/users",
        params={"external_app_user_id": external_id, "user_type": "all", "limit": 10},
        fields=["id", "name", "login", "status", "external_app_user_id", "is_platform_access_only"],
    )
    entries = [e for e in (found or {}).get("entries", []) if e.get("external_app_user_id") == external_id]
    return entries[0] if entries else None


async def _app_user(box: BoxClient, name: str, notes: list[str]) -> dict[str, Any]:
    external_id = EXTERNAL_PREFIX + name
    try:
        existing = await _find_app_user(box, external_id)
        if existing is not None:
            if existing.get("status") != "active":
                raise NameTaken(
                    f"Box already has app user {existing['id']} for {external_id!r}, and it is "
                    f"{existing.get('status')} (a revoked sandbox): delete that user in the Admin Console, "
                    "or choose another name"
                )
            notes.append(f"reused app user {existing['id']} (external_app_user_id {external_id})")
            return dict(existing)
        made = await box.post(
            "/users",
            json={
                "name": f"box-mcp {name}"[:50],
                "is_platform_access_only": True,
                "external_app_user_id": external_id,
            },
            fields=["id", "name", "login", "status", "external_app_user_id"],
            idempotent=False,
            verify=lambda: _find_app_user(box, external_id),
        )
    except BoxAPIError as exc:
        why = "create the app user (the app needs 'Manage app users' and an admin's approval)"
        raise _refused(why, exc) from None
    return dict(made)


async def _child_folder(box: BoxClient, parent: str, name: str) -> dict[str, Any] | None:
    async for entry in box.paginate(
        f"/folders/{parent}/items", fields=["type", "id", "name"], limit=1000, max_items=MAX_LISTED
    ):
        if entry.get("name") == name:
            if entry.get("type") != "folder":
                raise SandboxError(f"{name!r} in folder {parent} is a {entry.get('type')}, not a folder")
            return entry
    return None


async def _folder(box: BoxClient, parent: str, parts: list[str], notes: list[str]) -> tuple[str, bool]:
    """(the folder id of parent/parts..., whether the last one existed already)."""
    try:
        await box.get(f"/folders/{parent}", fields=["id", "type"])
    except BoxAPIError as exc:
        if exc.status == 404:
            raise SandboxError(
                f"parent folder {parent} does not exist or the service account cannot see it: give a folder "
                "id it owns or collaborates on (--parent), or 0 for its root"
            ) from None
        raise _refused(f"read parent folder {parent}", exc) from None
    current, existed = parent, True
    for part in parts:
        try:
            found = await _child_folder(box, current, part)
            if found is None:
                try:
                    made = await box.post(
                        "/folders", json={"name": part, "parent": {"id": current}}, fields=["id", "type"]
                    )
                    current, existed = str(made["id"]), False
                    continue
                except BoxAPIError as exc:
                    if exc.code != "item_name_in_use":
                        raise
                    found = await _child_folder(box, current, part)  # made meanwhile by someone else
                    if found is None:
                        raise
            current, existed = str(found["id"]), True
        except BoxAPIError as exc:
            raise _refused(f"make folder {part!r} in folder {current}", exc) from None
    if existed:
        notes.append(f"reused the existing folder {current} at that path")
    return current, existed


async def _collaboration(box: BoxClient, folder: str, user: str, role: str, notes: list[str]) -> str:
    body = {
        "item": {"type": "folder", "id": folder},
        "accessible_by": {"type": "user", "id": user},
        "role": role,
    }
    try:
        try:
            made = await box.post("/collaborations", json=body, params={"notify": "false"}, fields=["id"])
            return str(made["id"])
        except BoxAPIError as exc:
            if exc.code != "user_already_collaborator":
                raise
        async for entry in box.paginate(f"/folders/{folder}/collaborations", limit=100, max_items=MAX_LISTED):
            who = entry.get("accessible_by") or {}
            if who.get("id") == user:
                collab_id = str(entry["id"])
                if entry.get("role") != role:
                    await box.put(f"/collaborations/{collab_id}", json={"role": role})
                    notes.append(f"changed the app user's existing collaboration {collab_id} to {role}")
                else:
                    notes.append(f"reused the app user's existing collaboration {collab_id}")
                return collab_id
        raise SandboxError(f"Box says the app user collaborates on folder {folder} but does not list it")
    except BoxAPIError as exc:
        raise _refused(f"collaborate app user {user} on folder {folder} as {role}", exc) from None


# -- the three operations ------------------------------------------------------------------------------


def check_request(
    directory: Path, name: str, folder: str, *, parent: str = "0", role: str = "editor"
) -> list[str]:
    """Everything `create_sandbox` can check before asking Box; returns the folder path's segments."""
    check_name(name)
    check_role(role)
    parts = folder_segments(folder)
    check_parent(parent)
    directory = policy_dir(directory)
    path = stanza_path(directory, name)
    if path.exists():
        raise NameTaken(
            f"sandbox {name!r} exists ({path}): choose another name, or revoke it and remove the file first"
        )
    try:
        current = load_policy(directory)
    except PolicyError as exc:
        if "no policy files" not in str(exc):
            raise SandboxError(f"the policy in {directory} does not load; fix it first:\n{exc}") from None
    else:
        if name in current.agents:
            raise NameTaken(
                f"agent {name!r} is already declared in the policy in {directory}: choose another name"
            )
    return parts


async def create_sandbox(
    box: BoxClient,
    directory: Path,
    name: str,
    folder: str,
    *,
    parent: str = "0",
    role: str = "editor",
    clock: Callable[[], float] = time.time,
    by: str = "box-mcp sandbox create",
) -> Created:
    """Make the sandbox (see the module docstring). Raises SandboxError with what to do. `by`: who made
    it, for the stanza's header."""
    parts = check_request(directory, name, folder, parent=parent, role=role)
    directory = policy_dir(directory)
    path = stanza_path(directory, name)
    notes: list[str] = []
    user = await _app_user(box, name, notes)
    folder_id, _existed = await _folder(box, parent, parts, notes)
    collab_id = await _collaboration(box, folder_id, str(user["id"]), role, notes)
    api_key, digest = mint_key()
    record = SandboxRecord(
        app_user=str(user["id"]),
        folder=folder_id,
        path="/".join(parts),
        parent=parent,
        role=role,
        collaboration=collab_id,
        created=utc_stamp(clock()),
    )
    _write_private(path, stanza_text(name, record, (digest,), by=by))
    try:
        check_policy(directory)
        beyond = foreign_grants(load_policy(directory), name)
        if beyond:
            raise PolicyError(
                "\n".join(beyond) + "\nthose rules would reach past the sandbox folder: name their agents "
                "explicitly instead of '*'"
            )
    except PolicyError as exc:
        path.unlink(missing_ok=True)
        raise SandboxError(
            f"the stanza for {name!r} would break the policy, so it was not kept (the app user "
            f"{record.app_user}, folder {folder_id} and collaboration {collab_id} stay in Box):\n{exc}"
        ) from None
    return Created(Sandbox(name, path, record, 1), api_key, tuple(notes))


def revoke_keys(
    directory: Path, name: str, *, clock: Callable[[], float] = time.time, by: str = ""
) -> tuple[Sandbox, list[str]]:
    """The local half of a revoke: the stanza rewritten with no keys and no rules, marked revoked."""
    sandbox = find_sandbox(directory, name)
    record = sandbox.record
    if record.revoked:
        return sandbox, [f"already revoked on {record.revoked}; checked that Box agrees"]
    record = record.model_copy(update={"revoked": utc_stamp(clock())})
    _write_private(sandbox.file, stanza_text(name, record, (), by=by or f"box-mcp sandbox revoke {name}"))
    return Sandbox(name, sandbox.file, record, 0), []


async def revoke_sandbox(
    box: BoxClient, directory: Path, name: str, *, clock: Callable[[], float] = time.time, by: str = ""
) -> Revoked:
    """Revoke the keys (stanza rewritten first), remove the collaboration, set the app user inactive.
    Idempotent: a sandbox already revoked has its Box side checked and finished."""
    sandbox, notes = revoke_keys(directory, name, clock=clock, by=by)
    record = sandbox.record
    try:
        collab = record.collaboration
        if collab is None:
            notes.append("no collaboration was recorded")
        else:
            try:
                await box.delete(f"/collaborations/{collab}")
            except BoxAPIError as exc:
                if exc.status != 404:
                    raise
                notes.append(f"collaboration {collab} was already gone")
        try:
            await box.put(f"/users/{record.app_user}", json={"status": "inactive"}, fields=["id", "status"])
        except BoxAPIError as exc:
            if exc.status != 404:
                raise
            notes.append(f"app user {record.app_user} no longer exists in Box")
    except BoxAPIError as exc:
        raise BoxRefused(
            f"the keys of {name!r} are revoked ({sandbox.file}), but Box refused to finish: {exc}. "
            f"Run `box-mcp sandbox revoke {name}` (or the console's Revoke) again once that is fixed"
        ) from None
    return Revoked(Sandbox(name, sandbox.file, record, 0), tuple(notes))


async def check_drift(box: BoxClient, sandbox: Sandbox) -> Sandbox:
    """The sandbox with `drift`: what Box says that differs from its stanza."""
    record = sandbox.record
    active = record.revoked is None
    drift: list[str] = []

    async def look(path: str, fields: list[str]) -> dict[str, Any] | None:
        try:
            return dict(await box.get(path, fields=fields))
        except BoxAPIError as exc:
            if exc.status == 404:
                return None
            drift.append(f"cannot check {path}: {exc.code} ({exc.status})")
            return {}

    user = await look(f"/users/{record.app_user}", ["id", "status"])
    if user is None:
        drift.append(f"app user {record.app_user} no longer exists")
    elif user and active and user.get("status") != "active":
        drift.append(f"app user {record.app_user} is {user.get('status')} in Box")
    elif user and not active and user.get("status") == "active":
        drift.append(f"app user {record.app_user} is still active in Box (run revoke again)")
    folder = await look(f"/folders/{record.folder}", ["id", "name", "item_status"])
    if folder is None:
        drift.append(f"folder {record.folder} no longer exists (or was trashed)")
    elif folder and folder.get("name") != record.path.rsplit("/", 1)[-1]:
        drift.append(f"folder {record.folder} is now named {str(folder.get('name'))[:100]!r}")
    if record.collaboration is not None:
        collab = await look(f"/collaborations/{record.collaboration}", ["id", "role", "status"])
        if collab is None and active:
            drift.append(f"collaboration {record.collaboration} was removed in Box")
        elif collab and not active:
            drift.append(f"collaboration {record.collaboration} still exists (run revoke again)")
        elif collab and collab.get("role") != record.role:
            drift.append(
                f"collaboration {record.collaboration} is now {collab.get('role')}, not {record.role}"
            )
    return replace(sandbox, drift=(*sandbox.drift, *drift))


def policy_drift(directory: Path, sandboxes: list[Sandbox]) -> list[Sandbox]:
    """Each sandbox with the policy's own problems added to its drift: rules elsewhere that grant it
    more, or a policy that no longer loads."""
    try:
        policy = load_policy(directory)
    except PolicyError as exc:
        first = str(exc).splitlines()[0][:300]
        return [replace(s, drift=(*s.drift, f"the policy does not load: {first}")) for s in sandboxes]
    return [replace(s, drift=(*s.drift, *foreign_grants(policy, s.name))) for s in sandboxes]


async def list_sandboxes(directory: Path, box: BoxClient | None = None) -> list[Sandbox]:
    """The sandboxes in the policy directory, checked against the policy; with `box`, against Box too."""
    found = policy_drift(directory, read_sandboxes(directory))
    if box is None:
        return found
    return [await check_drift(box, s) for s in found]


# -- the operations as the CLI and the console run them ------------------------------------------------


async def create(
    settings: Settings,
    directory: Path,
    name: str,
    folder: str,
    *,
    parent: str = "0",
    role: str = "editor",
    transport: httpx2.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    by: str = "box-mcp sandbox create",
) -> Created:
    """`box-mcp sandbox create` and the console's Create: a bad name, path, role or parent, or a name in
    use, fails before any Box work; then the sandbox is made as the settings' service account."""
    check_request(directory, name, folder, parent=parent, role=role)
    async with admin_client(settings, transport=transport) as box:
        return await create_sandbox(
            box, directory, name, folder, parent=parent, role=role, clock=clock, by=by
        )


async def revoke(
    settings: Settings,
    directory: Path,
    name: str,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    by: str = "",
) -> Revoked:
    """`box-mcp sandbox revoke` and the console's Revoke. Without a service account the keys are revoked
    all the same, and the error says what is left in Box."""
    find_sandbox(directory, name)  # a name that is no sandbox fails before any Box work
    try:
        async with admin_client(settings, transport=transport) as box:
            return await revoke_sandbox(box, directory, name, clock=clock, by=by)
    except NoServiceAccount as exc:  # the keys die anyway; Box's half needs the service account
        revoked, _notes = revoke_keys(directory, name, clock=clock, by=by)
        raise NoServiceAccount(
            f"the keys of {name!r} are revoked ({revoked.file}), but the collaboration and the app user "
            f"are untouched in Box: {exc}; then revoke it again (`box-mcp sandbox revoke {name}`, or "
            "Revoke in the console)"
        ) from None


@dataclass(frozen=True)
class Listing:
    sandboxes: list[Sandbox]
    checked: bool  # asked Box
    why_not: str | None = None  # why Box was not asked, when it was not

    @property
    def drifted(self) -> int:
        return sum(bool(s.drift) for s in self.sandboxes)


async def checked_list(
    settings: Settings,
    directory: Path,
    *,
    offline: bool = False,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Listing:
    """`box-mcp sandbox list` and the console's Sandboxes page: the stanzas, checked against the policy,
    and against Box unless `offline` (without a service account: still the stanzas, saying why)."""
    sandboxes = policy_drift(directory, read_sandboxes(directory))
    if offline:
        return Listing(sandboxes, False, "--offline")
    if not sandboxes:
        return Listing(sandboxes, True)
    try:
        async with admin_client(settings, transport=transport) as box:
            return Listing([await check_drift(box, s) for s in sandboxes], True)
    except NoServiceAccount as exc:
        return Listing(sandboxes, False, str(exc))


__all__ = [
    "ROLE_ACCESS",
    "BoxRefused",
    "Created",
    "Listing",
    "NameTaken",
    "NoServiceAccount",
    "Revoked",
    "Sandbox",
    "SandboxError",
    "admin_client",
    "check_drift",
    "checked_list",
    "create",
    "create_sandbox",
    "list_sandboxes",
    "read_sandboxes",
    "revoke",
    "revoke_keys",
    "revoke_sandbox",
]
