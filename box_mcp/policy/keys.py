"""Agent API keys: minted here, shown once, kept in a policy only as `sha256:<hex>` (agent_for_key)."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "bmcp_"


def key_hash(key: str) -> str:
    """The form a policy stores a key in."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def mint_key() -> tuple[str, str]:
    """(a new API key, its hash for the policy file). 256 bits from the OS's CSPRNG."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key_hash(key)
