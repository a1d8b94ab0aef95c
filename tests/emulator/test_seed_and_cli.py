"""Seeds (deterministic demo, empty), persistence, credentials.json, the CLI, and in-process use."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx2 as httpx
import pytest

from box_mcp.cli import build_parser
from box_mcp.emulator.app import create_app, faults_from_env


def _ids(app_credentials: dict[str, object]) -> tuple[object, ...]:
    return (
        app_credentials["enterprise_id"],
        app_credentials["folders"],
        app_credentials["files"],
        [u["id"] for u in app_credentials["users"]],
    )  # type: ignore[attr-defined]


def test_demo_seed_is_deterministic_but_secrets_are_not() -> None:
    first, second = create_app(memory=True), create_app(memory=True)
    try:
        a, b = first.state.emulator.credentials, second.state.emulator.credentials
        assert _ids(a) == _ids(b)
        assert a["users"][0]["developer_token"] != b["users"][0]["developer_token"]
        assert a["ccg"]["client_secret"] != b["ccg"]["client_secret"]
        assert set(a["folders"]) >= {"Contracts", "Contracts/Inbox", "HR/Sandbox", "Engineering", "Marketing"}
        assert {u["role"] for u in a["users"]} == {"admin", "user", "app_user", "service_account"}
    finally:
        first.state.emulator.store.close()
        second.state.emulator.store.close()


def test_empty_seed_has_users_but_no_content() -> None:
    app = create_app(memory=True, seed="empty")
    try:
        creds = app.state.emulator.credentials
        assert creds["folders"] == {} and creds["files"] == {} and creds["users"]
    finally:
        app.state.emulator.store.close()


def test_unknown_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown seed"):
        create_app(memory=True, seed="lots")


@pytest.mark.anyio
async def test_state_persists_in_the_data_dir_and_credentials_are_private(tmp_path: Path) -> None:
    app = create_app(data_dir=tmp_path)
    token = app.state.emulator.credentials["users"][0]["developer_token"]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://box") as client:
            made = await client.post(
                "/2.0/folders", json={"name": "Kept", "parent": {"id": "0"}}, headers=headers
            )
            assert made.status_code == 201
    finally:
        app.state.emulator.store.close()
    credentials = tmp_path / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert json.loads(credentials.read_text())["users"][0]["developer_token"] == token
    again = create_app(data_dir=tmp_path)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=again), base_url="http://box"
        ) as client:
            items = await client.get("/2.0/folders/0/items", headers=headers)
        assert "Kept" in [e["name"] for e in items.json()["entries"]]
    finally:
        again.state.emulator.store.close()


def test_create_app_needs_a_data_dir_or_memory() -> None:
    with pytest.raises(ValueError, match="data_dir"):
        create_app()


def test_cli_parses_the_emulator_command() -> None:
    args = build_parser().parse_args(
        ["emulator", "--memory", "--port", "9999", "--seed", "empty", "--fault", "/2.0/files:503=0.5"]
    )
    assert (args.memory, args.port, args.seed, args.host) == (True, 9999, "empty", "127.0.0.1")
    assert callable(args.func)


def test_faults_come_from_the_environment() -> None:
    rules = faults_from_env({"BOX_EMULATOR_FAULTS": "/2.0/search:429=1;latency=5"})
    assert [(r.pattern, r.rate_429, r.latency_ms) for r in rules] == [
        ("/2.0/search", 1.0, 0.0),
        (".*", 0.0, 5.0),
    ]


def test_cli_serves_and_prints_where_the_credentials_are() -> None:
    import contextlib
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "box_mcp.cli", "emulator", "--memory", "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # noqa: S603
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"Box emulator serving at http://127.0.0.1:{port}"
        path = Path(proc.stdout.readline().split("credentials: ", 1)[1].strip())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = json.loads(path.read_text())["users"][0]["developer_token"]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(200):  # bounded: the port opens a moment after the line is printed
                try:
                    reply = http.get("/2.0/users/me", headers={"Authorization": f"Bearer {token}"})
                    break
                except httpx.TransportError:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(0.05)  # pause, but wake at once if the server died
                    assert proc.poll() is None, "the emulator exited"
        assert reply.json()["name"] == "Ada Admin"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_data_dir_that_already_exists_gets_private_database_files(tmp_path: Path) -> None:
    # The database and its WAL hold webhook signing keys and token hashes: owner-only from the first byte.
    data_dir = tmp_path / "shared"
    data_dir.mkdir(mode=0o755)
    app = create_app(data_dir=data_dir)
    try:
        names = sorted(p.name for p in data_dir.iterdir() if p.name.startswith("box.sqlite3"))
        assert "box.sqlite3-wal" in names
        for name in [*names, "credentials.json"]:
            assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    finally:
        app.state.emulator.store.close()
