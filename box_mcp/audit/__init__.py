"""The tamper-evident audit log: hash-chained JSONL records, a SQLite query index, verify and query.

log = await AuditLog.open(settings.data_dir / "audit")
intent_id = await log.intent(agent=..., tool=..., args=..., items=..., decision=...)
await log.outcome(intent_id, outcome={"status": "ok"}, latency_ms=12.5)
report = verify(directory); rows = query(directory, agent="claude", denied=True)
"""

from __future__ import annotations

from .event import AuditEvent, call_event
from .hook import GateAudit
from .index import query, rebuild
from .log import AuditLog
from .record import GENESIS, KINDS, AuditRecord
from .redact import redact
from .store import Head, load_key, new_key_file
from .verify import BadRecord, VerifyReport, verify

__all__ = [
    "GENESIS",
    "KINDS",
    "AuditEvent",
    "AuditLog",
    "AuditRecord",
    "BadRecord",
    "GateAudit",
    "Head",
    "VerifyReport",
    "call_event",
    "load_key",
    "new_key_file",
    "query",
    "rebuild",
    "redact",
    "verify",
]
