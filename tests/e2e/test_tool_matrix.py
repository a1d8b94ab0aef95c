"""Every tool of the catalog, through a real `box-mcp serve --transport stdio`, on the emulator, in every
credential mode, governed and ungoverned, with the default settings (per-call token narrowing on)."""

from __future__ import annotations

import html
import json
import os
import re
import select
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.emulator.testing import RunningEmulator, running_emulator
from box_mcp.tools.catalog import CATALOG

pytestmark = pytest.mark.anyio

CLI = [sys.executable, "-m", "box_mcp.cli"]
REPORT = b"Quarterly report: revenue up.\n"
TEMPLATE = "contract"
VALUES = {"counterparty": "Matrix Corp", "value": 42.0}
FOLDER_VALUES = {"counterparty": "Folder Corp", "value": 7.0}
TASK_MESSAGE = "Review the quarterly report"
LETTER = "Dear {{name}}, welcome."  # the Doc Gen template's text
V2025 = {"box-version": "2025.0"}


# --- credential modes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """One way box-mcp holds Box credentials: who it acts as, and the policy's `acts_as` for it."""

    name: str
    user: str  # the seeded user the calls act as (credentials.json "users" role, or a login prefix)
    acts_as: Any  # the governed policy's acts_as
    ungoverned: bool = True  # False where no policy means the mode cannot be chosen at all


MODES = (
    Mode("developer_token", "ada", {"as_user": "<ada>"}),
    Mode("ccg_service_account", "service_account", "service_account"),
    Mode("ccg_user", "app_user", "service_account"),
    Mode("jwt", "service_account", "service_account"),
    # A stored OAuth sign-in is chosen only by a policy's {user_grant: label}: without a policy every call
    # uses the developer token or the service account, so "OAuth person, ungoverned" does not exist.
    Mode("oauth_person", "user", {"user_grant": "default"}, ungoverned=False),
)
PAIRS = [
    pytest.param(mode, governed, id=f"{mode.name}-{'governed' if governed else 'ungoverned'}")
    for mode in MODES
    for governed in (True, False)
    if governed or mode.ungoverned
]


def _user(box: RunningEmulator, key: str) -> dict[str, Any]:
    for user in box.credentials["users"]:
        if user["role"] == key or user["login"].startswith(key):
            return dict(user)
    raise KeyError(key)


def _credential_env(box: RunningEmulator, mode: Mode, data_dir: Path) -> dict[str, str]:
    ccg = box.credentials["ccg"]
    if mode.name == "developer_token":
        return {"BOX_DEVELOPER_TOKEN": box.token("ada")}
    if mode.name == "ccg_service_account":
        return {
            "BOX_CLIENT_ID": ccg["client_id"],
            "BOX_CLIENT_SECRET": ccg["client_secret"],
            "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
        }
    if mode.name == "ccg_user":
        return {
            "BOX_CLIENT_ID": ccg["client_id"],
            "BOX_CLIENT_SECRET": ccg["client_secret"],
            "BOX_SUBJECT_TYPE": "user",
            "BOX_SUBJECT_ID": _user(box, mode.user)["id"],
        }
    if mode.name == "jwt":
        path = data_dir / "jwt-config.json"
        path.write_text(json.dumps(box.credentials["jwt_config"]))
        return {"BOX_JWT_CONFIG_FILE": str(path)}
    oauth = box.credentials["oauth"]
    return {"BOX_OAUTH_CLIENT_ID": oauth["client_id"], "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"]}


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    return env | {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "xdg"),
        "BOX_MCP_DATA_DIR": str(home / "data"),
    }


# --- the OAuth person: `box-mcp auth login` against the emulator, a person consenting in a "browser" ----


def _read_login_url(proc: subprocess.Popen[bytes]) -> str:
    """The sign-in address from the CLI's stderr, read from the pipe itself (no line buffer: `select` cannot
    see lines a buffered reader already holds)."""
    assert proc.stderr is not None
    fd, seen = proc.stderr.fileno(), b""
    for _ in range(50):  # a few writes before the address
        ready, _, _ = select.select([fd], [], [], 60.0)
        assert ready, "box-mcp auth login printed no sign-in address within 60 s"
        chunk = os.read(fd, 65536)
        assert chunk, f"box-mcp auth login exited before printing a sign-in address: {seen!r}"
        seen += chunk
        found = re.search(rb"http://\S+/authorize\?\S+", seen)
        if found:
            return found.group(0).decode()
    raise AssertionError(f"box-mcp auth login printed no sign-in address: {seen!r}")


def _consent(url: str, user_id: str) -> None:
    """The person at Box's consent page: picks their account, approves, and the browser follows the
    redirect to the CLI's loopback receiver."""
    with httpx2.Client(timeout=20.0) as browser:
        page = browser.get(url)
        assert page.status_code == 200, page.text[:300]
        form = {
            html.unescape(k): html.unescape(v)
            for k, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page.text)
        }
        form |= {"user_id": user_id, "decision": "approve"}
        answer = browser.post(url.split("?", 1)[0], data=form)
        assert answer.status_code == 302, answer.text[:300]
        location = answer.headers["location"]
        assert location.startswith("http://127.0.0.1:"), location
        assert browser.get(location).status_code == 200, location


