"""The audit's part of a deployment (loaded by `box_mcp.server.load_hooks`): every tool call the gate
runs is recorded in `<data dir>/audit`, with write intents durable before the write goes to Box.

Set BOX_MCP_AUDIT_KEY_FILE to a key made by `box-mcp audit new-key PATH` (kept outside the data dir) to
seal every record with an HMAC as well. The server imports this module; it imports the server's
GateHooks only inside the function, so the audit package does not depend on the server.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from .hook import GateAudit
from .log import AuditLog
from .store import load_key

if TYPE_CHECKING:
    from box_mcp.config import Settings
    from box_mcp.server import GateHooks

KEY_FILE_ENV = "BOX_MCP_AUDIT_KEY_FILE"


def key_from_env() -> bytes | None:
    key_file = os.environ.get(KEY_FILE_ENV)
    return load_key(Path(os.path.expanduser(key_file))) if key_file else None


async def gate_hooks(settings: Settings, stack: AsyncExitStack) -> GateHooks:
    from box_mcp.server import GateHooks

    log = await AuditLog.open(Path(settings.data_dir) / "audit", key=key_from_env())
    stack.push_async_callback(log.aclose)
    return GateHooks(audit=GateAudit(log))
