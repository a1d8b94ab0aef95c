"""Remote sign-in's OAuth state on PostgreSQL: `OAuthStateStore` as the SQLite `OAuthStore` implements it,
shared by every replica with the same BOX_MCP_DATABASE_URL, so a sign-in may start on one replica and
finish on another, and a token issued by one works on all.

What several processes at once must not break, and how:
- single use (a code redeemed, a refresh token rotated, a consent answered, Box's answer taken) is a row
  lock (`SELECT ... FOR UPDATE`) or one conditional statement: the second of two racing replicas waits,
  then sees the first one's use, and is refused as a replay is (the family is revoked);
- the registration caps are counted under a transaction advisory lock, so they hold across replicas;
- the server secret (derived client secrets, the pages' CSRF and flow HMACs) is created once,
  `ON CONFLICT DO NOTHING`, then read back: every replica derives the same values.

Times are the processes' clocks (as in SQLite), so replicas' clocks must agree (NTP). Access-token
lookups are cached per process for `records.CACHE_SECONDS` (2 s): a revocation made through another
replica or the CLI reaches this one within that time. Every code and token is stored as its SHA-256 only.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from mcp.server.auth.provider import AuthorizationParams
from mcp.shared.auth import OAuthClientInformationFull
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from box_mcp.config import mask_url
from box_mcp.remote import records
from box_mcp.remote.records import (
    ACCESS_PREFIX,
    ACCESS_SECONDS,
    CODE_PREFIX,
    CODE_SECONDS,
    FAMILY_PREFIX,
    PENDING_SECONDS,
    REFRESH_PREFIX,
    TOUCH_SECONDS,
    AccessCache,
    ClientRecord,
    Clock,
    CodeRecord,
    IssuedTokens,
    NewPending,
    NewTokens,
    PendingAuthorization,
    PersonRecord,
    StoreError,
    TokenRecord,
    digest,
    new_id,
)
from box_mcp.state.database import DatabaseError, describe, open_pool

Conn = psycopg.Connection[tuple[Any, ...]]

# pg_advisory_xact_lock(int, int) namespace for "counting registrations" (the second int is 0).
REGISTRATION_LOCK_CLASS = 0x6F617574  # "oaut"

_PENDING = (
    "id_hash, purpose, client_id, client_name, redirect_uri, redirect_explicit, state, scopes,"
    " code_challenge, resource, person_id, created_at, expires_at, box_state_hash, box_verifier"
)
_TOKEN = (
    "SELECT t.family_id, t.expires_at, t.used_at, f.client_id, f.person_id, f.scopes, f.resource,"
    " f.revoked_at, f.created_at FROM oauth_tokens t JOIN oauth_families f ON f.id = t.family_id"
    " WHERE t.hash = %s AND t.kind = %s"
)


class PostgresOAuthStore:
    """`OAuthStateStore` on PostgreSQL; thread-safe (a connection pool), safe for several processes."""

    def __init__(self, url: SecretStr, *, access_ttl: int = ACCESS_SECONDS, clock: Clock = time.time) -> None:
        self._url = url
        self.access_ttl = access_ttl
        self._clock = clock
        self._pool: ConnectionPool = open_pool(url, name="box-mcp-oauth")
        try:
            self._secret = self._server_secret()
        except BaseException:
            self._pool.close()
            raise
        self._cache = AccessCache(clock)
        self._touched: dict[str, float] = {}

    @classmethod
    def open(
        cls, url: SecretStr, *, access_ttl: int = ACCESS_SECONDS, clock: Clock = time.time
    ) -> PostgresOAuthStore:
        return cls(url, access_ttl=access_ttl, clock=clock)

    def __repr__(self) -> str:
        return f"PostgresOAuthStore({mask_url(self._url.get_secret_value())!r})"

    @property
    def secret(self) -> bytes:
        return self._secret

    def close(self) -> None:
        self._pool.close()

    def _server_secret(self) -> bytes:
        with self._tx("create the server secret") as db:
            db.execute(
                "INSERT INTO oauth_meta (key, value) VALUES ('secret', %s) ON CONFLICT (key) DO NOTHING",
                (secrets.token_bytes(32),),
            )
            row = db.execute("SELECT value FROM oauth_meta WHERE key = 'secret'").fetchone()
        assert row is not None  # inserted, or there already
        return bytes(row[0])

    def _failed(self, what: str, exc: psycopg.Error) -> DatabaseError:
        return DatabaseError(
            f"the remote sign-in store could not {what}: {describe(self._url, exc)}; check that PostgreSQL "
            "is up, then retry"
        )

    @contextmanager
    def _tx(self, what: str) -> Iterator[Conn]:
        """One transaction. A refusal (StoreError) commits what it did first: a replay revokes its
        family, and that must stick although the caller is refused."""
        refusal: StoreError | None = None
        try:
            with self._pool.connection() as db, db.transaction():
                try:
                    yield db
                except StoreError as exc:
                    refusal = exc
        except psycopg.Error as exc:
            raise self._failed(what, exc) from None
        if refusal is not None:
            raise refusal

    def _one(self, what: str, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            with self._pool.connection() as db:
                return db.execute(sql.encode(), params).fetchone()
        except psycopg.Error as exc:
            raise self._failed(what, exc) from None

    def _all(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._pool.connection() as db:
                return db.execute(sql.encode(), params).fetchall()
        except psycopg.Error as exc:
            raise self._failed(what, exc) from None

    # -- clients ------------------------------------------------------------------------------------

    def client_secret_for(self, client_id: str) -> str:
        return records.derive_client_secret(self._secret, client_id)

    def _purge_clients(self, db: Conn, now: float) -> None:
        db.execute(
            "DELETE FROM oauth_clients WHERE (last_used_at IS NULL AND created_at < %s) OR last_used_at < %s",
            (now - records.UNUSED_CLIENT_SECONDS, now - records.IDLE_CLIENT_SECONDS),
        )
        db.execute(
            "DELETE FROM oauth_registrations WHERE at < %s", (now - records.REGISTRATION_WINDOW_SECONDS,)
        )

    def register_client(self, info: OAuthClientInformationFull) -> None:
        """Store a dynamically registered client (a confidential one's secret replaced by the derived one).
        The caps are counted under an advisory lock: two replicas cannot both take the last place."""
        now = self._clock()
        with self._tx("register a client") as db:
            db.execute("SELECT pg_advisory_xact_lock(%s, 0)", (REGISTRATION_LOCK_CLASS,))
            self._purge_clients(db, now)
            recent = db.execute("SELECT count(*) FROM oauth_registrations").fetchone()
            live = db.execute("SELECT count(*) FROM oauth_clients").fetchone()
            assert recent is not None and live is not None
            records.check_registration_caps(int(recent[0]), int(live[0]))
            stored = records.client_to_store(info, self._secret)
            db.execute(
                "INSERT INTO oauth_clients (client_id, info, created_at) VALUES (%s, %s, %s)",
                (info.client_id, Jsonb(stored), now),
            )
            db.execute("INSERT INTO oauth_registrations (at) VALUES (%s)", (now,))

    def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        now = self._clock()
        row = self._one(
            "read a client",
            "SELECT info, created_at, last_used_at FROM oauth_clients WHERE client_id = %s",
            (client_id,),
        )
        if row is None:
            return None
        info, created, used = row
        if records.client_expired(created, used, now):
            with self._tx("forget expired clients") as db:
                self._purge_clients(db, now)
            return None
        return records.client_from_store(dict(info), client_id, self._secret)

    def clients(self) -> list[ClientRecord]:
        rows = self._all(
            "list clients", "SELECT client_id, info, created_at, last_used_at FROM oauth_clients"
        )
        cimd = self._all(
            "list clients",
            "SELECT client_id, max(created_at) FROM oauth_families WHERE client_id LIKE 'http%%' "
            "GROUP BY client_id",
        )
        out = [records.dcr_client_record(c, dict(info), created, used) for c, info, created, used in rows]
        out += [records.cimd_client_record(client_id, last) for client_id, last in cimd]
        return sorted(out, key=lambda c: c.created_at)

    # -- pending sign-ins ---------------------------------------------------------------------------

    def begin_authorization(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        return self._begin(NewPending.authorize(client, params))

    def begin_connect(self, person_id: str) -> str:
        return self._begin(NewPending("connect", person_id=person_id))

    def _begin(self, new: NewPending) -> str:
        request_id = new_id()
        now = self._clock()
        with self._tx("store a pending sign-in") as db:
            db.execute("DELETE FROM oauth_pending WHERE expires_at < %s", (now,))
            db.execute(
                "INSERT INTO oauth_pending (id_hash, purpose, client_id, client_name, redirect_uri,"
                " redirect_explicit, state, scopes, code_challenge, resource, person_id, created_at,"
                " expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    digest(request_id),
                    new.purpose,
                    new.client_id,
                    new.client_name,
                    new.redirect_uri,
                    new.redirect_explicit,
                    new.state,
                    list(new.scopes),
                    new.code_challenge,
                    new.resource,
                    new.person_id,
                    now,
                    now + PENDING_SECONDS,
                ),
            )
        return request_id

    def _pending_row(self, row: tuple[Any, ...], request_id: str = "") -> PendingAuthorization | None:
        (_, purpose, client_id, name, redirect, explicit, state, scopes, challenge, resource, person) = row[
            :11
        ]
        created, expires, _, verifier = row[11:]
        if float(expires) < self._clock():
            return None
        return PendingAuthorization(
            request_id=request_id,
            purpose=purpose,
            client_id=str(client_id),
            client_name=name,
            redirect_uri=str(redirect),
            redirect_uri_provided_explicitly=bool(explicit),
            state=state,
            scopes=tuple(scopes),
            code_challenge=str(challenge),
            resource=resource,
            created_at=float(created),
            expires_at=float(expires),
            person_id=person,
            box_state=None,
            box_verifier=verifier,
        )

    def pending(self, request_id: str) -> PendingAuthorization | None:
        """The request, unless unknown, expired, or already consented to (a form is answered once)."""
        row = self._one(
            "read a pending sign-in",
            f"SELECT {_PENDING} FROM oauth_pending WHERE id_hash = %s",  # noqa: S608 - constant columns
            (digest(request_id),),
        )
        if row is None or row[13] is not None:
            return None
        return self._pending_row(row, request_id)

    def consent(self, request_id: str, *, box_state: str, box_verifier: str) -> bool:
        """Record the consent and the Box sign-in it starts, once: one conditional UPDATE, so of two
        answers racing on two replicas exactly one gets True."""
        with self._tx("record a consent") as db:
            changed = db.execute(
                "UPDATE oauth_pending SET box_state_hash = %s, box_verifier = %s "
                "WHERE id_hash = %s AND box_state_hash IS NULL AND expires_at >= %s",
                (digest(box_state), box_verifier, digest(request_id), self._clock()),
            ).rowcount
        return changed == 1

    def take_by_box_state(self, box_state: str) -> PendingAuthorization | None:
        """The consented request Box's answer belongs to, once (DELETE ... RETURNING: one taker)."""
        with self._tx("take a pending sign-in") as db:
            row = db.execute(
                f"DELETE FROM oauth_pending WHERE box_state_hash = %s RETURNING {_PENDING}",  # noqa: S608
                (digest(box_state),),
            ).fetchone()
        return None if row is None else self._pending_row(row)

    # -- codes and tokens ---------------------------------------------------------------------------

    def issue_code(self, pending: PendingAuthorization, *, person_id: str) -> str:
        code = new_id(CODE_PREFIX)
        with self._tx("store an authorization code") as db:
            db.execute(
                "INSERT INTO oauth_codes (code_hash, client_id, person_id, redirect_uri, redirect_explicit,"
                " code_challenge, resource, scopes, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    digest(code),
                    pending.client_id,
                    person_id,
                    pending.redirect_uri,
                    pending.redirect_uri_provided_explicitly,
                    pending.code_challenge,
                    pending.resource,
                    list(pending.scopes),
                    self._clock() + CODE_SECONDS,
                ),
            )
        return code

    def load_code(self, code: str) -> CodeRecord | None:
        row = self._one(
            "read an authorization code",
            "SELECT client_id, person_id, redirect_uri, redirect_explicit, code_challenge, resource, scopes,"
            " expires_at FROM oauth_codes WHERE code_hash = %s",
            (digest(code),),
        )
        if row is None:
            return None
        return CodeRecord(row[0], row[1], row[2], bool(row[3]), row[4], row[5], tuple(row[6]), float(row[7]))

    def redeem_code(self, code: str) -> IssuedTokens:
        """Exchange a code once (RFC 6749 §10.5: a second exchange fails and revokes what the first gave).
        The code's row is locked: a second replica redeeming it at the same moment waits for the first
        one's commit, then finds it used."""
        now = self._clock()
        with self._tx("redeem an authorization code") as db:
            row = db.execute(
                "SELECT client_id, person_id, resource, scopes, expires_at, used_at, family_id "
                "FROM oauth_codes WHERE code_hash = %s FOR UPDATE",
                (digest(code),),
            ).fetchone()
            if row is None:
                raise StoreError(records.CODE_UNKNOWN)
            client_id, person_id, resource, scopes, expires_at, used_at, family_id = row
            if used_at is not None:
                if family_id:
                    self._revoke_family(db, family_id, records.WHY_CODE_REPLAYED, now)
                raise StoreError(records.CODE_REPLAYED)
            if expires_at < now:
                raise StoreError(records.CODE_EXPIRED)
            family = new_id(FAMILY_PREFIX)
            db.execute(
                "UPDATE oauth_codes SET used_at = %s, family_id = %s WHERE code_hash = %s",
                (now, family, digest(code)),
            )
            db.execute(
                "INSERT INTO oauth_families (id, client_id, person_id, resource, scopes, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (family, client_id, person_id, resource, scopes, now),
            )
            self._used_client(db, client_id, now)
            return self._mint(db, family, now, tuple(scopes), now)

    def _used_client(self, db: Conn, client_id: str, now: float) -> None:
        db.execute("UPDATE oauth_clients SET last_used_at = %s WHERE client_id = %s", (now, client_id))

    def _mint(self, db: Conn, family: str, born: float, scopes: tuple[str, ...], now: float) -> IssuedTokens:
        new = NewTokens.mint(now, born, self.access_ttl)
        db.execute(
            "INSERT INTO oauth_tokens (hash, family_id, kind, created_at, expires_at) VALUES"
            " (%s, %s, 'access', %s, %s), (%s, %s, 'refresh', %s, %s)",
            (
                digest(new.access),
                family,
                now,
                new.access_expires_at,
                digest(new.refresh),
                family,
                now,
                new.refresh_expires_at,
            ),
        )
        return new.issued(self.access_ttl, scopes)

    def _record(self, row: tuple[Any, ...]) -> TokenRecord:
        family, expires, _, client_id, person_id, scopes, resource = row[:7]
        return TokenRecord(
            str(client_id), str(person_id), tuple(scopes), resource, float(expires), str(family)
        )

    def load_refresh(self, token: str) -> TokenRecord | None:
        """The refresh token's grant, or None when unknown or revoked (a used one still loads: its reuse is
        detected, and punished, by `rotate_refresh`)."""
        if not token.startswith(REFRESH_PREFIX):
            return None
        row = self._one("read a refresh token", _TOKEN, (digest(token), "refresh"))
        if row is None or row[7] is not None:
            return None
        return self._record(row)

    def rotate_refresh(self, token: str, scopes: tuple[str, ...]) -> IssuedTokens:
        """A new access and refresh token for a refresh token, used once; reuse revokes the whole family
        (OAuth 2.1 §4.3.1). The token's row is locked: of two replicas rotating it at once, one rotates
        and the other, seeing it used, revokes the family."""
        now = self._clock()
        with self._tx("rotate a refresh token") as db:
            row = db.execute(_TOKEN + " FOR UPDATE OF t", (digest(token), "refresh")).fetchone()
            if row is None or row[7] is not None:
                raise StoreError(records.REFRESH_UNKNOWN)
            family, expires, used, client_id, born = row[0], row[1], row[2], row[3], row[8]
            if used is not None:
                self._revoke_family(db, family, records.WHY_REFRESH_REUSED, now)
                raise StoreError(records.REFRESH_REUSED)
            if expires < now:
                raise StoreError(records.REFRESH_EXPIRED)
            db.execute("UPDATE oauth_tokens SET used_at = %s WHERE hash = %s", (now, digest(token)))
            self._used_client(db, client_id, now)
            return self._mint(db, family, float(born), scopes, now)

    def load_access(self, token: str) -> TokenRecord | None:
        """The access token's grant; None when unknown, expired or revoked. Cached in this process for
        CACHE_SECONDS: a revocation through another replica reaches this one within 2 s."""
        if not token.startswith(ACCESS_PREFIX):
            return None
        key = digest(token)
        now = self._clock()
        known, cached = self._cache.get(key, now)
        if known:
            return cached
        row = self._one("read an access token", _TOKEN, (key, "access"))
        if row is None or row[7] is not None or float(row[1]) < now:
            return None
        record = self._record(row)
        self._cache.put(key, record, now)
        return record

    def _revoke_family(self, db: Conn, family: str, why: str, now: float) -> None:
        db.execute(
            "UPDATE oauth_families SET revoked_at = %s, revoked_why = %s"
            " WHERE id = %s AND revoked_at IS NULL",
            (now, why, family),
        )
        self._cache.drop_family(family)

    def revoke_token(self, token: str) -> bool:
        """Revoke the family of an access or refresh token (the sign-in it came from). False if unknown."""
        now = self._clock()
        with self._tx("revoke a token") as db:
            row = db.execute(
                "SELECT family_id FROM oauth_tokens WHERE hash = %s", (digest(token),)
            ).fetchone()
            if row is None:
                return False
            self._revoke_family(db, row[0], records.WHY_CLIENT_REVOKED_TOKEN, now)
        return True

    def _revoke_where(self, column: str, value: str, why: str) -> int:
        now = self._clock()
        with self._tx("revoke sign-ins") as db:
            rows = db.execute(
                f"UPDATE oauth_families SET revoked_at = %s, revoked_why = %s "  # noqa: S608 - column is ours
                f"WHERE {column} = %s AND revoked_at IS NULL RETURNING id",
                (now, why, value),
            ).fetchall()
        for (family,) in rows:
            self._cache.drop_family(family)
        return len(rows)

    def revoke_person(self, person_id: str) -> int:
        return self._revoke_where("person_id", person_id, records.WHY_PERSON_SIGNED_OUT)

    def revoke_client(self, client_id: str) -> int:
        return self._revoke_where("client_id", client_id, records.WHY_CLIENT_REVOKED)

    # -- people -------------------------------------------------------------------------------------

    def upsert_person(
        self, box_user_id: str, login: str | None, name: str | None, groups: tuple[str, ...]
    ) -> None:
        now = self._clock()
        with self._tx("store a person") as db:
            db.execute(
                "INSERT INTO oauth_people (box_user_id, login, name, group_ids, first_seen, last_seen) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (box_user_id) DO UPDATE SET "
                "login = excluded.login, name = excluded.name, group_ids = excluded.group_ids, "
                "last_seen = excluded.last_seen",
                (box_user_id, login, name, list(groups), now, now),
            )

    _PERSON = "SELECT box_user_id, login, name, group_ids, first_seen, last_seen FROM oauth_people"

    def _person_row(self, row: tuple[Any, ...], clients: tuple[str, ...] = ()) -> PersonRecord:
        return PersonRecord(str(row[0]), row[1], row[2], tuple(row[3]), float(row[4]), float(row[5]), clients)

    def person(self, box_user_id: str) -> PersonRecord | None:
        row = self._one("read a person", self._PERSON + " WHERE box_user_id = %s", (box_user_id,))
        return None if row is None else self._person_row(row)

    def people(self) -> list[PersonRecord]:
        now = self._clock()
        rows = self._all("list people", self._PERSON + " ORDER BY last_seen DESC")
        live = self._all(
            "list people",
            "SELECT DISTINCT f.person_id, f.client_id FROM oauth_families f JOIN oauth_tokens t ON "
            "t.family_id = f.id WHERE f.revoked_at IS NULL AND t.kind = 'refresh' AND t.used_at IS NULL "
            "AND t.expires_at >= %s",
            (now,),
        )
        by_person: dict[str, list[str]] = {}
        for person_id, client_id in live:
            by_person.setdefault(person_id, []).append(client_id)
        return [self._person_row(r, tuple(sorted(by_person.get(str(r[0]), [])))) for r in rows]

    def touch_person(self, box_user_id: str) -> None:
        """last_seen, written at most once a minute per person by this process (each replica its own)."""
        now = self._clock()
        if now - self._touched.get(box_user_id, 0.0) < TOUCH_SECONDS:
            return
        self._touched[box_user_id] = now
        with self._tx("note a person's visit") as db:
            db.execute(
                "UPDATE oauth_people SET last_seen = greatest(last_seen, %s) WHERE box_user_id = %s",
                (now, box_user_id),
            )

    def forget_person(self, box_user_id: str) -> bool:
        with self._tx("forget a person") as db:
            return db.execute("DELETE FROM oauth_people WHERE box_user_id = %s", (box_user_id,)).rowcount == 1


__all__ = ["PostgresOAuthStore"]
