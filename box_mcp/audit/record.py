"""The audit record: its fields, how caller values are normalised into them, and the hash chain encoding.

One record is one JSON object on one line. Keys whose value is None are left out. `hash` is the SHA-256
(hex) of the canonical encoding (sorted keys, no whitespace, UTF-8) of the record without `hash`;
`prev_hash` is the previous record's `hash`, or GENESIS for the first record ever written.
With a key, `mac` = HMAC-SHA256(key, hash) seals each record too: anyone can check the chain, but only
the key holder can extend it, so a well-formed forged record is caught by `verify --key-file`.

Which kind for what (the gate's contract):
  call           one tool call that sends no write to Box: a read, a denial, an invalid call
  intent         written and durable *before* a write is sent to Box; `outcome` follows it
  outcome        the result of an intent (`intent_id` names it)
  session_start / session_end / tools_list / policy_load / policy_reload / broker    (`detail` says more)
  log_recovery   written by the log itself when it found a torn last line from a crash (see log.py)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from box_mcp.access import ItemRef, ResourceUse
from box_mcp.errors import AuditError

from .redact import Redactor, finite_or_tagged, redact_string

FORMAT_VERSION = 1
GENESIS = "0" * 64
KINDS = frozenset(
    {
        "call",
        "intent",
        "outcome",
        "session_start",
        "session_end",
        "tools_list",
        "policy_load",
        "policy_reload",
        "broker",
        "log_recovery",
    }
)
# Fields a caller may pass to AuditLog.append; the log fills v, seq, id, time, kind, prev_hash, hash.
CALLER_FIELDS = frozenset(
    {
        "agent",
        "session_id",
        "client_name",
        "client_version",
        "acting_as",
        "tool",
        "args",
        "items",
        "decision",
        "outcome",
        "intent_id",
        "latency_ms",
        "bytes_in",
        "bytes_out",
        "detail",
    }
)
ITEM_KEYS = ("type", "id", "name", "parent_path", "role", "access")
OUTCOME_KEYS = ("status", "error_code", "http_status", "request_id", "message")

SEAL_KEYS = frozenset({"hash", "mac"})
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The one byte encoding that is hashed and written: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def record_hash(obj: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical encoding of `obj` without its `hash` and `mac` keys."""
    body = {k: v for k, v in obj.items() if k not in SEAL_KEYS}
    return hashlib.sha256(canonical(body)).hexdigest()


def record_mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def new_record_id(now_ns: int | None = None) -> str:
    """A ULID-like id: 48-bit milliseconds then 80 random bits, 26 Crockford base-32 characters.

    Sorting ids sorts them by time (to the millisecond), which makes them pleasant in logs and URLs.
    """
    global _entropy
    ms = (now_ns if now_ns is not None else time.time_ns()) // 1_000_000
    if len(_entropy) < 10:  # one getrandom call per 400 ids: it costs as much as the rest of the id
        _entropy = os.urandom(4000)
    rand, _entropy = _entropy[:10], _entropy[10:]
    raw = (ms & ((1 << 48) - 1)).to_bytes(6, "big") + rand
    return base64.b32encode(raw).decode("ascii")[:26].translate(_TO_CROCKFORD)


_entropy = b""


def _forget_entropy() -> None:
    global _entropy
    _entropy = b""  # a forked child must not reuse its parent's random bytes (duplicate ids)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_entropy)


_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)
_second_cache: tuple[int, str] = (-1, "")


def utc_timestamp(now_ns: int) -> str:
    """UTC ISO-8601 with microseconds and a Z: 2026-11-23T13:19:55.123456Z."""
    global _second_cache
    seconds, nanos = divmod(now_ns, 1_000_000_000)
    cached_second, prefix = _second_cache
    if cached_second != seconds:  # formatting the date is the slow part; it changes once a second
        prefix = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_cache = (seconds, prefix)
    return f"{prefix}.{nanos // 1000:06d}Z"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    return str(value)


def _item(value: Any) -> dict[str, Any]:
    if isinstance(value, ResourceUse):
        return {"type": value.item.type, "id": value.item.id, "access": str(value.access), "role": value.role}
    if isinstance(value, ItemRef):
        return {"type": value.type, "id": value.id}
    if isinstance(value, Mapping):
        out = {k: redact_string(str(_text(value[k]))) for k in ITEM_KEYS if value.get(k) is not None}
        if "id" not in out:
            raise AuditError(f"audit item {sorted(value)!r} has no 'id'; pass type and id of the Box item")
        return out
    raise AuditError(f"audit items must be ItemRef, ResourceUse or mappings, not {type(value).__name__}")


def normalise_items(items: Iterable[Any]) -> list[dict[str, Any]]:
    return [_item(v) for v in items]


def normalise_decision(decision: Any) -> dict[str, Any]:
    """Accepts a mapping or any object with `effect`, `rule_ids`/`rules` and `sentence`/`reason`."""
    def pick(*names: str) -> Any:
        for name in names:
            if isinstance(decision, Mapping):
                if decision.get(name) is not None:
                    return decision[name]
            elif getattr(decision, name, None) is not None:
                return getattr(decision, name)
        return None

    effect = _text(pick("effect"))
    if effect is None:
        raise AuditError("an audit decision needs an 'effect' (allow, deny, approval_required, ...)")
    rules = pick("rule_ids", "rules") or ()
    if isinstance(rules, str):
        rules = (rules,)
    out: dict[str, Any] = {"effect": effect, "rules": [str(_text(r)) for r in rules]}
    sentence = pick("sentence", "reason")
    if sentence is not None:
        out["sentence"] = redact_string(str(sentence), max_chars=1024)
    return out


