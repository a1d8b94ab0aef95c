"""Downscoping: a base token exchanged for one that carries only a tool's scopes (and one item).

A `DownscopedSource` is the TokenSource for one (identity, scopes, resource). It caches the exchanged
token until shortly before it (or its parent) expires, renews single-flight, and after a 401 exchanges
again; if Box refuses the parent during the exchange, the parent is renewed once.
"""

from __future__ import annotations

import hmac
from dataclasses import replace

import anyio

from box_mcp.broker.session import DEFAULT_MARGIN, TokenSession
from box_mcp.broker.tokens import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    Token,
    TokenEndpoint,
    TokenRequestError,
)
from box_mcp.errors import BrokerError
from box_mcp.tools.scopes import DOWNSCOPE_SCOPES, Need

_PARENT_REFUSED = frozenset({"invalid_grant", "invalid_token", "unauthorized", "invalid_request_token"})


class ItemNotReachable(BrokerError):
    """Box would not bind a token to the item: it does not exist or the identity cannot see it (a 404)."""


def narrowing_scopes(need: Need) -> frozenset[str] | None:
    """The scopes a tool's token is exchanged down to, from its row of `box_mcp.tools.scopes.TABLE`
    (None: the call runs on the identity's base token)."""
    return need.scopes or None


def check_scopes(scopes: frozenset[str]) -> None:
    unknown = sorted(scopes - DOWNSCOPE_SCOPES)
    if unknown:
        raise BrokerError(
            f"cannot downscope to unknown Box scope(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(DOWNSCOPE_SCOPES))}"
        )


class DownscopedSource:
    """TokenSource for one (identity, scopes, resource): exchanges the identity's base token."""

    __slots__ = (
        "_base",
        "_clock",
        "_endpoint",
        "_lock",
        "_margin",
        "_token",
        "exchanges",
        "resource",
        "scopes",
    )

    def __init__(
        self,
        base: TokenSession,
        endpoint: TokenEndpoint,
        *,
        scopes: frozenset[str],
        resource: str | None,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        self._base = base
        self._endpoint = endpoint
        self._clock = endpoint.clock
        self._margin = margin
        self._token: Token | None = None
        self._lock = anyio.Lock()
        self.scopes = scopes
        self.resource = resource
        self.exchanges = 0

    def __repr__(self) -> str:
        scopes = sorted(self.scopes)
        return f"DownscopedSource({self._base.key!r}, scopes={scopes}, resource={self.resource!r})"

    async def access_token(self) -> str:
        token = self._token
        if token is not None and token.fresh_for(self._clock(), self._margin):
            return token.access_token
        return (await self._renew()).access_token

    async def invalidate(self, token: str) -> None:
        current = self._token
        if current is not None and hmac.compare_digest(current.access_token.encode(), token.encode()):
            self._token = None

    async def _renew(self) -> Token:
        async with self._lock:
            token = self._token
            if token is not None and token.fresh_for(self._clock(), self._margin):
                return token
            parent = await self._base.token()
            try:
                token = await self._exchange(parent)
            except TokenRequestError as exc:
                if exc.error == "invalid_resource" and self.resource is not None:
                    raise _not_reachable(self.resource) from None
                if exc.error not in _PARENT_REFUSED and exc.status != 401:
                    raise
                await self._base.invalidate(parent.access_token)  # the parent died early: renew it once
                parent = await self._base.token()
                token = await self._exchange(parent)
            # A child never outlives its parent, whatever Box says its lifetime is.
            token = replace(token, expires_at=min(token.expires_at, parent.expires_at), refresh_token=None)
            self._token = token
            self.exchanges += 1
            return token

    async def _exchange(self, parent: Token) -> Token:
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": parent.access_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "scope": " ".join(sorted(self.scopes)),
        }
        if self.resource is not None:
            form["resource"] = self.resource
        return await self._endpoint.request(form, what=f"downscoping to {' '.join(sorted(self.scopes))}")


def _not_reachable(resource: str) -> ItemNotReachable:
    plural, item_id = resource.rsplit("/", 2)[-2:]
    kind = {"files": "file", "folders": "folder", "web_links": "web link"}.get(plural, "item")
    return ItemNotReachable(
        f"Box says 404 not_found: there is no {kind} {item_id} that this agent's Box identity can reach. "
        "Check the id (list the parent folder or search to find it)."
    )
