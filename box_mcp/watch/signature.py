"""Box webhook signatures: base64(HMAC-SHA256(key, body + BOX-DELIVERY-TIMESTAMP)) in
BOX-SIGNATURE-PRIMARY (the app's primary key) and BOX-SIGNATURE-SECONDARY (its secondary key).

Any configured key matching either signature is enough, so rotating a key in the developer console
(one key at a time) never drops a delivery. A delivery stamped more than MAX_AGE ago, or more than
MAX_FUTURE ahead of this clock, is refused: a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

MAX_AGE = 600.0  # seconds: Box's own advice (and its SDK's validate_message default)
MAX_FUTURE = 60.0  # seconds of clock skew tolerated in the other direction
MAX_HEADER = 256  # characters: a signature is 44, a timestamp 25; anything longer is not Box's

Reason = Literal[
    "no_timestamp", "bad_timestamp", "stale", "future", "no_signature", "bad_signature", "unsupported"
]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a delivery is Box's: `ok`, else `reason` (a word for the audit) and `message` (for Box)."""

    ok: bool
    reason: Reason | None = None
    message: str = ""
    key: Literal["primary", "secondary"] | None = None  # which signature header matched


def sign(key: bytes, body: bytes, timestamp: str) -> str:
    """The signature Box puts in a header for `body` sent at `timestamp` (what verify compares)."""
    return base64.b64encode(hmac.new(key, body + timestamp.encode(), hashlib.sha256).digest()).decode()


def _refuse(reason: Reason, message: str) -> Verdict:
    return Verdict(False, reason, message)


def verify(
    body: bytes,
    headers: Mapping[str, str],
    keys: Sequence[bytes],
    *,
    clock: Callable[[], float] = time.time,
) -> Verdict:
    """Check one delivery's timestamp and signatures against `keys` (the primary and/or secondary key).

    `headers` is case-insensitive (Starlette's Headers) or lower-cased. Every comparison is constant-time
    and every key is tried against every signature, so timing tells nothing about which one failed."""
    stamp = headers.get("box-delivery-timestamp")
    if not stamp:
        return _refuse("no_timestamp", "BOX-DELIVERY-TIMESTAMP is missing")
    if len(stamp) > MAX_HEADER:
        return _refuse("bad_timestamp", "BOX-DELIVERY-TIMESTAMP is not a timestamp")
    try:
        sent = datetime.fromisoformat(stamp)
    except ValueError:
        return _refuse("bad_timestamp", "BOX-DELIVERY-TIMESTAMP is not an ISO 8601 timestamp")
    if sent.tzinfo is None:
        return _refuse("bad_timestamp", "BOX-DELIVERY-TIMESTAMP has no time zone")
    age = clock() - sent.timestamp()
    if age > MAX_AGE:
        return _refuse("stale", f"the delivery is {age:.0f} s old (at most {MAX_AGE:.0f} s is accepted)")
    if age < -MAX_FUTURE:
        return _refuse("future", f"the delivery is stamped {-age:.0f} s in the future")
    version = headers.get("box-signature-version")
    algorithm = headers.get("box-signature-algorithm")
    if (version is not None and version != "1") or (algorithm is not None and algorithm != "HmacSHA256"):
        return _refuse("unsupported", "only BOX-SIGNATURE-VERSION 1 with HmacSHA256 is understood")
    given = {
        name: value
        for name in ("primary", "secondary")
        if (value := headers.get(f"box-signature-{name}")) and len(value) <= MAX_HEADER
    }
    if not given:
        return _refuse("no_signature", "BOX-SIGNATURE-PRIMARY and BOX-SIGNATURE-SECONDARY are missing")
    matched: Literal["primary", "secondary"] | None = None
    for key in keys:
        expected = sign(key, body, stamp).encode()
        for name, value in given.items():
            if hmac.compare_digest(expected, value.encode("utf-8", "replace")) and matched is None:
                matched = "primary" if name == "primary" else "secondary"
    if matched is None:
        return _refuse("bad_signature", "no signature matches the configured webhook keys")
    return Verdict(True, key=matched)
