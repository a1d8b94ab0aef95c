"""What box-mcp's OAuth server remembers: clients, pending sign-ins, codes, token families, people.

One SQLite file in the data dir (`oauth.sqlite3`, 0600, WAL). Every code and token is stored only as its
SHA-256 (a stolen database names no usable credential); the request ids in consent and connect links
likewise. The one value kept in clear is Box's PKCE verifier of a sign-in in flight (ten minutes at most,
deleted when Box's answer arrives): it is worthless without Box's code, which only box-mcp's callback
receives. Client secrets of confidential registered clients are not stored at all: each is derived
from the server secret and the client id (HMAC), so the database cannot give one away.

`OAuthStateStore` (in `records`, with the rules both implementations keep) is the interface the provider,
pages and verifier use; `box_mcp.state.oauth.PostgresOAuthStore` is the one for several replicas, and
`open_store` picks between them. Methods are synchronous and short (a few indexed statements); callers
may run them on the event loop.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp.server.auth.provider import AuthorizationParams
from mcp.shared.auth import OAuthClientInformationFull

from box_mcp.broker.vault import _create_private
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
    OAuthStateStore,
    PendingAuthorization,
    PersonRecord,
    StoreError,
    TokenRecord,
    digest,
    new_id,
)

if TYPE_CHECKING:
    from box_mcp.config import Settings

STORE_FILE = "oauth.sqlite3"
SCHEMA_VERSION = 1


def open_store(settings: Settings, *, clock: Clock = time.time) -> OAuthStateStore:
    """The OAuth store `settings` name: PostgreSQL when BOX_MCP_DATABASE_URL is set (shared by every
    replica on that database), else the SQLite file in the data dir."""
    if settings.database_url is not None:
        from box_mcp.state.oauth import PostgresOAuthStore  # psycopg only for a deployment that uses it

        return PostgresOAuthStore.open(
            settings.database_url, access_ttl=settings.oauth_access_ttl, clock=clock
        )
    return OAuthStore.open(settings.data_dir, access_ttl=settings.oauth_access_ttl, clock=clock)


def store_exists(settings: Settings) -> bool:
    """Whether remote sign-in may have state to show or revoke (status and logout create no empty file)."""
    return settings.database_url is not None or (settings.data_dir / STORE_FILE).exists()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, info TEXT NOT NULL, created_at REAL NOT NULL, last_used_at REAL
);
CREATE TABLE IF NOT EXISTS pending (
    id_hash TEXT PRIMARY KEY, purpose TEXT NOT NULL, client_id TEXT NOT NULL, client_name TEXT,
    redirect_uri TEXT NOT NULL, redirect_explicit INTEGER NOT NULL, state TEXT, scopes TEXT NOT NULL,
    code_challenge TEXT NOT NULL, resource TEXT, person_id TEXT, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, box_state_hash TEXT UNIQUE, box_verifier TEXT
);
CREATE TABLE IF NOT EXISTS codes (
    code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, person_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    redirect_explicit INTEGER NOT NULL, code_challenge TEXT NOT NULL, resource TEXT, scopes TEXT NOT NULL,
    expires_at REAL NOT NULL, used_at REAL, family_id TEXT
);
CREATE TABLE IF NOT EXISTS families (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, person_id TEXT NOT NULL, resource TEXT,
    scopes TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL, revoked_why TEXT
);
CREATE INDEX IF NOT EXISTS families_person ON families (person_id);
CREATE INDEX IF NOT EXISTS families_client ON families (client_id);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, family_id TEXT NOT NULL, kind TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, used_at REAL
);
CREATE INDEX IF NOT EXISTS tokens_family ON tokens (family_id);
CREATE TABLE IF NOT EXISTS people (
    box_user_id TEXT PRIMARY KEY, login TEXT, name TEXT, groups TEXT NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS registrations (at REAL NOT NULL);
"""


