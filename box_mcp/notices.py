"""What a tool call tells its caller while it runs: MCP log messages (`notifications/message`).

The server sets the current call's `Notify` around the gate (`notices_to`); code deep in the call (the
Box client retrying after a 429 or a 5xx, Box marking an API deprecated) calls `notify(...)` without
knowing about MCP. No call in progress (start-up, the console), or a client that did not ask for log
messages at that level: nothing is sent. A failure to send is logged and never fails the call.

What a notice says is about the call's own requests (the route, Box's status, the wait), never a token,
a download link or another caller's data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

Level = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
LEVELS: tuple[Level, ...] = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
Notify = Callable[[Level, dict[str, Any]], Awaitable[None]]
LOGGER = "box-mcp"  # the `logger` name notices carry

_log = logging.getLogger(__name__)
_CURRENT: ContextVar[Notify | None] = ContextVar("box_mcp_notify", default=None)


@contextmanager
def notices_to(notify: Notify) -> Iterator[None]:
    """Send the notices of the code run inside to `notify` (one tool call's)."""
    token = _CURRENT.set(notify)
    try:
        yield
    finally:
        _CURRENT.reset(token)


async def notify(level: Level, data: dict[str, Any]) -> None:
    """Tell the current call's client `data` at `level` (nothing when no call is in progress)."""
    target = _CURRENT.get()
    if target is None:
        return
    try:
        await target(level, data)
    except Exception:  # a notice is a courtesy: a client that went away must not fail the call
        _log.debug("a notice could not be sent", exc_info=True)


def at_least(level: str, threshold: str) -> bool:
    """Whether `level` is `threshold` or more severe (RFC 5424 order, as MCP's)."""
    return LEVELS.index(level) >= LEVELS.index(threshold)  # type: ignore[arg-type,unused-ignore]


__all__ = ["LEVELS", "LOGGER", "Level", "Notify", "at_least", "notices_to", "notify"]
