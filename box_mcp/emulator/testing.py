"""Run an emulator on a loopback port in a background thread, for tests and the official SDK.

`running_emulator` starts and stops a server of its own (~120 ms, most of it uvicorn's shutdown pause);
`emulator_host` starts one server whose `fresh()` swaps in a new memory emulator, each with its own Store,
seed and state, so a test suite pays for the server once and every test still gets a pristine Box."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

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


def uvicorn_config(
    app: ASGIApp, host: str, port: int, *, lifespan: Literal["on", "off"] = "on"
) -> uvicorn.Config:
    # Large h11 limit: absurd headers reach BoxMiddleware and get Box's error body, not uvicorn's text.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan=lifespan,
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


def _loopback_socket() -> tuple[socket.socket, int]:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets (else ~40 ms per keep-alive reply).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, int(sock.getsockname()[1])


@contextmanager
def _serving(config: uvicorn.Config, sock: socket.socket, base_url: str) -> Iterator[None]:
    """Serve `config` on `sock` in a daemon thread while the block runs."""
    server = _ThreadedServer(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"box-emulator-{config.port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start on {base_url}")
            time.sleep(0.01)
        yield
    finally:
        server.stop()
        thread.join(STOP_TIMEOUT)
        sock.close()


@contextmanager
def running_emulator(**create_app_kwargs: Any) -> Iterator[RunningEmulator]:
    """Start uvicorn on 127.0.0.1:<free port>, yield once it serves, stop it cleanly on exit."""
    create_app_kwargs.setdefault("memory", True)
    sock, port = _loopback_socket()
    base_url = f"http://127.0.0.1:{port}"
    create_app_kwargs.setdefault("base_url", base_url)
    try:
        app = create_app(**create_app_kwargs)
    except BaseException:
        sock.close()
        raise
    try:
        with _serving(uvicorn_config(app, "127.0.0.1", port), sock, base_url):
            yield RunningEmulator(base_url=base_url, credentials=app.state.emulator.credentials, app=app)
    finally:
        if create_app_kwargs.get("memory"):
            app.state.emulator.store.close()


class _Switch:
    """The ASGI app an `EmulatorHost` serves: every request goes to the emulator swapped in last."""

    def __init__(self) -> None:
        self.app: Starlette | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app: ASGIApp | None = self.app
        if app is None:
            raise RuntimeError("no emulator yet: call EmulatorHost.fresh() before sending requests")
        await app(scope, receive, send)


class EmulatorHost:
    """One loopback server for many emulators, one at a time: `fresh()` builds a new memory emulator
    (its own Store, seed, faults, rate limiter, observers and secrets), closes the previous one's store,
    and serves the new one from then on. What it cannot renew is the server itself: background work the
    previous emulator started on the server's loop (webhook deliveries) and its open connections. Tests
    that need those pristine, or a persistent store, use `running_emulator`."""

    def __init__(self, base_url: str, switch: _Switch) -> None:
        self.base_url = base_url
        self._switch = switch

    def fresh(self, **create_app_kwargs: Any) -> RunningEmulator:
        """A new memory emulator at `base_url`; create_app's keywords (seed, faults, token_ttl, ...)."""
        if not create_app_kwargs.pop("memory", True) or "data_dir" in create_app_kwargs:
            raise ValueError("EmulatorHost serves memory emulators only: use running_emulator(data_dir=...)")
        create_app_kwargs.setdefault("base_url", self.base_url)
        app = create_app(memory=True, **create_app_kwargs)
        previous, self._switch.app = self._switch.app, app
        if previous is not None:
            previous.state.emulator.store.close()
        return RunningEmulator(base_url=self.base_url, credentials=app.state.emulator.credentials, app=app)

    def close(self) -> None:
        previous, self._switch.app = self._switch.app, None
        if previous is not None:
            previous.state.emulator.store.close()


@contextmanager
def emulator_host() -> Iterator[EmulatorHost]:
    """Start one uvicorn server on 127.0.0.1:<free port> for `EmulatorHost.fresh()` emulators."""
    sock, port = _loopback_socket()
    base_url = f"http://127.0.0.1:{port}"
    switch = _Switch()
    config = uvicorn_config(switch, "127.0.0.1", port, lifespan="off")  # memory emulators: nothing to stop
    host = EmulatorHost(base_url, switch)
    try:
        with _serving(config, sock, base_url):
            yield host
    finally:
        host.close()