def sign_in(box: RunningEmulator, env: dict[str, str], user_id: str, *flags: str) -> None:
    """`box-mcp auth login --no-browser` (plus `flags`), with the consent given as user `user_id`."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(  # noqa: S603
        [*CLI, "auth", "login", "--no-browser", "--box-url", box.base_url, "--wait", "30", *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _consent(_read_login_url(proc), user_id)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err.decode()
    assert "Signed in as bob@acme.example" in out.decode()


# --- the workspace each (mode, governed) pair works in --------------------------------------------------


@dataclass
class Workspace:
    """A fresh folder tree owned by Ada, shared with the mode's user as editor, with one file and a task."""

    root: str
    src: str
    dst: str
    report: str
    task: str
    enterprise_scope: str
    allowed_dir: Path
    user: dict[str, Any]
    ids: dict[str, str]


async def _workspace(box: RunningEmulator, name: str, user: dict[str, Any], allowed_dir: Path) -> Workspace:
    admin = BoxClient(
        token_source=StaticToken(box.token("ada")), base_url=box.base_url, upload_url=f"{box.base_url}/api"
    )
    async with admin:
        root = await admin.post("/folders", json={"name": name, "parent": {"id": "0"}})
        src = await admin.post("/folders", json={"name": "src", "parent": {"id": root["id"]}})
        dst = await admin.post("/folders", json={"name": "dst", "parent": {"id": root["id"]}})
        report = await admin.upload(parent_id=src["id"], name="report.txt", source=REPORT)
        task = await admin.post(
            "/tasks",
            json={"item": {"type": "file", "id": report["id"]}, "action": "review", "message": TASK_MESSAGE},
        )
        letter = await admin.upload(parent_id=src["id"], name="letter.txt", source=LETTER.encode())
        await admin.post("/docgen_templates", json={"file": {"id": letter["id"]}}, headers=V2025)
        # in the trash before the calls: a folder to restore elsewhere, a file to purge
        old = await admin.post("/folders", json={"name": "old", "parent": {"id": root["id"]}})
        gone = await admin.upload(parent_id=root["id"], name="gone.txt", source=b"gone")
        await admin.delete(f"/folders/{old['id']}")
        await admin.delete(f"/files/{gone['id']}")
        if user["login"] != "ada@acme.example":
            await admin.post(
                "/collaborations",
                json={
                    "item": {"type": "folder", "id": root["id"]},
                    "accessible_by": {"type": "user", "id": user["id"]},
                    # co-owner: Box lets only an owner or co-owner lock folders and purge the trash
                    "role": "co-owner",
                },
            )
    return Workspace(
        root=root["id"],
        src=src["id"],
        dst=dst["id"],
        report=report["id"],
        task=task["id"],
        enterprise_scope=f"enterprise_{box.credentials['enterprise_id']}",
        allowed_dir=allowed_dir,
        user=user,
        ids={"template": letter["id"], "old": old["id"], "gone": gone["id"]},
    )


def _policy(path: Path, ws: Workspace, acts_as: Any) -> Path:
    policy = {
        "version": 1,
        "default_agent": "matrix",
        "agents": {"matrix": {"description": "runs every tool", "acts_as": acts_as}},
        "rules": [
            {
                "id": "workspace",
                "effect": "permit",
                "agents": ["matrix"],
                "access": "admin",
                "within": [ws.root],
            },
            {
                "id": "account",
                "effect": "permit",
                "agents": ["matrix"],
                "tools": ["who_am_i", "list_metadata_templates"],
            },
            {
                # hubs sit in no folder: a grant of the toolset (create_hub and copy_hub need one anyway)
                "id": "hubs",
                "effect": "permit",
                "agents": ["matrix"],
                "toolsets": ["hubs"],
            },
            {
                # a hub question: the hub and its items (looked up per call, as "workspace" scopes the tool)
                "id": "hub-ai",
                "effect": "permit",
                "agents": ["matrix"],
                "tools": ["ai_qa_hub"],
            },
            {
                # enterprise-wide template changes: only an unscoped admin grant of the tools
                "id": "templates",
                "effect": "permit",
                "agents": ["matrix"],
                "tools": ["create_metadata_template", "update_metadata_template"],
            },
            {
                # the enterprise's users sit in no folder either: only a grant of the tools covers them
                "id": "enterprise",
                "effect": "permit",
                "agents": ["matrix"],
                "toolsets": ["enterprise"],
            },
        ],
    }
    path.write_text(json.dumps(policy))
    return path


# --- the matrix: one row per tool, in the order they run --------------------------------------------------

Args = Callable[[Workspace], dict[str, Any]]
Check = Callable[[Workspace, dict[str, Any]], None]


@dataclass(frozen=True)
class Row:
    tool: str
    args: Args
    check: Check
    # Modes (Mode.user) whose Box identity Box itself refuses (403: not an admin), through the gate end to end
    refused_as: tuple[str, ...] = ()
    # Box refuses the call to some identities (managing users: admins only): then the words Box's refusal
    # must carry, for this pair's identity; None where it must succeed.
    refused: Callable[[Workspace], str | None] = lambda ws: None