class OAuthStore:
    """The SQLite `OAuthStateStore` of one box-mcp (one process; several need the PostgreSQL one)."""

    def __init__(self, path: Path, *, access_ttl: int = ACCESS_SECONDS, clock: Clock = time.time) -> None:
        self.path = path
        self.access_ttl = access_ttl
        self._clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('secret', ?)", (secrets.token_bytes(32),))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            row = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        self._secret = bytes(row[0])
        self._cache = AccessCache(clock)  # the hot path, briefly (other processes revoke too)
        self._touched: dict[str, float] = {}

    @classmethod
    def open(
        cls, data_dir: Path, *, access_ttl: int = ACCESS_SECONDS, clock: Clock = time.time
    ) -> OAuthStore:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / STORE_FILE
        if not path.exists():
            _create_private(path)
        return cls(path, access_ttl=access_ttl, clock=clock)

    def __repr__(self) -> str:
        return f"OAuthStore({str(self.path)!r})"

    @property
    def secret(self) -> bytes:
        return self._secret

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except StoreError:
                self._db.execute("COMMIT")  # a refusal keeps what it did (a replay revokes its family)
                raise
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- clients ------------------------------------------------------------------------------------

    def client_secret_for(self, client_id: str) -> str:
        return records.derive_client_secret(self._secret, client_id)

    def _purge_clients(self, db: sqlite3.Connection, now: float) -> None:
        db.execute(
            "DELETE FROM clients WHERE (last_used_at IS NULL AND created_at < ?) OR last_used_at < ?",
            (now - records.UNUSED_CLIENT_SECONDS, now - records.IDLE_CLIENT_SECONDS),
        )
        db.execute("DELETE FROM registrations WHERE at < ?", (now - records.REGISTRATION_WINDOW_SECONDS,))

    def register_client(self, info: OAuthClientInformationFull) -> None:
        """Store a dynamically registered client. A confidential one's secret is replaced by the derived
        one (the caller sends `info` back to the client, so it carries the secret that will work)."""
        now = self._clock()
        with self._tx() as db:
            self._purge_clients(db, now)
            (recent,) = db.execute("SELECT count(*) FROM registrations").fetchone()
            (live,) = db.execute("SELECT count(*) FROM clients").fetchone()
            records.check_registration_caps(recent, live)
            stored = records.client_to_store(info, self._secret)
            db.execute(
                "INSERT INTO clients VALUES (?, ?, ?, NULL)", (info.client_id, json.dumps(stored), now)
            )
            db.execute("INSERT INTO registrations VALUES (?)", (now,))

    def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        now = self._clock()
        with self._lock:
            row = self._db.execute(
                "SELECT info, created_at, last_used_at FROM clients WHERE client_id = ?", (client_id,)
            ).fetchone()
        if row is None:
            return None
        info, created, used = row
        if records.client_expired(created, used, now):
            with self._tx() as db:
                self._purge_clients(db, now)
            return None
        return records.client_from_store(json.loads(info), client_id, self._secret)

    def _used_client(self, db: sqlite3.Connection, client_id: str, now: float) -> None:
        db.execute("UPDATE clients SET last_used_at = ? WHERE client_id = ?", (now, client_id))

    def clients(self) -> list[ClientRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT client_id, info, created_at, last_used_at FROM clients"
            ).fetchall()
            cimd = self._db.execute(
                "SELECT client_id, max(created_at) FROM families WHERE client_id LIKE 'http%' "
                "GROUP BY client_id"
            ).fetchall()
        out = [
            records.dcr_client_record(c, json.loads(info), created, used) for c, info, created, used in rows
        ]
        out += [records.cimd_client_record(client_id, last) for client_id, last in cimd]
        return sorted(out, key=lambda c: c.created_at)

    # -- pending sign-ins ---------------------------------------------------------------------------

    def begin_authorization(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        return self._begin(NewPending.authorize(client, params))

    def begin_connect(self, person_id: str) -> str:
        return self._begin(NewPending("connect", person_id=person_id))

    def _begin(self, new: NewPending) -> str:
        """A pending sign-in, 10 minutes; its id (in the page's URL) is stored only as a hash."""
        request_id = new_id()
        now = self._clock()
        row = (
            digest(request_id),
            new.purpose,
            new.client_id,
            new.client_name,
            new.redirect_uri,
            int(new.redirect_explicit),
            new.state,
            json.dumps(list(new.scopes)),
            new.code_challenge,
            new.resource,
            new.person_id,
            now,
            now + PENDING_SECONDS,
        )
        with self._tx() as db:
            db.execute("DELETE FROM pending WHERE expires_at < ?", (now,))
            db.execute(
                "INSERT INTO pending (id_hash, purpose, client_id, client_name, redirect_uri,"
                " redirect_explicit, state, scopes, code_challenge, resource, person_id, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        return request_id

    def _pending_row(self, row: Any, request_id: str = "") -> PendingAuthorization | None:
        if row is None:
            return None
        (
            _,
            purpose,
            client_id,
            name,
            redirect,
            explicit,
            state,
            scopes,
            challenge,
            resource,
            person,
            created,
            expires,
            _,
            verifier,
        ) = row
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
            scopes=tuple(json.loads(str(scopes))),
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
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM pending WHERE id_hash = ?", (digest(request_id),)
            ).fetchone()
        if row is None or row[13] is not None:
            return None
        return self._pending_row(row, request_id)

    def consent(self, request_id: str, *, box_state: str, box_verifier: str) -> bool:
        """Record the consent and the Box sign-in it starts; False if expired or already answered."""
        with self._tx() as db:
            changed = db.execute(
                "UPDATE pending SET box_state_hash = ?, box_verifier = ? "
                "WHERE id_hash = ? AND box_state_hash IS NULL AND expires_at >= ?",
                (digest(box_state), box_verifier, digest(request_id), self._clock()),
            ).rowcount
        return changed == 1

    def take_by_box_state(self, box_state: str) -> PendingAuthorization | None:
        """The consented request Box's answer belongs to, once (deleted here)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM pending WHERE box_state_hash = ?", (digest(box_state),)
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM pending WHERE id_hash = ?", (row[0],))
        return self._pending_row(row)

    # -- codes and tokens ---------------------------------------------------------------------------

    def issue_code(self, pending: PendingAuthorization, *, person_id: str) -> str:
        code = new_id(CODE_PREFIX)
        with self._tx() as db:
            db.execute(
                "INSERT INTO codes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    digest(code),
                    pending.client_id,
                    person_id,
                    pending.redirect_uri,
                    int(pending.redirect_uri_provided_explicitly),
                    pending.code_challenge,
                    pending.resource,
                    json.dumps(list(pending.scopes)),
                    self._clock() + CODE_SECONDS,
                ),
            )
        return code

    def load_code(self, code: str) -> CodeRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT client_id, person_id, redirect_uri, redirect_explicit, code_challenge, "
                "resource, scopes,"
                " expires_at FROM codes WHERE code_hash = ?",
                (digest(code),),
            ).fetchone()
        if row is None:
            return None
        return CodeRecord(
            row[0], row[1], row[2], bool(row[3]), row[4], row[5], tuple(json.loads(row[6])), row[7]
        )

    def redeem_code(self, code: str) -> IssuedTokens:
        """Exchange a code once. A second exchange fails and revokes what the first one gave (RFC 6749
        §10.5: whoever holds the replayed code may hold the tokens too)."""
        now = self._clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT client_id, person_id, resource, scopes, expires_at, used_at, family_id FROM codes "
                "WHERE code_hash = ?",
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
                "UPDATE codes SET used_at = ?, family_id = ? WHERE code_hash = ?", (now, family, digest(code))
            )
            db.execute(
                "INSERT INTO families VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                (family, client_id, person_id, resource, scopes, now),
            )
            self._used_client(db, client_id, now)
            return self._mint(db, family, tuple(json.loads(scopes)), now)

    def _mint(self, db: sqlite3.Connection, family: str, scopes: tuple[str, ...], now: float) -> IssuedTokens:
        (born,) = db.execute("SELECT created_at FROM families WHERE id = ?", (family,)).fetchone()
        new = NewTokens.mint(now, born, self.access_ttl)
        db.execute(
            "INSERT INTO tokens VALUES (?, ?, 'access', ?, ?, NULL)",
            (digest(new.access), family, now, new.access_expires_at),
        )
        db.execute(
            "INSERT INTO tokens VALUES (?, ?, 'refresh', ?, ?, NULL)",
            (digest(new.refresh), family, now, new.refresh_expires_at),
        )
        return new.issued(self.access_ttl, scopes)

    def _token_row(self, token: str, kind: str) -> Any:
        with self._lock:
            return self._db.execute(
                "SELECT t.family_id, t.expires_at, t.used_at, f.client_id, f.person_id, f.scopes, f.resource,"
                " f.revoked_at FROM tokens t JOIN families f ON f.id = t.family_id WHERE t.hash "
                "= ? AND t.kind = ?",
                (digest(token), kind),
            ).fetchone()

    def load_refresh(self, token: str) -> TokenRecord | None:
        """The refresh token's grant, or None when unknown or revoked (a used one still loads: its reuse is
        detected, and punished, by `rotate_refresh`)."""
        if not token.startswith(REFRESH_PREFIX):
            return None
        row = self._token_row(token, "refresh")
        if row is None or row[7] is not None:
            return None
        family, expires, _, client_id, person_id, scopes, resource, _ = row
        return TokenRecord(
            str(client_id),
            str(person_id),
            tuple(json.loads(str(scopes))),
            resource,
            float(expires),
            str(family),
        )

    def rotate_refresh(self, token: str, scopes: tuple[str, ...]) -> IssuedTokens:
        """A new access and refresh token for a refresh token, used once. Reuse of a used one means two
        holders: the whole family is revoked (OAuth 2.1 §4.3.1, refresh token rotation)."""
        now = self._clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT t.family_id, t.expires_at, t.used_at, f.revoked_at, f.client_id FROM tokens t "
                "JOIN families f ON f.id = t.family_id WHERE t.hash = ? AND t.kind = 'refresh'",
                (digest(token),),
            ).fetchone()
            if row is None or row[3] is not None:
                raise StoreError(records.REFRESH_UNKNOWN)
            family, expires, used, _, client_id = row
            if used is not None:
                self._revoke_family(db, family, records.WHY_REFRESH_REUSED, now)
                raise StoreError(records.REFRESH_REUSED)
            if expires < now:
                raise StoreError(records.REFRESH_EXPIRED)
            db.execute("UPDATE tokens SET used_at = ? WHERE hash = ?", (now, digest(token)))
            self._used_client(db, client_id, now)
            return self._mint(db, family, scopes, now)

    def load_access(self, token: str) -> TokenRecord | None:
        """The access token's grant; None when unknown, expired or revoked. One indexed lookup, cached
        for CACHE_SECONDS (`records.AccessCache`)."""
        if not token.startswith(ACCESS_PREFIX):
            return None
        key = digest(token)
        now = self._clock()
        known, cached = self._cache.get(key, now)
        if known:
            return cached
        row = self._token_row(token, "access")
        if row is None or row[7] is not None or float(row[1]) < now:
            return None
        family, expires, _, client_id, person_id, scopes, resource, _ = row
        record = TokenRecord(
            str(client_id),
            str(person_id),
            tuple(json.loads(str(scopes))),
            resource,
            float(expires),
            str(family),
        )
        self._cache.put(key, record, now)
        return record

    def _revoke_family(self, db: sqlite3.Connection, family: str, why: str, now: float) -> None:
        db.execute(
            "UPDATE families SET revoked_at = ?, revoked_why = ? WHERE id = ? AND revoked_at IS NULL",
            (now, why, family),
        )
        self._cache.drop_family(family)

    def revoke_token(self, token: str) -> bool:
        """Revoke the family of an access or refresh token (the sign-in it came from). False if unknown."""
        now = self._clock()
        with self._tx() as db:
            row = db.execute("SELECT family_id FROM tokens WHERE hash = ?", (digest(token),)).fetchone()
            if row is None:
                return False
            self._revoke_family(db, row[0], records.WHY_CLIENT_REVOKED_TOKEN, now)
        return True

    def _revoke_where(self, column: str, value: str, why: str) -> int:
        now = self._clock()
        with self._tx() as db:
            rows = db.execute(
                f"SELECT id FROM families WHERE {column} = ? AND revoked_at IS NULL",  # noqa: S608 - ours
                (value,),
            ).fetchall()
            for (family,) in rows:
                self._revoke_family(db, family, why, now)
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
        with self._tx() as db:
            db.execute(
                "INSERT INTO people VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (box_user_id) DO UPDATE SET "
                "login = excluded.login, name = excluded.name, groups = excluded.groups, "
                "last_seen = excluded.last_seen",
                (box_user_id, login, name, json.dumps(list(groups)), now, now),
            )

    def _person_row(self, row: Any, clients: tuple[str, ...] = ()) -> PersonRecord:
        return PersonRecord(
            str(row[0]),
            row[1],
            row[2],
            tuple(json.loads(str(row[3]))),
            float(row[4]),
            float(row[5]),
            clients,
        )

    def person(self, box_user_id: str) -> PersonRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM people WHERE box_user_id = ?", (box_user_id,)).fetchone()
        return None if row is None else self._person_row(row)

    def people(self) -> list[PersonRecord]:
        now = self._clock()
        with self._lock:
            rows = self._db.execute("SELECT * FROM people ORDER BY last_seen DESC").fetchall()
            live = self._db.execute(
                "SELECT DISTINCT f.person_id, f.client_id FROM families f JOIN tokens t ON "
                "t.family_id = f.id "
                "WHERE f.revoked_at IS NULL AND t.kind = 'refresh' AND t.used_at IS NULL AND "
                "t.expires_at >= ?",
                (now,),
            ).fetchall()
        by_person: dict[str, list[str]] = {}
        for person_id, client_id in live:
            by_person.setdefault(person_id, []).append(client_id)
        return [self._person_row(r, tuple(sorted(by_person.get(str(r[0]), [])))) for r in rows]

    def touch_person(self, box_user_id: str) -> None:
        now = self._clock()
        if now - self._touched.get(box_user_id, 0.0) < TOUCH_SECONDS:
            return
        self._touched[box_user_id] = now
        with self._tx() as db:
            db.execute("UPDATE people SET last_seen = ? WHERE box_user_id = ?", (now, box_user_id))

    def forget_person(self, box_user_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM people WHERE box_user_id = ?", (box_user_id,)).rowcount == 1


__all__ = [
    "STORE_FILE",
    "ClientRecord",
    "CodeRecord",
    "IssuedTokens",
    "OAuthStateStore",
    "OAuthStore",
    "PendingAuthorization",
    "PersonRecord",
    "StoreError",
    "TokenRecord",
    "open_store",
    "store_exists",
]
