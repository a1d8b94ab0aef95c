"""Inbound API keys as an MCP SDK `TokenVerifier`: `Authorization: Bearer <key>` -> the agent it names.

The SDK's `BearerAuthBackend` calls the verifier and puts the result on the ASGI scope (`scope["user"]`),
`RequireAuthMiddleware` answers 401 without one, and the session manager binds each MCP session to the
principal that opened it (another key naming that session gets 404). A second verifier (OAuth access
tokens for remote connectors) plugs into the same seam.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from mcp.server.auth.provider import AccessToken

from box_mcp.identity import CallerToken

KeyLookup = Callable[[str], "str | None"]  # API key -> agent name (the policy engine's agent_for_key)


class APIKeyVerifier:
    """`TokenVerifier` over the policy's API-key hashes; follows policy reloads (asks on every request)."""

    def __init__(self, agent_for_key: KeyLookup) -> None:
        self._agent_for_key = agent_for_key

    def __repr__(self) -> str:
        return "APIKeyVerifier()"

    async def verify_token(self, token: str) -> AccessToken | None:
        key = token.strip()
        if not key:
            return None
        agent = self._agent_for_key(key)
        if agent is None:
            return None
        # The token field holds a digest, not the key: the access token object may be logged or shown.
        digest = "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        return CallerToken(token=digest, client_id=agent, scopes=[], agent=agent)
