"""Where the client's Box token comes from: the `TokenSource` protocol and a fixed developer token."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import SecretStr

__all__ = ["StaticToken", "TokenSource"]


@runtime_checkable
class TokenSource(Protocol):
    async def access_token(self) -> str: ...

    async def invalidate(self, token: str) -> None:
        """Called after a 401 with `token`; the next `access_token()` must not return it again."""
        ...


class StaticToken:
    """A developer token (or any fixed token): it cannot be refreshed, so a 401 is final."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("the Box token is empty: set a developer token from the Box Developer Console")
        self._token = SecretStr(token.strip())

    async def access_token(self) -> str:
        return self._token.get_secret_value()

    async def invalidate(self, token: str) -> None:
        return None

    def __repr__(self) -> str:
        return "StaticToken('**********')"