def _not_an_admin(ws: Workspace) -> str | None:
    """Box lets an admin, a co-admin or the service account manage users; anyone else gets a 403."""
    if ws.user["role"] in ("admin", "coadmin", "service_account"):
        return None
    return "Box said 403 access_denied_insufficient_permissions"


def _keep(key: str, field: str = "id") -> Callable[[Workspace, dict[str, Any]], None]:
    def keep(ws: Workspace, out: dict[str, Any]) -> None:
        ws.ids[key] = str(out[field])

    return keep


def _all(*checks: Check) -> Check:
    def run(ws: Workspace, out: dict[str, Any]) -> None:
        for check in checks:
            check(ws, out)

    return run


def _eq(path: str, expected: Callable[[Workspace], Any]) -> Check:
    """out[a][b]... == expected(ws), for a dotted path."""

    def check(ws: Workspace, out: dict[str, Any]) -> None:
        value: Any = out
        for part in path.split("."):
            value = value[part]
        assert value == expected(ws), f"{path} = {value!r}, expected {expected(ws)!r}"

    return check


def _ids(key: str = "entries") -> Callable[[dict[str, Any]], set[str]]:
    return lambda out: {str(e["id"]) for e in out[key]}


def _downloaded(ws: Workspace, out: dict[str, Any]) -> None:
    assert Path(out["path"]).read_bytes() == REPORT and out["size"] == len(REPORT)


def _fetched(ws: Workspace, out: dict[str, Any]) -> None:
    """The download URL works for a client with no Box token."""
    got = httpx2.get(out["download_url"], timeout=20.0)
    assert got.status_code == 200 and got.content == REPORT, got.status_code


def _uploaded_through_the_url(ws: Workspace, out: dict[str, Any]) -> None:
    """A client with no Box token POSTs the bytes to the upload URL; the file lands in the folder."""
    files = {"attributes": (None, json.dumps(out["attributes"])), "file": ("direct.bin", b"\x00\x01bin")}
    auth = {"Authorization": f"Bearer {out['upload_token']}"}
    landed = httpx2.post(out["upload_url"], headers=auth, files=files, timeout=20.0)
    assert landed.status_code == 201, landed.text[:200]
    made = landed.json()["entries"][0]
    assert made["name"] == "direct.bin" and made["parent"]["id"] == ws.root and made["size"] == 5


def _a_png_page(width: int) -> Check:
    def check(ws: Workspace, out: dict[str, Any]) -> None:
        assert (out["page"], out["page_count"], out["mime_type"]) == (1, 1, "image/png"), out
        assert out["width"] == width and out["image_bytes"] > 0, out

    return check


def _listing_of_dst(ws: Workspace, out: dict[str, Any]) -> None:
    # the uploaded file and the folder moved in; the copied file and the copied folder were deleted
    assert {e["name"] for e in out["entries"]} == {"notes.txt", "made-renamed"}
    assert ws.ids["copy"] not in _ids()(out) and ws.ids["folder_copy"] not in _ids()(out)


def _collab_listed(ws: Workspace, out: dict[str, Any]) -> None:
    mine = [e for e in out["entries"] if e["id"] == ws.ids["collab"]]
    assert len(mine) == 1 and mine[0]["accessible_by"]["login"] == "carol@acme.example", out


def _template_listed(ws: Workspace, out: dict[str, Any]) -> None:
    assert TEMPLATE in {e["template_key"] for e in out["entries"]}, out


def _metadata_read(ws: Workspace, out: dict[str, Any]) -> None:
    (instance,) = out["instances"]
    assert instance["template_key"] == TEMPLATE and instance["values"] == VALUES, out


def _comment_listed(ws: Workspace, out: dict[str, Any]) -> None:
    assert [(e["id"], e["message"]) for e in out["entries"]] == [(ws.ids["comment"], "Looks right to me")]


def _task_listed(ws: Workspace, out: dict[str, Any]) -> None:
    assert [(e["id"], e["message"]) for e in out["entries"]] == [(ws.task, TASK_MESSAGE)], out


def _cites_the_report(ws: Workspace, out: dict[str, Any]) -> None:
    assert out["answer"] == REPORT.decode().strip(), out
    assert [c["file_id"] for c in out["citations"]] == [ws.report], out


def _extracted(expected: dict[str, Any]) -> Check:
    def check(ws: Workspace, out: dict[str, Any]) -> None:
        assert out["values"] == expected, out

    return check


FIELDS = [{"key": "report", "type": "string"}]
NOT_ADMINS = ("app_user", "user")  # Box lets only admins, co-admins and service accounts change templates
# Box's refusal: 403 for the identity, or (a person's OAuth app without Manage enterprise properties) the
# token exchange refusing that scope
REFUSED = r"403 access_denied_insufficient_permissions|invalid_scope \(The requested scopes exceed"


def _no(key: str) -> Check:
    def check(ws: Workspace, out: dict[str, Any]) -> None:
        assert key not in out, out

    return check


