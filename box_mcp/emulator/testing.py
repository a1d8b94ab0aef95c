"""Run an emulator on a loopback port in a background thread, for tests and the official SDK."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .common import Emulator

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


@dataclass
class RunningEmulator:
    base_url: str
    credentials: dict[str, Any]
    app: Starlette

    @property
    def emulator(self) -> Emulator:
        emu: Emulator = self.app.state.emulator
        return emu

    def token(self, login_prefix: str = "ada") -> str:
        """The developer token of the seeded user whose login starts with `login_prefix`."""
        for user in self.credentials["users"]:
            if user["login"].startswith(login_prefix):
                return str(user["developer_token"])
        raise KeyError(f"no seeded user with a login starting {login_prefix!r}")

    def user_id(self, login_prefix: str = "ada") -> str:
        for user in self.credentials["users"]:
            if user["login"].startswith(login_prefix):
                return str(user["id"])
        raise KeyError(f"no seeded user with a login starting {login_prefix!r}")


def uvicorn_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    # Large h11 limit: absurd headers reach BoxMiddleware and get Box's error body, not uvicorn's text.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        http="h11",
        h11_max_incomplete_event_size=1024 * 1024,
        access_log=False,
    )


class _ThreadedServer(uvicorn.Server):
    """uvicorn.Server whose main loop wakes as soon as `stop()` is called (not at the next 0.1 s tick)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    def stop(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed: nothing to wake
                loop.call_soon_threadsafe(wake.set)


@contextmanager
def running_emulator(**create_app_kwargs: Any) -> Iterator[RunningEmulator]:
    """Start uvicorn on 127.0.0.1:<free port>, yield once it serves, stop it cleanly on exit."""
    create_app_kwargs.setdefault("memory", True)
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets (else ~40 ms per keep-alive reply).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    create_app_kwargs.setdefault("base_url", base_url)
    try:
        app = create_app(**create_app_kwargs)
    except BaseException:
        sock.close()
        raise
    server = _ThreadedServer(uvicorn_config(app, "127.0.0.1", port))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"box-emulator-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start on {base_url}")
            time.sleep(0.01)
        yield RunningEmulator(base_url=base_url, credentials=app.state.emulator.credentials, app=app)
    finally:
        server.stop()
        thread.join(STOP_TIMEOUT)
        sock.close()
        if create_app_kwargs.get("memory"):
            app.state.emulator.store.close()
