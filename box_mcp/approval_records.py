"""An approval is a stored record: who asked, the exact call, who may approve, until when, and its single use.

A call the policy holds for approval gets one `ApprovalRequest` (status `pending`). A person decides it
(`approved` or `denied`): the caller through MCP elicitation, an approver in the console or with
`box-mcp approvals approve`. The call it was made for then runs once (`used`); a record still pending or
approved past `expires_at` reads as `expired`. The store enforces every step server-side, atomically
across processes: of two replicas consuming one approval, exactly one wins.

Stores: `MemoryApprovalStore` (embedders, tests), `SQLiteApprovalStore` (the data dir's 0600
`approvals.sqlite3`, table `approval_requests`), and `box_mcp.state.approvals.PostgresApprovals` (the
deployment's database, migration 6). All are synchronous and thread-safe; async code calls them through
`anyio.to_thread`.

A record holds what an approver must see and what the audit may keep: the arguments as the audit
redacts them (never a value it would mask), the items, the policy's version and rules. The fingerprint
(`box_mcp.approvals.call_fingerprint`) binds it to the exact call: agent, person, client, tool, arguments.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from box_mcp.errors import BoxMCPError

Status = Literal["pending", "approved", "denied", "used", "expired"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "denied", "used", "expired")
LIVE: tuple[Status, ...] = ("pending", "approved")  # the statuses that expire
KEEP_FOR = 7 * 86400.0  # a record is kept this long after it expired (the console's history), then pruned
PRUNE_BATCH = 100  # records pruned per create: the table never grows past what is recent
MAX_LIST = 1000
MAX_NOTE = 500


def new_approval_id() -> str:
    """`apr_` and 128 random bits: unguessable, so knowing an id is not a way to find one."""
    return "apr_" + secrets.token_urlsafe(16)


@dataclass(frozen=True)
class ApprovalRequest:
    id: str  # "apr_" + secrets.token_urlsafe(16): unguessable
    status: Status  # "expired" is computed when read past expires_at while pending/approved
    created_at: float
    expires_at: float
    agent: str
    person_id: str | None
    person_login: str | None
    client_id: str | None
    session_id: str | None
    tool: str
    fingerprint: str  # approvals.call_fingerprint(call): agent, person, client, tool, exact args
    arguments: dict[str, Any]  # for display, redacted exactly as the audit redacts
    resources: tuple[str, ...]  # e.g. ("write folder:123", "read file:456")
    policy_version: str  # the loaded policy's digest (policy_load audit records carry it too)
    rules: tuple[str, ...]
    reason: str
    approvers: tuple[str, ...]  # "caller" | "admin" | "<login email>" | "group:<box group id>"
    decided_by: str | None = None
    decided_at: float | None = None
    decision_note: str | None = None
    used_at: float | None = None
    call_id: str | None = None

    def __repr__(self) -> str:  # the id is a capability to a decision: not in logs by accident
        return f"ApprovalRequest({self.tool!r} for {self.agent!r}, {self.status})"

    def read_at(self, now: float) -> ApprovalRequest:
        """The record as of `now`: a pending or approved record past its expiry reads as expired."""
        if self.status in LIVE and now >= self.expires_at:
            return replace(self, status="expired")
        return self

    @property
    def caller_only(self) -> bool:
        return self.approvers == ("caller",)


Records = list[ApprovalRequest]  # what list() answers (the name `list` is a method in the stores)


class ApprovalStateError(BoxMCPError):
    """An approval cannot do what was asked (already decided, expired, unknown id, another call)."""


class ApprovalStore(Protocol):
    def create(self, request: ApprovalRequest) -> None: ...

    def get(self, approval_id: str) -> ApprovalRequest | None: ...

    def list(self, *, status: Status | None = None, limit: int = 100) -> Records:
        """Newest first."""
        ...

    def decide(self, approval_id: str, *, approve: bool, by: str, note: str) -> ApprovalRequest:
        """Pending and unexpired only, else ApprovalStateError."""
        ...

    def consume(self, approval_id: str, *, fingerprint: str, call_id: str) -> ApprovalRequest:
        """Approved, unexpired, same fingerprint -> used, exactly once across processes; else
        ApprovalStateError."""
        ...

    def find(self, fingerprint: str) -> ApprovalRequest | None:
        """The newest pending-or-approved unexpired record for this exact call."""
        ...

    def expire_due(self) -> Records:
        """Mark pending or approved records past their expiry `expired` for good; returns the ones this
        call marked (each by exactly one process, so each expiry is audited once)."""
        ...

    def latest(self, fingerprint: str) -> ApprovalRequest | None:
        """The newest record for this exact call, whatever its status (a denial is told on a retry)."""
        ...

    def close(self) -> None: ...


# -- the rules every store applies the same way ------------------------------------------------------


def refusal(record: ApprovalRequest | None, now: float, *, fingerprint: str | None = None) -> str:
    """Why `record` cannot be decided or used now, in words for the person or agent who tried."""
    if record is None:
        return "unknown id: no approval with this id exists on this server (check the id, or ask again)"
    current = record.read_at(now)
    if fingerprint is not None and record.fingerprint != fingerprint:
        return (
            f"approval {record.id} was given for another call (other arguments, tool, agent or person): "
            "an approval lets only the exact call it was asked for through"
        )
    if current.status == "expired":
        return f"approval {record.id} expired (at {_when(record.expires_at)}): ask for it again"
    if current.status == "used":
        return (
            f"approval {record.id} was already used (by call {record.call_id}): an approval lets one call "
            "through once; ask the user to approve this call again"
        )
    if current.status == "denied":
        note = f": {record.decision_note}" if record.decision_note else ""
        return f"approval {record.id} was already decided: denied by {record.decided_by}{note}"
    if current.status == "approved":
        return f"approval {record.id} was already decided: approved by {record.decided_by}"
    return f"approval {record.id} is still pending: nobody has approved it yet"


def check_decision(by: str, note: str) -> tuple[str, str]:
    by = by.strip()
    if not by:
        raise ApprovalStateError("say who decides: `by` is empty")
    note = " ".join(note.split())
    if len(note) > MAX_NOTE:
        raise ApprovalStateError(f"the note is {len(note)} characters; keep it under {MAX_NOTE}")
    return by[:200], note


def check_new(request: ApprovalRequest) -> None:
    if request.status != "pending":
        raise ApprovalStateError(f"a new approval is pending, not {request.status}")
    if not request.id.startswith("apr_") or len(request.id) < 20:
        raise ApprovalStateError("an approval id is 'apr_' and 22 random characters (new_approval_id())")
    if request.expires_at <= request.created_at:
        raise ApprovalStateError("an approval must expire after it was created")
    if not request.approvers:
        raise ApprovalStateError("an approval needs at least one approver")


def _limit(limit: int) -> int:
    if limit < 1:
        raise ApprovalStateError(f"limit must be at least 1, not {limit}")
    return min(limit, MAX_LIST)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


# -- memory ------------------------------------------------------------------------------------------


class MemoryApprovalStore:
    """This process's memory: for embedders and tests whose request-state key is ephemeral too."""

    def __init__(self, clock: Any = time.time) -> None:
        self._records: dict[str, ApprovalRequest] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def __repr__(self) -> str:
        return f"MemoryApprovalStore({len(self._records)} records)"

    def create(self, request: ApprovalRequest) -> None:
        check_new(request)
        now = self._clock()
        with self._lock:
            if request.id in self._records:
                raise ApprovalStateError("an approval with this id already exists")
            old = [k for k, r in self._records.items() if r.expires_at + KEEP_FOR < now][:PRUNE_BATCH]
            for key in old:
                del self._records[key]
            self._records[request.id] = request

    def get(self, approval_id: str) -> ApprovalRequest | None:
        with self._lock:
            found = self._records.get(approval_id)
        return found.read_at(self._clock()) if found is not None else None

    def list(self, *, status: Status | None = None, limit: int = 100) -> Records:
        limit = _limit(limit)
        _status_filter(status, 0.0, "?")  # the same check on `status` as the databases'
        now = self._clock()
        with self._lock:
            records = [r.read_at(now) for r in self._records.values()]
        records = [r for r in records if status is None or r.status == status]
        records.sort(key=lambda r: r.created_at, reverse=True)
        return records[:limit]

    def decide(self, approval_id: str, *, approve: bool, by: str, note: str) -> ApprovalRequest:
        by, note = check_decision(by, note)
        now = self._clock()
        with self._lock:
            found = self._records.get(approval_id)
            if found is None or found.read_at(now).status != "pending":
                raise ApprovalStateError(refusal(found, now))
            decided = replace(
                found,
                status="approved" if approve else "denied",
                decided_by=by,
                decided_at=now,
                decision_note=note or None,
            )
            self._records[approval_id] = decided
        return decided

    def consume(self, approval_id: str, *, fingerprint: str, call_id: str) -> ApprovalRequest:
        now = self._clock()
        with self._lock:
            found = self._records.get(approval_id)
            if found is None or found.fingerprint != fingerprint or found.read_at(now).status != "approved":
                raise ApprovalStateError(refusal(found, now, fingerprint=fingerprint))
            used = replace(found, status="used", used_at=now, call_id=call_id)
            self._records[approval_id] = used
        return used

    def find(self, fingerprint: str) -> ApprovalRequest | None:
        now = self._clock()
        with self._lock:
            live = [
                r
                for r in self._records.values()
                if r.fingerprint == fingerprint and r.read_at(now).status in LIVE
            ]
        return max(live, key=lambda r: r.created_at) if live else None

    def latest(self, fingerprint: str) -> ApprovalRequest | None:
        now = self._clock()
        with self._lock:
            mine = [r for r in self._records.values() if r.fingerprint == fingerprint]
        return max(mine, key=lambda r: r.created_at).read_at(now) if mine else None

    def expire_due(self) -> Records:
        """Mark live records past their expiry `expired` for good; returns those this call marked."""
        now = self._clock()
        with self._lock:
            due = [r for r in self._records.values() if r.status in LIVE and now >= r.expires_at]
            for r in due:
                self._records[r.id] = replace(r, status="expired")
        return [replace(r, status="expired") for r in due]

    def close(self) -> None:
        return None