def _trash_listed(ws: Workspace, out: dict[str, Any]) -> None:
    # Box keeps what a collaborator trashes in the owner's trash: Ada's, who owns every workspace
    mine = {ws.ids["copy"], ws.ids["folder_copy"], ws.ids["old"], ws.ids["gone"]}
    listed = _ids()(out)
    if ws.user["login"] == "ada@acme.example":
        assert mine <= listed, out
    else:
        assert not mine & listed, out


ROWS: tuple[Row, ...] = (
    Row("who_am_i", lambda ws: {}, _eq("login", lambda ws: ws.user["login"])),
    Row(
        "get_file_details",
        lambda ws: {"file_id": ws.report},
        _all(_eq("name", lambda ws: "report.txt"), _eq("parent.id", lambda ws: ws.src)),
    ),
    Row("get_file_content", lambda ws: {"file_id": ws.report}, _eq("content", lambda ws: REPORT.decode())),
    Row(
        "download_file",
        lambda ws: {"file_id": ws.report, "local_path": str(ws.allowed_dir / "report.txt")},
        _downloaded,
    ),
    Row("get_download_url", lambda ws: {"file_id": ws.report}, _fetched),
    Row("get_file_preview", lambda ws: {"file_id": ws.report}, _a_png_page(1024)),
    Row("get_preview_page", lambda ws: {"file_id": ws.report, "page": 1}, _a_png_page(1024)),
    Row(
        "upload_file",
        lambda ws: {
            "parent_folder_id": ws.root,
            "name": "notes.txt",
            "local_path": str(ws.allowed_dir / "notes.txt"),
        },
        _all(_eq("parent.id", lambda ws: ws.root), _eq("size", lambda ws: 2), _keep("notes")),
    ),
    Row(
        "upload_file_version",
        lambda ws: {"file_id": ws.ids["notes"], "content_text": "version two"},
        _all(_eq("id", lambda ws: ws.ids["notes"]), _eq("size", lambda ws: 11)),
    ),
    Row(
        "get_upload_url",
        lambda ws: {"folder_id": ws.root, "file_name": "direct.bin", "size": 5},
        _uploaded_through_the_url,
    ),
    Row(
        "list_file_versions",
        lambda ws: {"file_id": ws.ids["notes"]},
        # previous versions only: the first upload, 2 bytes
        _all(
            lambda ws, out: _eq("sizes", lambda ws: [2])(ws, {"sizes": [v["size"] for v in out["versions"]]}),
            lambda ws, out: ws.ids.update(old_version=out["versions"][0]["id"]),
        ),
    ),
    Row(
        "update_file_properties",
        lambda ws: {"file_id": ws.ids["notes"], "description": "matrix notes"},
        _eq("description", lambda ws: "matrix notes"),
    ),
    Row(
        "copy_file",
        lambda ws: {"file_id": ws.report, "destination_folder_id": ws.dst, "new_name": "copy.txt"},
        _all(_eq("parent.id", lambda ws: ws.dst), _eq("name", lambda ws: "copy.txt"), _keep("copy")),
    ),
    Row(
        "move_file",
        lambda ws: {"file_id": ws.ids["notes"], "destination_folder_id": ws.dst},
        _all(_eq("id", lambda ws: ws.ids["notes"]), _eq("parent.id", lambda ws: ws.dst)),
    ),
    Row(
        "delete_file",
        lambda ws: {"file_id": ws.ids["copy"]},
        _all(_eq("id", lambda ws: ws.ids["copy"]), _eq("deleted", lambda ws: True)),
    ),
    Row(
        "create_folder",
        lambda ws: {"parent_folder_id": ws.root, "name": "made"},
        _all(_eq("parent.id", lambda ws: ws.root), _eq("name", lambda ws: "made"), _keep("made")),
    ),
    Row(
        "update_folder_properties",
        lambda ws: {"folder_id": ws.ids["made"], "name": "made-renamed", "description": "from the matrix"},
        _all(_eq("name", lambda ws: "made-renamed"), _eq("description", lambda ws: "from the matrix")),
    ),
    Row(
        "copy_folder",
        lambda ws: {"folder_id": ws.ids["made"], "destination_folder_id": ws.src, "new_name": "made-copy"},
        _all(_eq("parent.id", lambda ws: ws.src), _eq("name", lambda ws: "made-copy"), _keep("folder_copy")),
    ),
    Row(
        "move_folder",
        lambda ws: {"folder_id": ws.ids["made"], "destination_folder_id": ws.dst},
        _all(_eq("id", lambda ws: ws.ids["made"]), _eq("parent.id", lambda ws: ws.dst)),
    ),
    Row(
        "delete_folder",
        lambda ws: {"folder_id": ws.ids["folder_copy"], "recursive": True},
        _all(_eq("id", lambda ws: ws.ids["folder_copy"]), _eq("deleted", lambda ws: True)),
    ),
    Row(
        "get_folder_details",
        lambda ws: {"folder_id": ws.dst},
        _all(_eq("name", lambda ws: "dst"), _eq("parent.id", lambda ws: ws.root)),
    ),
    Row("list_folder_content_by_folder_id", lambda ws: {"folder_id": ws.dst}, _listing_of_dst),
    Row(
        "search_files_keyword",
        lambda ws: {"query": "report", "ancestor_folder_ids": [ws.root]},
        lambda ws, out: _eq("ids", lambda ws: {ws.report})(ws, {"ids": _ids()(out)}),
    ),
    Row(
        "search_folders_by_name",
        lambda ws: {"query": "dst", "ancestor_folder_ids": [ws.root]},
        lambda ws, out: _eq("ids", lambda ws: {ws.dst})(ws, {"ids": _ids()(out)}),
    ),
    Row(
        "add_file_shared_link",
        lambda ws: {"file_id": ws.report, "access": "company"},
        _all(
            _eq("item_id", lambda ws: ws.report),
            _eq("shared_link.access", lambda ws: "company"),
            lambda ws, out: ws.ids.update(link=out["shared_link"]["url"]),
        ),
    ),
    Row(
        "get_shared_link",
        lambda ws: {"item_type": "file", "item_id": ws.report},
        _eq("shared_link.url", lambda ws: ws.ids["link"]),
    ),
    Row(
        "resolve_shared_link",
        lambda ws: {"shared_link": ws.ids["link"]},
        _all(_eq("id", lambda ws: ws.report), _eq("name", lambda ws: "report.txt")),
    ),
    Row(
        "add_folder_shared_link",
        lambda ws: {"folder_id": ws.dst, "access": "collaborators"},
        _all(_eq("item_id", lambda ws: ws.dst), _eq("shared_link.access", lambda ws: "collaborators")),
    ),
    Row(
        "remove_shared_link",
        lambda ws: {"item_type": "folder", "item_id": ws.dst},
        lambda ws, out: _eq("link", lambda ws: None)(ws, {"link": out.get("shared_link")}),
    ),
    Row(
        "create_collaboration",
        lambda ws: {
            "item_type": "folder",
            "item_id": ws.dst,
            "role": "viewer",
            "invitee_email": "carol@acme.example",
            "notify": False,
        },
        _all(_eq("role", lambda ws: "viewer"), _eq("item_id", lambda ws: ws.dst), _keep("collab")),
    ),
    Row(
        "list_item_collaborations",
        lambda ws: {"item_type": "folder", "item_id": ws.dst, "limit": 10},
        _collab_listed,
    ),
    Row(
        "update_collaboration",
        lambda ws: {"collaboration_id": ws.ids["collab"], "role": "editor"},
        _all(_eq("id", lambda ws: ws.ids["collab"]), _eq("role", lambda ws: "editor")),
    ),
    Row(
        "delete_collaboration",
        lambda ws: {"collaboration_id": ws.ids["collab"]},
        _all(_eq("collaboration_id", lambda ws: ws.ids["collab"]), _eq("removed", lambda ws: True)),
    ),
    Row("list_metadata_templates", lambda ws: {"scope": "enterprise"}, _template_listed),
    Row(
        "get_metadata_template_schema",
        lambda ws: {"scope": "enterprise", "template_key": TEMPLATE},
        lambda ws, out: _eq("keys", lambda ws: ["counterparty", "value", "expires"])(
            ws, {"keys": [f["key"] for f in out["fields"]]}
        ),
    ),
    Row(
        "create_metadata_template",
        lambda ws: {
            "display_name": f"Matrix {ws.root}",
            "template_key": f"matrix_{ws.root}",
            "fields": [{"type": "enum", "key": "stage", "display_name": "Stage", "options": ["draft"]}],
        },
        _eq("template_key", lambda ws: f"matrix_{ws.root}"),
        refused_as=NOT_ADMINS,
    ),
    Row(
        "update_metadata_template",
        lambda ws: {
            "template_key": f"matrix_{ws.root}",
            "operations": [{"op": "addEnumOption", "field_key": "stage", "data": {"key": "final"}}],
        },
        lambda ws, out: _eq("options", lambda ws: ["draft", "final"])(
            ws, {"options": out["fields"][0]["options"]}
        ),
        refused_as=NOT_ADMINS,
    ),
    Row(
        "set_file_metadata",
        lambda ws: {"file_id": ws.report, "scope": "enterprise", "template_key": TEMPLATE, "values": VALUES},
        _all(_eq("template_key", lambda ws: TEMPLATE), _eq("values", lambda ws: VALUES)),
    ),
    Row(
        "get_file_metadata",
        lambda ws: {"file_id": ws.report, "scope": "enterprise", "template_key": TEMPLATE},
        _metadata_read,
    ),
    Row(
        "set_folder_metadata",
        lambda ws: {
            "folder_id": ws.root,
            "scope": "enterprise",
            "template_key": TEMPLATE,
            "values": FOLDER_VALUES,
        },
        _all(_eq("template_key", lambda ws: TEMPLATE), _eq("values", lambda ws: FOLDER_VALUES)),
    ),
    Row(
        "search_files_metadata",
        lambda ws: {
            "template_key": TEMPLATE,
            "query": "value >= :least",
            "query_params": {"least": 10},
            "ancestor_folder_ids": [ws.root],
        },
        lambda ws, out: _eq("ids", lambda ws: {ws.report})(ws, {"ids": _ids()(out)}),
    ),
    Row(
        "create_file_comment",
        lambda ws: {"file_id": ws.report, "message": "Looks right to me"},
        _all(_eq("message", lambda ws: "Looks right to me"), _keep("comment")),
    ),
    Row("list_file_comments", lambda ws: {"file_id": ws.report}, _comment_listed),
    Row("list_tasks", lambda ws: {"file_id": ws.report}, _task_listed),
    Row(
        "create_task",
        lambda ws: {"file_id": ws.report, "action": "complete", "message": "Matrix to-do"},
        _all(_eq("message", lambda ws: "Matrix to-do"), _eq("action", lambda ws: "complete"), _keep("todo")),
    ),
    Row(
        "assign_task",  # to the mode's own user, who then resolves it
        lambda ws: {"task_id": ws.ids["todo"], "user_id": ws.user["id"]},
        _all(_eq("assigned_to.id", lambda ws: ws.user["id"]), _keep("assignment")),
    ),
    Row(
        "update_task_assignment",
        lambda ws: {"assignment_id": ws.ids["assignment"], "resolution_state": "completed"},
        _eq("resolution_state", lambda ws: "completed"),
    ),
    Row(
        "delete_task",
        lambda ws: {"task_id": ws.ids["todo"]},
        _all(_eq("task_id", lambda ws: ws.ids["todo"]), _eq("removed", lambda ws: True)),
    ),
    Row(
        "list_recent_items",  # the identity commented on the report above
        lambda ws: {"limit": 1000},
        lambda ws, out: _eq("has", lambda ws: True)(ws, {"has": ws.report in _ids()(out)}),
    ),
    Row(
        "create_webhook",
        lambda ws: {
            "target_type": "file",
            "target_id": ws.report,
            "address": "https://127.0.0.1:9/matrix-hook",  # loopback: nothing here triggers a delivery
            "triggers": ["FILE.TRASHED"],
        },
        _all(_eq("target.id", lambda ws: ws.report), _keep("webhook")),
    ),
    Row(
        "list_webhooks",
        lambda ws: {},
        lambda ws, out: _eq("has", lambda ws: True)(ws, {"has": ws.ids["webhook"] in _ids()(out)}),
    ),
    Row(
        "delete_webhook",
        lambda ws: {"webhook_id": ws.ids["webhook"]},
        _all(_eq("webhook_id", lambda ws: ws.ids["webhook"]), _eq("deleted", lambda ws: True)),
    ),
    Row(
        "create_user",
        lambda ws: {"login": f"matrix-{ws.root}@acme.example", "name": f"Matrix {ws.root}"},
        _all(_eq("login", lambda ws: f"matrix-{ws.root}@acme.example"), _keep("user")),
        refused=_not_an_admin,
    ),
    Row(
        "list_users",
        lambda ws: {"filter_term": f"matrix-{ws.root}"},
        lambda ws, out: _eq("ids", lambda ws: {ws.ids["user"]})(ws, {"ids": _ids()(out)}),
        refused=_not_an_admin,
    ),
    Row(
        "ai_qa_single_file",
        lambda ws: {"file_id": ws.report, "question": "What happened to revenue?"},
        _cites_the_report,
    ),
    Row(
        "ai_qa_multi_file",
        lambda ws: {"file_ids": [ws.ids["notes"], ws.report], "question": "How is revenue?"},
        _cites_the_report,
    ),
    Row(
        "ai_extract_freeform",
        lambda ws: {"file_ids": [ws.report], "prompt": "report"},
        lambda ws, out: _eq("answer", lambda ws: '{"report": "revenue up"}')(ws, out),
    ),
    Row(
        "ai_extract_structured_from_fields",
        lambda ws: {"file_ids": [ws.report], "fields": FIELDS},
        _extracted({"report": "revenue up"}),
    ),
    Row(
        "ai_extract_structured_from_fields_enhanced",
        lambda ws: {"file_ids": [ws.report], "fields": FIELDS},
        _extracted({"report": "revenue up"}),
    ),
    Row(
        "ai_extract_structured_from_metadata_template",
        lambda ws: {"file_ids": [ws.report], "template_key": TEMPLATE},
        _extracted({"counterparty": None, "value": None, "expires": None}),
    ),
    Row(
        "ai_extract_structured_from_metadata_template_enhanced",
        lambda ws: {"file_ids": [ws.report], "scope": "enterprise", "template_key": TEMPLATE},
        _extracted({"counterparty": None, "value": None, "expires": None}),
    ),
    Row(
        "create_hub",
        lambda ws: {"title": f"Hub {ws.root}", "description": "from the matrix"},
        _all(_eq("title", lambda ws: f"Hub {ws.root}"), _keep("hub")),
    ),
    Row(
        "update_hub",
        lambda ws: {"hub_id": ws.ids["hub"], "title": f"Hub {ws.root} v2", "copy_hub_access": "all"},
        _all(_eq("title", lambda ws: f"Hub {ws.root} v2"), _eq("copy_hub_access", lambda ws: "all")),
    ),
    Row(
        "get_hub_details",
        lambda ws: {"hub_id": ws.ids["hub"]},
        _all(_eq("title", lambda ws: f"Hub {ws.root} v2"), _eq("description", lambda ws: "from the matrix")),
    ),
    Row(
        "add_items_to_hub",
        lambda ws: {"hub_id": ws.ids["hub"], "items": [{"type": "file", "id": ws.report}]},
        _eq("added", lambda ws: 1),
    ),
    Row(
        "get_hub_items",
        lambda ws: {"hub_id": ws.ids["hub"]},
        lambda ws, out: _eq("ids", lambda ws: {ws.report})(ws, {"ids": _ids()(out)}),
    ),
    Row(
        "ai_qa_hub",
        lambda ws: {"hub_id": ws.ids["hub"], "prompt": "What happened to revenue?"},
        _cites_the_report,
    ),
    Row(
        "copy_hub",
        lambda ws: {"hub_id": ws.ids["hub"], "title": f"Copy {ws.root}", "include_items": True},
        _all(_eq("title", lambda ws: f"Copy {ws.root}"), _keep("hub_copy")),
    ),
    Row(
        "list_hubs",
        lambda ws: {"query": ws.root, "sort": "name"},
        lambda ws, out: _eq("ids", lambda ws: {ws.ids["hub"], ws.ids["hub_copy"]})(ws, {"ids": _ids()(out)}),
    ),
    Row(
        "list_docgen_templates",
        lambda ws: {},
        lambda ws, out: _eq("has", lambda ws: True)(ws, {"has": ws.ids["template"] in _ids()(out)}),
    ),
    Row(
        "get_docgen_template_by_id",
        lambda ws: {"template_id": ws.ids["template"]},
        lambda ws, out: _eq("tags", lambda ws: ["{{name}}"])(
            ws, {"tags": [t["tag_content"] for t in out["tags"]]}
        ),
    ),
    Row(
        "create_docgen_batch",
        lambda ws: {
            "template_id": ws.ids["template"],
            "destination_folder_id": ws.dst,
            "generated_file_name": "letter-matrix",
            "user_input": {"name": "Matrix"},
        },
        lambda ws, out: _eq("status", lambda ws: "completed")(ws, {"status": out["jobs"][0]["status"]}),
    ),
    Row(
        "create_web_link",
        lambda ws: {"parent_folder_id": ws.src, "url": "https://status.acme.example/", "name": "Status"},
        _all(_eq("parent.id", lambda ws: ws.src), _eq("name", lambda ws: "Status"), _keep("web_link")),
    ),
    Row(
        "get_web_link",
        lambda ws: {"web_link_id": ws.ids["web_link"]},
        _eq("url", lambda ws: "https://status.acme.example/"),
    ),
    Row(
        "update_web_link",
        lambda ws: {"web_link_id": ws.ids["web_link"], "parent_folder_id": ws.dst, "name": "Status page"},
        _all(_eq("parent.id", lambda ws: ws.dst), _eq("name", lambda ws: "Status page")),
    ),
    Row(
        "delete_web_link",
        lambda ws: {"web_link_id": ws.ids["web_link"]},
        _all(_eq("id", lambda ws: ws.ids["web_link"]), _eq("deleted", lambda ws: True)),
    ),
    # file versions and locks (notes.txt has its first upload as its one previous version)
    Row(
        "delete_file_version",
        lambda ws: {"file_id": ws.ids["notes"], "version_id": ws.ids["old_version"]},
        _eq("deleted", lambda ws: True),
    ),
    Row(
        "restore_file_version",
        lambda ws: {"file_id": ws.ids["notes"], "version_id": ws.ids["old_version"]},
        _eq("version.id", lambda ws: ws.ids["old_version"]),
    ),
    Row(
        "promote_file_version",
        lambda ws: {"file_id": ws.ids["notes"], "version_id": ws.ids["old_version"]},
        _eq("version.size", lambda ws: 2),
    ),
    Row(
        "lock_file",
        lambda ws: {"file_id": ws.report, "is_download_prevented": True},
        _all(
            _eq("lock.created_by.login", lambda ws: ws.user["login"]),
            _eq("lock.is_download_prevented", lambda ws: True),
        ),
    ),
    Row("unlock_file", lambda ws: {"file_id": ws.report}, _no("lock")),
    Row(
        "lock_folder",
        lambda ws: {"folder_id": ws.dst},
        _all(_eq("folder_id", lambda ws: ws.dst), _keep("folder_lock")),
    ),
    Row(
        "list_folder_locks",
        lambda ws: {"folder_id": ws.dst},
        lambda ws, out: _eq("ids", lambda ws: {ws.ids["folder_lock"]})(ws, {"ids": _ids("locks")(out)}),
    ),
    Row(
        "unlock_folder",
        lambda ws: {"folder_id": ws.dst},
        _eq("removed", lambda ws: [ws.ids["folder_lock"]]),
    ),
    # trash: the copy delete_file trashed, and what the workspace trashed before the calls
    Row("list_trashed_items", lambda ws: {}, _trash_listed),
    Row(
        "get_trashed_item",
        lambda ws: {"item_type": "folder", "item_id": ws.ids["old"]},
        _all(_eq("name", lambda ws: "old"), _eq("parent.id", lambda ws: ws.root)),
    ),
    Row(
        "restore_file_from_trash",
        lambda ws: {"file_id": ws.ids["copy"]},
        _all(_eq("parent.id", lambda ws: ws.dst), _eq("item_status", lambda ws: "active")),
    ),
    Row(
        "restore_folder_from_trash",
        lambda ws: {"folder_id": ws.ids["old"], "parent_folder_id": ws.dst, "new_name": "old-restored"},
        _all(_eq("parent.id", lambda ws: ws.dst), _eq("name", lambda ws: "old-restored")),
    ),
    Row(
        "purge_trashed_item",
        lambda ws: {"item_type": "file", "item_id": ws.ids["gone"]},
        _eq("purged", lambda ws: True),
    ),
)


