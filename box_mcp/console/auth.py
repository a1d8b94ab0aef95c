"""Who is signed in to the console: sealed session cookies, CSRF tokens, admin-key checks, and the
limit on failed sign-ins.

A session is a small JSON object sealed with AES-GCM (the `cryptography` package) under a key derived
(HKDF-SHA256) from the deployment's request-state key, which every replica shares, so a session made
on one replica is good on all of them and nobody can read or forge it. It carries who signed in, how,
when it ends, and a random CSRF token that every POST form must echo. Each request re-checks the
session against the current policy: removing an admin key or a login from the policy signs them out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SESSION_COOKIE = "bmcp_console"
FLOW_COOKIE = "bmcp_console_flow"  # Box sign-in in flight: state and PKCE verifier, sealed
PRE_COOKIE = "bmcp_console_pre"  # the sign-in form's CSRF nonce
SESSION_SECONDS = 8 * 3600
FLOW_SECONDS = 600
_AAD = b"box-mcp console v1"

Kind = Literal["key", "box"]


def derive_key(secret: bytes, purpose: bytes = b"box-mcp console session") -> bytes:
    """A 32-byte key for one purpose from the deployment's request-state key (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class Sealer:
    """AES-GCM seal and open of small JSON objects, with a purpose bound in as associated data."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Sealer(<key>)"

    def seal(self, data: dict[str, Any], purpose: str) -> str:
        nonce = os.urandom(12)
        blob = self._aead.encrypt(
            nonce, json.dumps(data, separators=(",", ":")).encode(), _AAD + purpose.encode()
        )
        return base64.urlsafe_b64encode(nonce + blob).decode("ascii").rstrip("=")

    def open(self, text: str, purpose: str) -> dict[str, Any] | None:
        if not text or len(text) > 8192:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            plain = self._aead.decrypt(raw[:12], raw[12:], _AAD + purpose.encode())
            data = json.loads(plain)
        except (ValueError, InvalidTag):
            return None
        return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class Session:
    """A signed-in console user. `who` is what decisions record: `admin-key:<name>` or a Box login."""

    kind: Kind
    who: str
    csrf: str = field(repr=False)
    expires: float
    login: str | None = None  # Box sign-in: the login and user id Box gave
    user_id: str | None = None
    groups: tuple[str, ...] = ()
    key_digest: str | None = field(default=None, repr=False)  # admin key: the policy hash it matched
    admin: bool = False  # filled per request from the current policy

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "who": self.who,
            "csrf": self.csrf,
            "exp": self.expires,
            "login": self.login,
            "uid": self.user_id,
            "groups": list(self.groups),
            "kd": self.key_digest,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session | None:
        try:
            kind = data["kind"]
            if kind not in ("key", "box"):
                return None
            return cls(
                kind=kind,
                who=str(data["who"]),
                csrf=str(data["csrf"]),
                expires=float(data["exp"]),
                login=data.get("login"),
                user_id=data.get("uid"),
                groups=tuple(str(g) for g in data.get("groups") or ()),
                key_digest=data.get("kd"),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def new(cls, kind: Kind, who: str, **facts: Any) -> Session:
        return cls(
            kind=kind, who=who, csrf=secrets.token_urlsafe(32), expires=time.time() + SESSION_SECONDS, **facts
        )


def key_digest(api_key: str) -> str:
    return "sha256:" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def match_admin_key(given: str, keys: dict[str, str]) -> str | None:
    """The name of the admin key `given` is, or None. Every stored hash is compared in constant time
    (no early exit), so the time taken says nothing about which came close."""
    digest = key_digest(given.strip())
    found: str | None = None
    for name, stored in keys.items():
        if hmac.compare_digest(stored.encode(), digest.encode()):
            found = name
    return found


def tokens_equal(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


class FailureLimiter:
    """Failed sign-ins per client address (and for everyone together) in a sliding window, in this
    process: past the limit, sign-in answers 429 until the window moves on."""

    def __init__(
        self,
        *,
        per_client: int = 5,
        overall: int = 50,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client
        self.overall = overall
        self.window = window
        self._clock = clock
        self._by_client: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window:
            q.popleft()

    def blocked(self, client: str) -> float | None:
        """Seconds until `client` may try again, or None when it may now."""
        now = self._clock()
        with self._lock:
            q = self._by_client.get(client, deque())
            self._trim(q, now)
            self._trim(self._all, now)
            if len(q) >= self.per_client:
                return q[0] + self.window - now
            if len(self._all) >= self.overall:
                return self._all[0] + self.window - now
            return None

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._by_client) > 10_000:  # bounded memory under a spray of addresses
                self._by_client.clear()
            q = self._by_client.setdefault(client, deque())
            self._trim(q, now)
            q.append(now)
            self._all.append(now)
            self._trim(self._all, now)
