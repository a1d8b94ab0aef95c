"""Several real `box-mcp serve --transport http` processes on one PostgreSQL, as a team runs them: the
same BOX_MCP_DATABASE_URL and BOX_MCP_VAULT_KEY, a data dir each (nothing shared through files), a
policy with API keys. Used by the replica, fault and benchmark runs."""

from __future__ import annotations

import hashlib
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from anyio.abc import Process

from box_mcp.broker.crypto import new_key_text
from tests.server.hostile_servers import ccg_env, free_port, serve_argv, server_env

WRITER_KEY = "bmcp_writer_key_for_the_replica_tests"


def key_digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def writer_policy(path: Path, emulator: Any, *, limits: str = "") -> Path:
    """An agent `writer` (API key WRITER_KEY, acting as the emulator's ada) that may read everything and
    write anywhere: what the replica tests need, nothing about policy itself."""
    ada = emulator.user_id("ada")
    path.write_text(
        "version: 1\nagents:\n"
        f"  writer: {{keys: ['{key_digest(WRITER_KEY)}'], acts_as: {{as_user: '{ada}'}}{limits}}}\n"
        "rules:\n"
        "  - {id: reads, effect: permit, agents: [writer], access: read}\n"
        "  - {id: writes, effect: permit, agents: [writer], access: write}\n"
    )
    return path


@dataclass
class Replica:
    name: str
    port: int
    data_dir: Path
    argv: list[str]
    env: dict[str, str]
    proc: Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/mcp"

    async def start(self) -> None:
        """Start the process and wait (bounded: 20 s) until /healthz answers."""
        with (self.data_dir / "stderr").open("ab") as err:  # the child keeps its own copy of the descriptor
            self.proc = await anyio.open_process(
                self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=err
            )
        async with httpx2.AsyncClient() as http:
            for _ in range(800):  # 800 x 25 ms
                if self.proc.returncode is not None:
                    err = (self.data_dir / "stderr").read_text()[-3000:]
                    raise AssertionError(f"replica {self.name} exited with {self.proc.returncode}: {err}")
                try:
                    if (await http.get(self.base + "/healthz")).status_code == 200:
                        return
                except httpx2.TransportError:
                    pass
                await anyio.sleep(0.025)
        raise AssertionError(f"replica {self.name} did not start within 20 s")

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, as a crash or an OOM kill."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self.proc.aclose()
        self.proc = None

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.terminate()
            with anyio.move_on_after(15):
                await self.proc.wait()
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        await self.proc.aclose()
        self.proc = None


@dataclass
class Replicas:
    database: str
    vault_key: str
    members: list[Replica] = field(default_factory=list)

    def __getitem__(self, index: int) -> Replica:
        return self.members[index]


@asynccontextmanager
async def replicas(
    emulator: Any,
    root: Path,
    database: str,
    policy: Path,
    *,
    count: int = 2,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[Replicas]:
    """`count` running replicas on `database`; every one is stopped on exit."""
    group = Replicas(database, new_key_text())
    for index in range(count):
        name = "abcdefgh"[index]
        data = root / f"replica-{name}"
        data.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = server_env(emulator, data) | ccg_env(emulator)
        env.pop("BOX_DEVELOPER_TOKEN", None)
        env |= {
            "BOX_MCP_DATABASE_URL": database,
            "BOX_MCP_VAULT_KEY": group.vault_key,
            "BOX_MCP_REPLICA_URL": f"http://127.0.0.1:{port}",
            **(extra_env or {}),
        }
        argv = serve_argv(emulator, "--transport", "http", "--port", str(port), "--policy", str(policy))
        group.members.append(Replica(name, port, data, argv, env))
    try:
        await _start_all(group.members)
        yield group
    finally:
        for member in group.members:
            await member.stop()


async def _start_all(members: list[Replica]) -> None:
    async with anyio.create_task_group() as tg:
        for member in members:
            tg.start_soon(member.start)


def headers(key: str = WRITER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


__all__ = ["WRITER_KEY", "Replica", "Replicas", "headers", "key_digest", "replicas", "writer_policy"]