# -- SQLite ------------------------------------------------------------------------------------------

COLUMNS = (
    "id",
    "status",
    "created_at",
    "expires_at",
    "agent",
    "person_id",
    "person_login",
    "client_id",
    "session_id",
    "tool",
    "fingerprint",
    "arguments",
    "resources",
    "policy_version",
    "rules",
    "reason",
    "approvers",
    "decided_by",
    "decided_at",
    "decision_note",
    "used_at",
    "call_id",
)
_JSON_COLUMNS = ("arguments", "resources", "rules", "approvers")

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS approval_requests (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used', 'expired')),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    agent TEXT NOT NULL,
    person_id TEXT,
    person_login TEXT,
    client_id TEXT,
    session_id TEXT,
    tool TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    arguments TEXT NOT NULL,
    resources TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    rules TEXT NOT NULL,
    reason TEXT NOT NULL,
    approvers TEXT NOT NULL,
    decided_by TEXT,
    decided_at REAL,
    decision_note TEXT,
    used_at REAL,
    call_id TEXT
);
CREATE INDEX IF NOT EXISTS approval_requests_fingerprint ON approval_requests (fingerprint, created_at);
CREATE INDEX IF NOT EXISTS approval_requests_created ON approval_requests (created_at);
"""


_SQ_SELECT = f"SELECT {', '.join(COLUMNS)} FROM approval_requests WHERE id = ?"  # noqa: S608 - fixed names


_SQ_LATEST = (
    f"SELECT {', '.join(COLUMNS)} FROM approval_requests WHERE fingerprint = ? "  # noqa: S608 - fixed names
    "ORDER BY created_at DESC LIMIT 1"
)


def to_row(request: ApprovalRequest) -> tuple[Any, ...]:
    """The record as one row of COLUMNS (lists and the arguments as JSON text)."""
    values = []
    for name in COLUMNS:
        value = getattr(request, name)
        if name in _JSON_COLUMNS:
            value = json.dumps(list(value) if isinstance(value, tuple) else value, sort_keys=True)
        values.append(value)
    return tuple(values)


def from_row(row: tuple[Any, ...] | sqlite3.Row, now: float) -> ApprovalRequest:
    fields = dict(zip(COLUMNS, tuple(row), strict=True))
    for name in _JSON_COLUMNS:
        value = fields[name]
        if isinstance(value, str | bytes):
            value = json.loads(value)
        fields[name] = value if name == "arguments" else tuple(str(v) for v in value)
    return ApprovalRequest(**fields).read_at(now)


class SQLiteApprovalStore:
    """The embedded default: table `approval_requests` in the data dir's 0600 `approvals.sqlite3`.

    Each change is one UPDATE guarded by the status it expects, inside BEGIN IMMEDIATE (SQLite's write
    lock, shared by every process on the file): of two processes consuming one approval, one row
    changes and the other sees why it cannot."""

    def __init__(self, path: Path, clock: Any = time.time) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._clock = clock

    def __repr__(self) -> str:
        return f"SQLiteApprovalStore({str(self.path)!r})"

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            create_private(self.path)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            db.execute("PRAGMA synchronous=FULL")  # a decision or use is on disk before its call runs
            db.executescript(SQLITE_SCHEMA)  # a data dir from before gets the table; nothing else changes
            self._db = db
        return self._db

    def _run(self, what: str, work: Any) -> Any:
        try:
            with self._lock:
                db = self._open()
                db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(db)
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                return result
        except (sqlite3.Error, OSError) as exc:
            raise BoxMCPError(f"cannot {what} in {self.path}: {exc}") from None

    def _select(self, db: sqlite3.Connection, approval_id: str) -> ApprovalRequest | None:
        row = db.execute(_SQ_SELECT, (approval_id,)).fetchone()
        return from_row(row, self._clock()) if row is not None else None

    def create(self, request: ApprovalRequest) -> None:
        check_new(request)

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM approval_requests WHERE rowid IN (SELECT rowid FROM approval_requests "
                "WHERE expires_at < ? LIMIT ?)",
                (self._clock() - KEEP_FOR, PRUNE_BATCH),
            )
            try:
                db.execute(
                    f"INSERT INTO approval_requests ({', '.join(COLUMNS)}) "  # noqa: S608 - fixed column names
                    f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                    to_row(request),
                )
            except sqlite3.IntegrityError:
                raise ApprovalStateError("an approval with this id already exists") from None

        self._run("store an approval", work)

    def get(self, approval_id: str) -> ApprovalRequest | None:
        found: ApprovalRequest | None = self._run(
            "read an approval", lambda db: self._select(db, approval_id)
        )
        return found

    def list(self, *, status: Status | None = None, limit: int = 100) -> Records:
        limit = _limit(limit)
        now = self._clock()
        where, params = _status_filter(status, now, "?")

        def work(db: sqlite3.Connection) -> Records:
            rows = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM approval_requests {where} "  # noqa: S608 - fixed column names
                "ORDER BY created_at DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
            return [from_row(r, now) for r in rows]

        records: list[ApprovalRequest] = self._run("list approvals", work)
        return records

    def decide(self, approval_id: str, *, approve: bool, by: str, note: str) -> ApprovalRequest:
        by, note = check_decision(by, note)

        def work(db: sqlite3.Connection) -> ApprovalRequest:
            now = self._clock()
            changed = db.execute(
                "UPDATE approval_requests SET status = ?, decided_by = ?, decided_at = ?, decision_note = ? "
                "WHERE id = ? AND status = 'pending' AND expires_at > ?",
                ("approved" if approve else "denied", by, now, note or None, approval_id, now),
            ).rowcount
            found = self._select(db, approval_id)
            if changed != 1 or found is None:
                raise ApprovalStateError(refusal(found, now))
            return found

        decided: ApprovalRequest = self._run("record a decision", work)
        return decided

    def consume(self, approval_id: str, *, fingerprint: str, call_id: str) -> ApprovalRequest:
        def work(db: sqlite3.Connection) -> ApprovalRequest:
            now = self._clock()
            changed = db.execute(
                "UPDATE approval_requests SET status = 'used', used_at = ?, call_id = ? "
                "WHERE id = ? AND status = 'approved' AND expires_at > ? AND fingerprint = ?",
                (now, call_id, approval_id, now, fingerprint),
            ).rowcount
            found = self._select(db, approval_id)
            if changed != 1 or found is None:
                raise ApprovalStateError(refusal(found, now, fingerprint=fingerprint))
            return found

        used: ApprovalRequest = self._run("record the use of an approval", work)
        return used

    def find(self, fingerprint: str) -> ApprovalRequest | None:
        def work(db: sqlite3.Connection) -> ApprovalRequest | None:
            now = self._clock()
            row = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM approval_requests WHERE fingerprint = ? "  # noqa: S608 - fixed column names
                "AND status IN ('pending', 'approved') AND expires_at > ? ORDER BY created_at DESC LIMIT 1",
                (fingerprint, now),
            ).fetchone()
            return from_row(row, now) if row is not None else None

        found: ApprovalRequest | None = self._run("look up an approval", work)
        return found

    def latest(self, fingerprint: str) -> ApprovalRequest | None:
        def work(db: sqlite3.Connection) -> ApprovalRequest | None:
            row = db.execute(_SQ_LATEST, (fingerprint,)).fetchone()
            return from_row(row, self._clock()) if row is not None else None

        found: ApprovalRequest | None = self._run("look up an approval", work)
        return found

    def expire_due(self) -> Records:
        """Mark live records past their expiry `expired` for good; returns those this call marked (each
        by exactly one process, so each expiry is audited once)."""

        def work(db: sqlite3.Connection) -> Records:
            now = self._clock()
            rows = db.execute(
                f"UPDATE approval_requests SET status = 'expired' WHERE status IN ('pending', 'approved') "  # noqa: S608 - fixed column names
                f"AND expires_at <= ? RETURNING {', '.join(COLUMNS)}",
                (now,),
            ).fetchall()
            return [from_row(r, now) for r in rows]

        due: list[ApprovalRequest] = self._run("expire approvals", work)
        return due

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _status_filter(status: Status | None, now: float, mark: str) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause for `list(status=...)`, with expiry computed as reading does."""
    if status is None:
        return "", ()
    if status not in STATUSES:
        raise ApprovalStateError(f"unknown status {status!r}; one of: {', '.join(STATUSES)}")
    if status == "expired":
        return (
            f"WHERE status = 'expired' OR (status IN ('pending', 'approved') AND expires_at <= {mark})",
            (now,),
        )
    if status in LIVE:
        return f"WHERE status = {mark} AND expires_at > {mark}", (status, now)
    return f"WHERE status = {mark}", (status,)


