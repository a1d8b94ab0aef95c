"""Graceful shutdown of `box-mcp serve --transport http`: on SIGTERM (`docker stop`, a Kubernetes
rollout) or Ctrl-C, stop accepting, let every tool call in flight finish and write its audit records,
then end what never ends by itself (idle GET event streams), and return so the deployment closes.

Two library behaviours stand in the way, and `DrainingServer` changes both:
- uvicorn re-raises the signal once it stops serving, killing the process (exit 143) before the
  caller's cleanup (the audit log, the database pool) runs;
- sse-starlette, which the MCP SDK streams its answers with, ends every event stream at the signal,
  including the one carrying a tool call's answer, so the call is cancelled mid-way.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from sse_starlette.sse import AppStatus

# Under Kubernetes' default 30 s grace period: a call still running after this long is cancelled.
GRACEFUL_SHUTDOWN_S = 25
POLL_S = 0.05


def _answering(connection: object) -> bool:
    """A connection in the middle of answering a request other than a GET (a GET is an event stream)."""
    cycle = getattr(connection, "cycle", None)
    if cycle is None or cycle.response_complete:
        return False
    return bool(cycle.scope.get("method") != "GET")


class DrainingServer(uvicorn.Server):
    """uvicorn that drains in-flight calls on SIGTERM/SIGINT, then returns to its caller."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]  # streams end in shutdown()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the calls in flight finish
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive ones close now (a balancer would reuse them)
        # uvicorn's connection set has no event to wait on (its own shutdown polls it too): poll, bounded.
        grace = self.config.timeout_graceful_shutdown or GRACEFUL_SHUTDOWN_S
        for _ in range(int(grace / POLL_S)):
            await asyncio.sleep(POLL_S)  # also lets the closed connections leave the set
            if self.force_exit or not any(_answering(c) for c in self.server_state.connections):
                break
        AppStatus.should_exit = True  # now the event streams end, and uvicorn's own shutdown follows
        await super().shutdown(sockets)