def normalise_outcome(outcome: Any) -> dict[str, Any]:
    """"ok", or a mapping with status, error_code, http_status, request_id and message."""
    if isinstance(outcome, str):
        return {"status": outcome}
    if not isinstance(outcome, Mapping):
        raise AuditError(f"an audit outcome must be a string or a mapping, not {type(outcome).__name__}")
    unknown = set(outcome) - set(OUTCOME_KEYS)
    if unknown:
        raise AuditError(f"unknown audit outcome keys {sorted(unknown)}; allowed: {', '.join(OUTCOME_KEYS)}")
    out: dict[str, Any] = {}
    for key in OUTCOME_KEYS:
        value = outcome.get(key)
        if value is None:
            continue
        if key == "http_status":
            out[key] = int(value)
        else:
            out[key] = redact_string(str(_text(value)), max_chars=1024)
    out.setdefault("status", "error" if "error_code" in out or "http_status" in out else "ok")
    return out


def build_body(kind: str, fields: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """Check and normalise caller fields into the record body (everything but the chain fields)."""
    if kind not in KINDS:
        raise AuditError(f"unknown audit record kind {kind!r}; expected one of {', '.join(sorted(KINDS))}")
    unknown = set(fields) - CALLER_FIELDS
    if unknown:
        allowed = ", ".join(sorted(CALLER_FIELDS))
        raise AuditError(f"unknown audit fields {sorted(unknown)}; allowed: {allowed}")
    body: dict[str, Any] = {"kind": kind}
    for name, value in fields.items():
        if value is None:
            continue
        if name == "args" or name == "detail":
            body[name] = redactor(value)
        elif name == "acting_as":
            body[name] = redactor(value) if isinstance(value, Mapping) else redact_string(str(value))
        elif name == "items":
            body[name] = normalise_items(value)
        elif name == "decision":
            body[name] = normalise_decision(value)
        elif name == "outcome":
            body[name] = normalise_outcome(value)
        elif name == "latency_ms":
            body[name] = finite_or_tagged(round(float(value), 3))
        elif name in ("bytes_in", "bytes_out"):
            body[name] = int(value)
        else:
            body[name] = redact_string(str(_text(value)))
    if kind == "outcome" and "intent_id" not in body:
        raise AuditError("an outcome record needs the intent_id returned by AuditLog.intent()")
    return body


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` with everything canonical() cannot encode replaced: non-finite numbers tagged (redact.py
    rule 5), keys made strings, other objects by their type name. The writer's fallback for a body that
    would not encode, so one bad record is still recorded and never stops the log."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):  # a lone surrogate cannot be encoded as UTF-8
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int):
        return value if value.bit_length() < 8192 else {"$bigint": f"{value.bit_length()} bits"}
    if isinstance(value, float):
        return finite_or_tagged(value)
    if depth >= 32:
        return "[too deep]"
    if isinstance(value, Mapping):
        return {json_safe(str(k)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return {"$unencodable": type(value).__name__}


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One written record. `data` is exactly what is on disk (parsed); `line` its bytes with newline."""

    seq: int
    id: str
    time: str
    kind: str
    hash: str
    prev_hash: str
    data: Mapping[str, Any] = field(repr=False)
    line: bytes = field(repr=False, compare=False)

    @classmethod
    def seal(cls, body: Mapping[str, Any], *, seq: int, prev_hash: str, now_ns: int,
             key: bytes | None = None) -> AuditRecord:
        """Add the chain fields to `body`, hash it (and MAC it, given a key), and encode the line."""
        data = dict(body)
        data.update(v=FORMAT_VERSION, seq=seq, id=new_record_id(now_ns), time=utc_timestamp(now_ns),
                    prev_hash=prev_hash)
        # Encode once: the hashed bytes become the line by inserting "hash" just before "id", the
        # next key in sort order (no caller field sorts between them). The fresh id is found by its
        # value, which nothing else in the record can hold; the result is canonical(data with hash).
        hashed = canonical(data)
        digest = hashlib.sha256(hashed).hexdigest()
        data["hash"] = digest
        id_key = b'"id":"' + data["id"].encode() + b'"'
        at = hashed.find(b"," + id_key) + 1 or 1  # 1: "id" is the first key
        if key is not None:
            data["mac"] = record_mac(key, digest)
            line = canonical(data) + b"\n"
        elif hashed.count(id_key) == 1 and hashed[at:at + len(id_key)] == id_key:
            line = hashed[:at] + b'"hash":"' + digest.encode() + b'",' + hashed[at:] + b"\n"
        else:  # cannot happen with the fields allowed today; stay canonical if it ever does
            line = canonical(data) + b"\n"
        return cls(seq=seq, id=data["id"], time=data["time"], kind=data["kind"], hash=digest,
                   prev_hash=prev_hash, data=data, line=line)

    @classmethod
    def from_line(cls, line: bytes) -> AuditRecord:
        """Parse one stored line (no integrity check: see verify)."""
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("a record line must hold a JSON object")
        return cls(seq=int(data["seq"]), id=str(data["id"]), time=str(data["time"]), kind=str(data["kind"]),
                   hash=str(data["hash"]), prev_hash=str(data["prev_hash"]), data=data,
                   line=line if line.endswith(b"\n") else line + b"\n")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)