def test_the_matrix_has_exactly_one_row_for_every_tool_of_the_catalog() -> None:
    names = [row.tool for row in ROWS]
    assert len(names) == len(set(names))
    assert set(names) == {spec.name for spec in CATALOG}


# --- running it ------------------------------------------------------------------------------------------

CONCURRENT_PAIRS = 2  # server start-up (importing the SDK) is CPU-bound: two at once fill two cores


def _home(home: Path, box: RunningEmulator, mode: Mode) -> tuple[dict[str, str], Path]:
    """The pair's own HOME and data dir, its credentials in the environment, and its allowed local dir."""
    home.mkdir()
    env = _base_env(home) | _credential_env(box, mode, home)
    allowed = home / "allowed"  # download_file and upload_file read and write local paths only here
    allowed.mkdir()
    (allowed / "notes.txt").write_text("v1")
    return env, allowed


async def _run_pair(box: RunningEmulator, home: Path, mode: Mode, governed: bool) -> list[str]:
    """Start one `box-mcp serve` for (mode, governed), call every tool once; the failures, in words."""
    env, allowed = _home(home, box, mode)
    user = _user(box, mode.user)
    ws = await _workspace(box, f"matrix-{mode.name}-{'gov' if governed else 'ungov'}", user, allowed)
    # Default settings but every toolset: the extra ones (trash, versions, locks, ...) are off by default.
    args = ["serve", "--transport", "stdio", "--box-url", box.base_url, "--allowed-dir", str(allowed)]
    args += ["--toolsets", "all"]
    if governed:
        acts_as = mode.acts_as
        if acts_as == {"as_user": "<ada>"}:
            acts_as = {"as_user": _user(box, "ada")["id"]}
        args += ["--policy", str(_policy(home / "policy.yaml", ws, acts_as))]
    if mode.name == "oauth_person":
        await anyio.to_thread.run_sync(sign_in, box, env, user["id"])
    failures: list[str] = []
    params = StdioServerParameters(command=CLI[0], args=[*CLI[1:], *args], env=env)
    async with Client(params) as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        catalog = {spec.name for spec in CATALOG}
        if listed != catalog:
            failures.append(f"tools/list differs from the catalog: {sorted(listed ^ catalog)}")
        for row in ROWS:
            result = await client.call_tool(row.tool, row.args(ws))
            text = " ".join(getattr(block, "text", "") for block in result.content)
            if mode.user in row.refused_as:
                if not (result.is_error and re.search(REFUSED, text)):
                    failures.append(f"{row.tool}: expected Box's 403 for {mode.user}, got {text[:160]}")
                continue
            refusal = row.refused(ws)
            if refusal is not None:
                if not result.is_error or refusal not in text:
                    failures.append(f"{row.tool}: expected Box's refusal {refusal!r}, got: {text[:160]}")
                continue
            if result.is_error:
                failures.append(f"{row.tool}: {text[:160]}")
                continue
            try:
                row.check(ws, result.structured_content or {})
            except (AssertionError, KeyError, TypeError) as exc:
                failures.append(f"{row.tool}: wrong result: {exc!r}: {result.structured_content}")
    return failures


@pytest.mark.slow
async def test_every_tool_works_in_every_credential_mode_with_default_settings(tmp_path: Path) -> None:
    """One server per (mode, governed) pair, all of them on one emulator, each in its own folder tree."""
    failures: dict[str, list[str]] = {}
    limit = anyio.CapacityLimiter(CONCURRENT_PAIRS)

    async def run(pair: Any) -> None:
        mode, governed = pair.values
        async with limit:
            try:
                with anyio.fail_after(90):
                    found = await _run_pair(box, tmp_path / pair.id, mode, governed)
            except Exception as exc:  # one pair's crash must not hide the others' results
                found = [f"{type(exc).__name__}: {exc}"]
        if found:
            failures[pair.id] = found

    with running_emulator(memory=True, seed="demo", rate_limits=False) as box:
        async with anyio.create_task_group() as tg:
            for pair in PAIRS:
                tg.start_soon(run, pair)
    assert sorted(failures) == [], "\n".join(
        f"{pair}: {line}" for pair, lines in sorted(failures.items()) for line in lines
    )
