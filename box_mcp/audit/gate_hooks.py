"""The audit's part of a deployment (loaded by `box_mcp.server.load_hooks`): every tool call the gate
runs is recorded in `<data dir>/audit`, with write intents durable before the write goes to Box.

Set BOX_MCP_AUDIT_KEY_FILE to a key made by `box-mcp audit new-key PATH` (kept outside the data dir) to
seal every record with an HMAC as well. The server imports this module; it imports the server's
GateHooks only inside the function, so the audit package does not depend on the server.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .hook import GateAudit
from .log import AuditLog
from .store import load_key

if TYPE_CHECKING:
    from box_mcp.config import Settings
    from box_mcp.server import GateHooks

KEY_FILE_ENV = "BOX_MCP_AUDIT_KEY_FILE"  # read by config.Settings.audit_key_file


async def gate_hooks(
    settings: Settings, stack: AsyncExitStack, *, events: Any = None, prior: GateHooks | None = None
) -> GateHooks:
    """`events` (box_mcp.events.Events): the deployment's session, policy and broker events are recorded.
    `prior.policy`, when it offers `secret_fields()`, names argument fields masked in every record."""
    from box_mcp.server import GateHooks

    key = load_key(settings.audit_key_file) if settings.audit_key_file else None
    log = await AuditLog.open(Path(settings.data_dir) / "audit", key=key)
    stack.push_async_callback(log.aclose)
    policy = prior.policy if prior is not None else None
    secret_fields = getattr(policy, "secret_fields", None)
    audit = GateAudit(log, secret_fields=secret_fields if callable(secret_fields) else None)
    if events is not None:
        events.connect(audit.sink)
        await events.flush()  # the policy_load posted while the policy area loaded
        stack.push_async_callback(events.flush)  # runs before log.aclose: nothing posted is lost
    return GateHooks(audit=audit)
