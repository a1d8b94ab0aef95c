"""An audit record: its body checked by type (event.AuditEvent), the canonical encoding, the hash chain
and the HMAC seal, and record ids. The format on disk: docs/audit-format.md."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from pydantic import ValidationError

from box_mcp.errors import AuditError

from .event import AuditEvent, Kind
from .redact import Redactor, finite_or_tagged

FORMAT_VERSION = 1
GENESIS = "0" * 64
KINDS = frozenset(get_args(Kind))
# What a caller may pass to AuditLog.append; the log fills v, seq, id, time, kind, prev_hash, hash.
CALLER_FIELDS = frozenset(AuditEvent.model_fields) - {"kind"}
SEAL_KEYS = frozenset({"hash", "mac"})
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The one byte encoding that is hashed and written: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def record_hash(obj: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical encoding of `obj` without its `hash` and `mac` keys."""
    body = {k: v for k, v in obj.items() if k not in SEAL_KEYS}
    return hashlib.sha256(canonical(body)).hexdigest()


def record_mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def new_record_id(now_ns: int | None = None) -> str:
    """A ULID: 48-bit milliseconds then 80 random bits, 26 Crockford base-32 characters; ids sort by
    time (to the millisecond)."""
    ms = (now_ns if now_ns is not None else time.time_ns()) // 1_000_000
    # The 128 bits, padded with two zero bits to 130, as 13 ten-bit pairs of characters: what
    # base32-encoding the 16 bytes and translating to Crockford's alphabet gives, at a fifth of its cost.
    bits = (((ms & ((1 << 48) - 1)) << 80) | int.from_bytes(os.urandom(10), "big")) << 2
    return "".join([_PAIRS[(bits >> shift) & 0x3FF] for shift in _SHIFTS])


_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
_SHIFTS = tuple(range(120, -1, -10))
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


def build_body(kind: str, fields: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """The record body (everything but the chain fields) of `AuditLog.append(kind, **fields)`."""
    if kind not in KINDS:
        raise AuditError(f"unknown audit record kind {kind!r}; expected one of {', '.join(sorted(KINDS))}")
    try:
        event = AuditEvent.model_validate({**fields, "kind": kind})
    except ValidationError as exc:
        raise AuditError(_explain(kind, exc)) from None
    return event_body(event, redactor)


def event_body(event: AuditEvent, redactor: Redactor) -> dict[str, Any]:
    """The record body of an event already checked by type (AuditLog.record: no second validation)."""
    if event.kind == "outcome" and event.intent_id is None:
        raise AuditError("an outcome record needs the intent_id returned by AuditLog.intent()")
    return event.body(redactor)


def _explain(kind: str, exc: ValidationError) -> str:
    """What is wrong with the fields, naming fields only (their values may be an agent's data)."""
    errors = exc.errors(include_input=False, include_url=False)
    unknown = sorted(
        str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1
    )
    if unknown:
        return f"unknown audit fields {unknown}; allowed: {', '.join(sorted(CALLER_FIELDS))}"
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return f"invalid {kind} audit record: {problems}"


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` with everything canonical() cannot encode replaced: non-finite numbers tagged (redaction
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


def _insert(encoded: bytes, key: str, value: Any, field: bytes) -> bytes | None:
    """`encoded` (a canonical object) with `field` inserted just before its top-level `key`, whose
    value is `value`; None unless `"key":value` occurs exactly once (so it is the top-level one)."""
    if isinstance(value, str):
        anchor = b'"' + key.encode() + b'":' + canonical({"": value})[4:-1]
    else:  # a nested object or number: the key alone (JSON escapes every quote inside strings)
        anchor = b'"' + key.encode() + b'":'
    if encoded.count(anchor) != 1:
        return None
    at = encoded.index(anchor)
    return encoded[:at] + field + encoded[at:]


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
    def seal(
        cls, body: Mapping[str, Any], *, seq: int, prev_hash: str, now_ns: int, key: bytes | None = None
    ) -> AuditRecord:
        """Add the chain fields to `body`, hash it (and MAC it, given a key), and encode the line."""
        data = dict(body)
        data.update(
            v=FORMAT_VERSION,
            seq=seq,
            id=new_record_id(now_ns),
            time=utc_timestamp(now_ns),
            prev_hash=prev_hash,
        )
        # Encode once: the hashed bytes become the line by inserting "hash" just before "id", the
        # next key in sort order (no caller field sorts between them), and "mac" before the key that
        # follows it. Each place is found by its key and value, checked to occur once; the result is
        # canonical(data) with hash (and mac), and stays exactly that if a check ever fails.
        hashed = canonical(data)
        digest = hashlib.sha256(hashed).hexdigest()
        line: bytes | None = hashed
        if key is not None:
            mac = record_mac(key, digest)
            after = min(k for k in data if k > "mac")  # prev_hash at the latest: always there
            line = _insert(hashed, after, data[after], b'"mac":"' + mac.encode() + b'",')
            data["mac"] = mac
        if line is not None:
            line = _insert(line, "id", data["id"], b'"hash":"' + digest.encode() + b'",')
        data["hash"] = digest
        if line is None:  # cannot happen with the fields allowed today
            line = canonical(data)
        line += b"\n"
        return cls(
            seq=seq,
            id=data["id"],
            time=data["time"],
            kind=data["kind"],
            hash=digest,
            prev_hash=prev_hash,
            data=data,
            line=line,
        )

    @classmethod
    def from_line(cls, line: bytes) -> AuditRecord:
        """Parse one stored line (no integrity check: see verify)."""
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("a record line must hold a JSON object")
        return cls(
            seq=int(data["seq"]),
            id=str(data["id"]),
            time=str(data["time"]),
            kind=str(data["kind"]),
            hash=str(data["hash"]),
            prev_hash=str(data["prev_hash"]),
            data=data,
            line=line if line.endswith(b"\n") else line + b"\n",
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)