def audit_fields(action: str, record: ApprovalRequest) -> dict[str, Any]:
    """The fields of the `approval` audit record for one step of a record's life: `action` is created,
    approved, denied, used or expired (docs/audit-format.md)."""
    detail: dict[str, Any] = {
        "action": action,
        "approval_id": record.id,
        "status": record.status,
        "approvers": list(record.approvers),
        "rules": list(record.rules),
        "policy_version": record.policy_version,
        "expires_at": _when(record.expires_at),
    }
    if record.decided_by is not None:
        detail["by"] = record.decided_by
    if record.decision_note:
        detail["note"] = record.decision_note
    if record.call_id is not None:
        detail["call_id"] = record.call_id
    fields: dict[str, Any] = {"agent": record.agent, "tool": record.tool, "detail": detail}
    if record.person_id is not None:
        person = {
            "box_user_id": record.person_id,
            "login": record.person_login,
            "client_id": record.client_id,
        }
        fields["person"] = {k: v for k, v in person.items() if v is not None}
    if record.session_id is not None:
        fields["session_id"] = record.session_id
    items = []
    for text in record.resources:
        access, _, ref = text.partition(" ")
        kind, _, item_id = ref.partition(":")
        if kind and item_id:
            items.append({"type": kind, "id": item_id, "access": access})
    if items:
        fields["items"] = items
    return fields


def create_private(path: Path) -> None:
    """Create the file 0600 before SQLite opens it, so no moment exists where it is world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
