"""One identity's base token, kept alive: proactive and reactive refresh, single-flight, fail-fast.

`TokenSession` holds the single-flight logic; `MintingSession` mints again (developer token, CCG, JWT);
`UserGrantSession` refreshes a stored OAuth grant with Box's single-use rotation, storing the new
refresh token durably before the new access token is handed to anyone.

Busy or failing token requests (429, 5xx, connection errors) are retried inside `TokenEndpoint.request`;
what still fails here is reported and never kept: the next call asks Box again.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import anyio
import anyio.to_thread

from box_mcp.broker.credentials import Credential, DeveloperTokenExpired
from box_mcp.broker.tokens import (
    Clock,
    Token,
    TokenEndpoint,
    TokenEndpointUnavailable,
    TokenRequestError,
)
from box_mcp.broker.vault import GrantRecord, VaultConflict, VaultStore
from box_mcp.errors import BrokerError, NeedsSignIn, raised_again

DEFAULT_MARGIN = 120.0  # seconds before expiry at which a token counts as stale
REVIVE_INTERVAL = 5.0  # seconds between vault checks of a dead user grant
# Steps of one rotation, in order; the crash tests stop the process at each (`step_hook`).
ROTATION_STEPS = ("before_request", "after_response", "after_commit")


def login_hint(label: str) -> str:
    flag = "" if label == "default" else f" --user-label {label}"
    return f"box-mcp auth login{flag}"


class TokenSession:
    """Single-flight renewal of one base token. Subclasses say how to obtain a new one (`_obtain`)."""

    def __init__(self, *, key: str, clock: Clock, margin: float = DEFAULT_MARGIN) -> None:
        self.key = key
        self._clock = clock
        self._margin = margin
        self._token: Token | None = None
        self._rejected: str | None = None  # the last token Box refused: never adopt it again
        self._lock = anyio.Lock()
        self._dead: BrokerError | None = None
        self.renewals = 0  # how many times _obtain ran: the concurrency test and bench read it
        # on_event(kind, **fields): "broker" records for the audit (box_mcp.events); never a token.
        self.on_event: Callable[..., Any] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r}, renewals={self.renewals})"

    @property
    def dead(self) -> BrokerError | None:
        """The error every call gets once the identity cannot work without a person (None: healthy)."""
        if self._dead is not None and self._revived():
            self._dead = None
        return self._dead

    def _revived(self) -> bool:
        """Whether a dead identity works again (a person signed in meanwhile). Cheap; may be rate-limited."""
        return False

    async def token(self) -> Token:
        token = self._token
        if token is not None:
            now = self._clock()
            if token.fresh_for(now, self._margin):
                return token
            if self._lock.locked() and not token.expired(now):
                return token  # a proactive refresh is under way; the current token is still good
        return await self._renew()

    async def access_token(self) -> str:
        return (await self.token()).access_token

    async def invalidate(self, token: str) -> None:
        """Box refused `token` (a 401): the next call renews. Stale reports for older tokens are ignored,
        so a hundred 401s for the same token still cause one renewal."""
        current = self._token
        if current is not None and hmac.compare_digest(current.access_token.encode(), token.encode()):
            self._rejected = token
            self._token = None

    async def _renew(self) -> Token:
        if self.dead is not None:
            raise raised_again(self.dead)
        async with self._lock:
            dead = self.dead
            if dead is not None:
                raise raised_again(dead)
            token = self._token
            if token is not None and token.fresh_for(self._clock(), self._margin):
                return token  # another caller renewed while we waited
            action = "refresh" if self.renewals or self._rejected else "issue"
            try:
                # Shielded: once a refresh request is on the wire, a cancelled caller must not lose
                # the rotated refresh token that Box is about to send back.
                with anyio.CancelScope(shield=True):
                    fresh = await self._obtain()
            except (NeedsSignIn, DeveloperTokenExpired) as exc:
                self._dead = exc
                self._event("needs_sign_in", message=str(exc))
                raise
            except BrokerError as exc:
                self._event(f"{action}_failed", message=str(exc))
                raise
            self._token = fresh
            self.renewals += 1
            expires = fresh.expires_at
            self._event(action, expires_at=int(expires) if math.isfinite(expires) else None)
            return fresh

    def _event(self, event: str, **detail: Any) -> None:
        if self.on_event is not None:
            fields = {"event": event, "identity": self.key, **detail}
            self.on_event("broker", acting_as=self.key, detail=fields)

    async def _obtain(self) -> Token:
        raise NotImplementedError


class MintingSession(TokenSession):
    """Developer token, CCG or JWT: a new token is simply minted again.

    When Box refuses the credentials themselves (a 4xx from the token endpoint: wrong secret, bad key,
    app not authorized), calls fail fast with that error for `refusal_hold` seconds instead of
    sending Box one doomed token request per tool call. A 429 or a 5xx is no refusal (the endpoint has
    already retried it): it is never held, and the next call asks Box again.
    """

    def __init__(
        self,
        credential: Credential,
        endpoint: TokenEndpoint,
        *,
        key: str,
        margin: float = DEFAULT_MARGIN,
        refusal_hold: float = 30.0,
    ) -> None:
        super().__init__(key=key, clock=endpoint.clock, margin=margin)
        self.credential = credential
        self._endpoint = endpoint
        self._refusal_hold = refusal_hold
        self._refused: tuple[float, TokenRequestError] | None = None

    async def _obtain(self) -> Token:
        if self._refused is not None:
            until, error = self._refused
            if self._clock() < until:
                raise TokenRequestError(str(error), error=error.error, status=error.status)
            self._refused = None
        try:
            return await self.credential.mint(self._endpoint)
        except TokenRequestError as exc:
            if exc.refused:
                self._refused = (self._clock() + self._refusal_hold, exc)
            raise


class UserGrantSession(TokenSession):
    """A person's OAuth grant from the vault, refreshed with single-use refresh-token rotation.

    Stored by `box-mcp auth login` under `user:<label>`, or, for a person signed in through box-mcp's
    OAuth (remote sign-in), under `person:<Box user id>` (`person_id` given: then a missing or dead
    grant asks that person to reconnect through their MCP client, and NeedsSignIn names them)."""

    def __init__(
        self,
        *,
        label: str = "default",
        vault: VaultStore,
        endpoint: TokenEndpoint,
        client_id: str | None,
        client_secret: str | None,
        margin: float = DEFAULT_MARGIN,
        step_hook: Callable[[str], None] | None = None,
        person_id: str | None = None,
    ) -> None:
        key = f"person:{person_id}" if person_id is not None else f"user:{label}"
        super().__init__(key=key, clock=endpoint.clock, margin=margin)
        self.label = label
        self.person_id = person_id
        self._vault = vault
        self._endpoint = endpoint
        self._client_id = client_id
        self._client_secret = client_secret
        self._step = step_hook or (lambda step: None)
        self._dead_generation: int | None = None  # the stored generation that was found dead
        self._revive_checked = 0.0
        # (generation, how): a refresh of that stored generation may have reached Box and lost its answer
        self._lost: tuple[int, str] | None = None

    def _revived(self) -> bool:
        # A person may run `box-mcp auth login` while the server runs: look at the vault again, at most
        # every few seconds, so fail-fast stays fast and a new sign-in is picked up without a restart.
        now = self._clock()
        if now - self._revive_checked < REVIVE_INTERVAL:
            return False
        self._revive_checked = now
        record = self._vault.get(self.key)
        return record is not None and record.status == "ok" and record.generation != self._dead_generation

    def __repr__(self) -> str:
        return f"UserGrantSession({self.label!r}, renewals={self.renewals})"

    def _sign_in(self, why: str) -> NeedsSignIn:
        if self.person_id is not None:
            return NeedsSignIn(
                f"{why}; sign in to Box again through your MCP client (reconnect)", person_id=self.person_id
            )
        return NeedsSignIn(f"{why}; a person must sign in again: run `{login_hint(self.label)}`")

    async def _obtain(self) -> Token:
        # Other processes (replicas) may share this vault: the rotation lock makes their refreshes of one
        # grant take turns, and whoever comes second finds the fresh token the first one stored.
        lock = self._vault.rotation_lock(self.key)
        await anyio.to_thread.run_sync(lock.__enter__)
        try:
            return await self._obtain_locked()
        finally:
            lock.__exit__(None, None, None)

    async def _obtain_locked(self) -> Token:
        record = await anyio.to_thread.run_sync(self._vault.get, self.key)
        self._dead_generation = None if record is None else record.generation
        self._revive_checked = self._clock()
        if record is None:
            whose = f"user label {self.label!r}" if self.person_id is None else self.label
            raise self._sign_in(f"no Box sign-in is stored for {whose}")
        if record.status == "needs_sign_in":
            why = f"the Box sign-in for {self.label!r} stopped working ({record.status_detail})"
            raise self._sign_in(why)
        now = self._clock()
        stored = record.access_token
        rejected = (
            self._rejected is not None
            and stored is not None
            and hmac.compare_digest(stored.encode(), self._rejected.encode())
        )
        if stored and not rejected and now + self._margin < record.access_expires_at:
            # Fresh in the vault: written by our last run or by another process sharing the vault.
            return Token(access_token=stored, expires_at=record.access_expires_at)
        if not record.refresh_token:
            raise self._sign_in(f"the Box sign-in for {self.label!r} has no refresh token")
        client_id = self._client_id or record.client_id
        if not client_id or not self._client_secret:
            raise BrokerError(
                "refreshing a user's Box sign-in needs the OAuth app's client id and secret: "
                "set BOX_OAUTH_CLIENT_ID and BOX_OAUTH_CLIENT_SECRET"
            )
        return await self._rotate(record, client_id, self._client_secret)

    async def _rotate(self, record: GrantRecord, client_id: str, client_secret: str) -> Token:
        self._step("before_request")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": record.refresh_token or "",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        try:
            # The endpoint re-sends this refresh after a 5xx or a lost answer too: tokens.SINGLE_USE_GRANTS
            # tells why that cannot cost the grant anything it had not already lost.
            new = await self._endpoint.request(form, what=f"refreshing the sign-in of {self.label!r}")
        except TokenEndpointUnavailable as exc:
            self._note_lost(record, exc.after_lost)
            raise
        except TokenRequestError as exc:
            if exc.error != "invalid_grant":
                self._note_lost(record, exc.after_lost)
                raise
            detail = self._invalid_grant_detail(record, exc)
            dead = replace(record, status="needs_sign_in", status_detail=detail, access_token=None)
            try:  # never overwrite a grant that someone rotated or signed in again meanwhile
                stored = await anyio.to_thread.run_sync(
                    lambda: self._vault.put(dead, expect_generation=record.generation)
                )
                self._dead_generation = stored.generation
            except VaultConflict:
                raise BrokerError(
                    f"the Box sign-in for {self.label!r} changed while it was refreshed; retry the call"
                ) from None
            raise self._sign_in(f"the Box sign-in for {self.label!r} stopped working ({detail})") from None
        self._step("after_response")
        self._lost = None
        rotated = replace(
            record,
            access_token=new.access_token,
            access_expires_at=new.expires_at,
            refresh_token=new.refresh_token or record.refresh_token,
            status="ok",
            status_detail="",
        )
        # Durable before use: if we die after this line the vault already holds the new refresh token.
        await anyio.to_thread.run_sync(lambda: self._put(rotated, record.generation))
        self._step("after_commit")
        return new

    def _note_lost(self, record: GrantRecord, how: str | None) -> None:
        if how is not None:
            self._lost = (record.generation, how)

    def _invalid_grant_detail(self, record: GrantRecord, exc: TokenRequestError) -> str:
        """Why the grant died: a revocation, or (an attempt of this call or an earlier call's refresh of
        this very stored token reached Box and lost its answer) our own rotation whose answer was lost."""
        lost = exc.after_lost
        if lost is None and self._lost is not None and self._lost[0] == record.generation:
            lost = self._lost[1]
        if lost is None:
            return "Box answered invalid_grant: the grant was revoked, expired or its refresh token reused"
        return (
            f"Box answered invalid_grant after a refresh's answer was lost ({lost}): Box had used the "
            "refresh token, and the new one it issued never arrived"
        )

    def _put(self, record: GrantRecord, generation: int) -> None:
        try:
            self._vault.put(record, expect_generation=generation)
        except VaultConflict:
            # Someone rewrote the row meanwhile (a new login). Our tokens are the newest Box issued for
            # this chain; dropping them would lose a working grant, so store them anyway.
            self._vault.put(record, expect_generation=None)
