"""Versioned schema migrations, applied at start under an advisory lock so that replicas starting at
once take turns: the first applies what is missing, the others find it applied.

A migration is a version, a name and SQL, listed in `MIGRATIONS` in order and never edited once
released (its checksum is recorded; a changed one stops start-up). A database migrated by a newer
box-mcp (a version this code does not know) also stops start-up rather than being used half-understood.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg

from box_mcp.errors import ConfigError

# pg_advisory_lock's key for "migrating box-mcp's schema": any constant other lock users will not pick.
LOCK_KEY = 0x626F782D6D6370  # "box-mcp"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "vault grants",
        """
        CREATE TABLE vault_grants (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            access_token BYTEA,
            access_expires_at DOUBLE PRECISION NOT NULL,
            refresh_token BYTEA,
            client_id TEXT,
            user_id TEXT,
            user_login TEXT,
            status TEXT NOT NULL,
            status_detail TEXT NOT NULL,
            generation BIGINT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )
    """,
    ),
    Migration(
        2,
        "audit chain (one for every replica; the head row is the writers' lock)",
        """
        CREATE TABLE audit_records (
            seq BIGINT PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            time TEXT NOT NULL,
            kind TEXT NOT NULL,
            agent TEXT,
            tool TEXT,
            session_id TEXT,
            effect TEXT,
            status TEXT,
            line BYTEA NOT NULL
        );
        CREATE INDEX audit_records_time ON audit_records (time);
        CREATE INDEX audit_records_agent ON audit_records (agent, seq);
        CREATE INDEX audit_records_tool ON audit_records (tool, seq);
        CREATE TABLE audit_items (seq BIGINT NOT NULL, type TEXT, id TEXT, name TEXT);
        CREATE INDEX audit_items_id ON audit_items (id);
        CREATE INDEX audit_items_name ON audit_items (name);
        CREATE TABLE audit_head (
            one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL,
            time_ns BIGINT NOT NULL
        );
        INSERT INTO audit_head (one, seq, hash, time_ns) VALUES (TRUE, 0, repeat('0', 64), 0);
    """,
    ),
    Migration(
        3,
        "remote sign-in OAuth state (clients, pending sign-ins, codes, token families, people)",
        """
        CREATE TABLE oauth_meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
        CREATE TABLE oauth_clients (
            client_id TEXT PRIMARY KEY,
            info JSONB NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            last_used_at DOUBLE PRECISION
        );
        CREATE TABLE oauth_registrations (at DOUBLE PRECISION NOT NULL);
        CREATE INDEX oauth_registrations_at ON oauth_registrations (at);
        CREATE TABLE oauth_pending (
            id_hash TEXT PRIMARY KEY,
            purpose TEXT NOT NULL CHECK (purpose IN ('authorize', 'connect')),
            client_id TEXT NOT NULL,
            client_name TEXT,
            redirect_uri TEXT NOT NULL,
            redirect_explicit BOOLEAN NOT NULL,
            state TEXT,
            scopes TEXT[] NOT NULL,
            code_challenge TEXT NOT NULL,
            resource TEXT,
            person_id TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            box_state_hash TEXT UNIQUE,
            box_verifier TEXT
        );
        CREATE INDEX oauth_pending_expires ON oauth_pending (expires_at);
        CREATE TABLE oauth_codes (
            code_hash TEXT PRIMARY KEY,
            client_id TEXT NOT NULL,
            person_id TEXT NOT NULL,
            redirect_uri TEXT NOT NULL,
            redirect_explicit BOOLEAN NOT NULL,
            code_challenge TEXT NOT NULL,
            resource TEXT,
            scopes TEXT[] NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            used_at DOUBLE PRECISION,
            family_id TEXT
        );
        CREATE TABLE oauth_families (
            id TEXT PRIMARY KEY,
            client_id TEXT NOT NULL,
            person_id TEXT NOT NULL,
            resource TEXT,
            scopes TEXT[] NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION,
            revoked_why TEXT
        );
        CREATE INDEX oauth_families_person ON oauth_families (person_id);
        CREATE INDEX oauth_families_client ON oauth_families (client_id);
        CREATE TABLE oauth_tokens (
            hash TEXT PRIMARY KEY,
            family_id TEXT NOT NULL REFERENCES oauth_families (id),
            kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            used_at DOUBLE PRECISION
        );
        CREATE INDEX oauth_tokens_family ON oauth_tokens (family_id);
        CREATE TABLE oauth_people (
            box_user_id TEXT PRIMARY KEY,
            login TEXT,
            name TEXT,
            group_ids TEXT[] NOT NULL,
            first_seen DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL
        );
    """,
    ),
    Migration(
        4,
        "rate limits and approvals",
        # rate_limit_events: UNLOGGED, counters need no WAL (a crash forgets at most a minute of counts).
        # rate_limit_check: see box_mcp/state/limits.py. A VOLATILE PL/pgSQL function takes a fresh
        # snapshot for each statement, so the count after the advisory lock sees what the previous holder
        # committed. Lock class 1918989413 is "rate" (pg_advisory_xact_lock(int, int)).
        # approvals_used: single use of approvals (box_mcp/state/approvals.py); request_state_keys: the
        # deployment's request-state sealing key, itself sealed with the vault key.
        """
        CREATE UNLOGGED TABLE rate_limit_events (
            agent TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            counts_call BOOLEAN NOT NULL,
            counts_write BOOLEAN NOT NULL
        );
        CREATE INDEX rate_limit_events_agent_at ON rate_limit_events (agent, at);
        CREATE FUNCTION rate_limit_check(
            p_agent TEXT, p_calls INTEGER, p_writes INTEGER, p_is_write BOOLEAN,
            p_now DOUBLE PRECISION, p_window DOUBLE PRECISION
        ) RETURNS TABLE (refused TEXT, oldest DOUBLE PRECISION, checked_at DOUBLE PRECISION)
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            v_now DOUBLE PRECISION;
            v_calls BIGINT;
            v_writes BIGINT;
            v_oldest_call DOUBLE PRECISION;
            v_oldest_write DOUBLE PRECISION;
            v_counts_write BOOLEAN := p_is_write AND p_writes IS NOT NULL;
        BEGIN
            PERFORM set_config('synchronous_commit', 'off', true);
            PERFORM pg_advisory_xact_lock(1918989413, hashtext(p_agent));
            v_now := COALESCE(p_now, extract(epoch FROM clock_timestamp()));
            DELETE FROM rate_limit_events WHERE agent = p_agent AND at <= v_now - p_window;
            IF random() < 0.015625 THEN  -- now and then, also what agents that went quiet left behind
                DELETE FROM rate_limit_events WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM rate_limit_events WHERE at <= v_now - p_window
                    LIMIT 256 FOR UPDATE SKIP LOCKED));
            END IF;
            SELECT count(*) FILTER (WHERE counts_call), min(at) FILTER (WHERE counts_call),
                   count(*) FILTER (WHERE counts_write), min(at) FILTER (WHERE counts_write)
              INTO v_calls, v_oldest_call, v_writes, v_oldest_write
              FROM rate_limit_events WHERE agent = p_agent AND at > v_now - p_window;
            IF p_calls IS NOT NULL AND v_calls >= p_calls THEN
                RETURN QUERY SELECT 'calls'::TEXT, v_oldest_call, v_now;
                RETURN;
            END IF;
            IF v_counts_write AND v_writes >= p_writes THEN
                RETURN QUERY SELECT 'writes'::TEXT, v_oldest_write, v_now;
                RETURN;
            END IF;
            INSERT INTO rate_limit_events VALUES (p_agent, v_now, p_calls IS NOT NULL, v_counts_write);
            RETURN QUERY SELECT NULL::TEXT, NULL::DOUBLE PRECISION, v_now;
        END
        $$;
        CREATE TABLE approvals_used (
            digest TEXT PRIMARY KEY,
            expires_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX approvals_used_expires_at ON approvals_used (expires_at);
        CREATE TABLE request_state_keys (
            name TEXT PRIMARY KEY,
            sealed BYTEA NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
    """,
    ),
    # Which replica holds each handshake-era MCP session, so a
    # request reaching another replica is forwarded to it (box_mcp.state.sessions, box_mcp.http.forward).
    Migration(
        5,
        "mcp session registry",
        """
        CREATE TABLE replicas (
            replica_id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            started TIMESTAMPTZ NOT NULL DEFAULT now(),
            heartbeat TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE TABLE mcp_sessions (
            session_id TEXT PRIMARY KEY,
            replica_id TEXT NOT NULL REFERENCES replicas (replica_id) ON DELETE CASCADE,
            agent TEXT,
            principal TEXT,
            created TIMESTAMPTZ NOT NULL DEFAULT now(),
            last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE INDEX mcp_sessions_replica ON mcp_sessions (replica_id);
    """,
    ),
    # Approval records (box_mcp.approval_records, box_mcp/state/approvals.py): who asked, the exact call,
    # who may approve, the decision and the single use. The spent-id table of migration 4 stays, unread.
    Migration(
        6,
        "approval records",
        """
        CREATE TABLE approval_requests (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used', 'expired')),
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            agent TEXT NOT NULL,
            person_id TEXT,
            person_login TEXT,
            client_id TEXT,
            session_id TEXT,
            tool TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            arguments JSONB NOT NULL,
            resources JSONB NOT NULL,
            policy_version TEXT NOT NULL,
            rules JSONB NOT NULL,
            reason TEXT NOT NULL,
            approvers JSONB NOT NULL,
            decided_by TEXT,
            decided_at DOUBLE PRECISION,
            decision_note TEXT,
            used_at DOUBLE PRECISION,
            call_id TEXT
        );
        CREATE INDEX approval_requests_fingerprint ON approval_requests (fingerprint, created_at);
        CREATE INDEX approval_requests_created ON approval_requests (created_at);
        CREATE INDEX approval_requests_live ON approval_requests (expires_at)
            WHERE status IN ('pending', 'approved')
    """,
    ),
    Migration(
        7,
        "audit sink cursors (the last record each sink acknowledged)",
        """
        CREATE TABLE audit_sink_cursors (
            sink TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL,
            updated TIMESTAMPTZ NOT NULL DEFAULT now()
        );
    """,
    ),
    Migration(
        8,
        "watching Box: webhook deliveries already accepted, events-API stream positions",
        """
        CREATE TABLE webhook_deliveries_seen (
            delivery_id TEXT PRIMARY KEY,
            received_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE INDEX webhook_deliveries_seen_received ON webhook_deliveries_seen (received_at);
        CREATE TABLE event_stream_positions (
            stream TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            updated TIMESTAMPTZ NOT NULL DEFAULT now()
        );
    """,
    ),
    # Box AI calls counted apart (policy limits: ai_calls_per_minute): a column and an eight-argument
    # rate_limit_check beside migration 4's six-argument one, which stays (its positional INSERT leaves
    # counts_ai false) so a replica not yet upgraded keeps counting as it did.
    Migration(
        10,
        "rate limits for Box AI calls",
        """
        ALTER TABLE rate_limit_events ADD COLUMN counts_ai BOOLEAN NOT NULL DEFAULT false;
        CREATE FUNCTION rate_limit_check(
            p_agent TEXT, p_calls INTEGER, p_writes INTEGER, p_is_write BOOLEAN,
            p_ai INTEGER, p_is_ai BOOLEAN, p_now DOUBLE PRECISION, p_window DOUBLE PRECISION
        ) RETURNS TABLE (refused TEXT, oldest DOUBLE PRECISION, checked_at DOUBLE PRECISION)
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            v_now DOUBLE PRECISION;
            v_calls BIGINT;
            v_writes BIGINT;
            v_ai BIGINT;
            v_oldest_call DOUBLE PRECISION;
            v_oldest_write DOUBLE PRECISION;
            v_oldest_ai DOUBLE PRECISION;
            v_counts_write BOOLEAN := p_is_write AND p_writes IS NOT NULL;
            v_counts_ai BOOLEAN := p_is_ai AND p_ai IS NOT NULL;
        BEGIN
            PERFORM set_config('synchronous_commit', 'off', true);
            PERFORM pg_advisory_xact_lock(1918989413, hashtext(p_agent));
            v_now := COALESCE(p_now, extract(epoch FROM clock_timestamp()));
            DELETE FROM rate_limit_events WHERE agent = p_agent AND at <= v_now - p_window;
            IF random() < 0.015625 THEN  -- now and then, also what agents that went quiet left behind
                DELETE FROM rate_limit_events WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM rate_limit_events WHERE at <= v_now - p_window
                    LIMIT 256 FOR UPDATE SKIP LOCKED));
            END IF;
            SELECT count(*) FILTER (WHERE counts_call), min(at) FILTER (WHERE counts_call),
                   count(*) FILTER (WHERE counts_write), min(at) FILTER (WHERE counts_write),
                   count(*) FILTER (WHERE counts_ai), min(at) FILTER (WHERE counts_ai)
              INTO v_calls, v_oldest_call, v_writes, v_oldest_write, v_ai, v_oldest_ai
              FROM rate_limit_events WHERE agent = p_agent AND at > v_now - p_window;
            IF p_calls IS NOT NULL AND v_calls >= p_calls THEN
                RETURN QUERY SELECT 'calls'::TEXT, v_oldest_call, v_now;
                RETURN;
            END IF;
            IF v_counts_write AND v_writes >= p_writes THEN
                RETURN QUERY SELECT 'writes'::TEXT, v_oldest_write, v_now;
                RETURN;
            END IF;
            IF v_counts_ai AND v_ai >= p_ai THEN
                RETURN QUERY SELECT 'AI calls'::TEXT, v_oldest_ai, v_now;
                RETURN;
            END IF;
            INSERT INTO rate_limit_events (agent, at, counts_call, counts_write, counts_ai)
                VALUES (p_agent, v_now, p_calls IS NOT NULL, v_counts_write, v_counts_ai);
            RETURN QUERY SELECT NULL::TEXT, NULL::DOUBLE PRECISION, v_now;
        END
        $$;
    """,
    ),
)

_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


_RECORD = "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"


class MigrationError(ConfigError):
    """The database's schema is not one this box-mcp can use as it stands."""


def migrate(
    conn: psycopg.Connection[tuple[object, ...]], migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Apply every migration `conn`'s database lacks, each in its own transaction, holding the advisory
    lock throughout; returns the versions this call applied (empty when another process did them).
    `conn` must be in autocommit mode (as `database.connect` opens it)."""
    _check_order(migrations)
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        conn.execute(_TABLE)
        rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        applied = {int(str(version)): str(checksum) for version, checksum in rows}
        known = {m.version: m for m in migrations}
        newer = sorted(set(applied) - set(known))
        if newer:
            raise MigrationError(
                f"the database's schema has migration {newer[-1]}, newer than this box-mcp knows "
                f"(up to {max(known, default=0)}): upgrade box-mcp, or point BOX_MCP_DATABASE_URL elsewhere"
            )
        for version, checksum in sorted(applied.items()):
            if known[version].checksum != checksum:
                raise MigrationError(
                    f"schema migration {version} ({known[version].name}) differs from the one applied to "
                    "this database; a released migration must never change: restore it"
                )
        done: list[int] = []
        for migration in migrations:
            if migration.version in applied:
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(_RECORD, (migration.version, migration.name, migration.checksum))
            except psycopg.Error as exc:
                raise MigrationError(
                    f"schema migration {migration.version} ({migration.name}) failed and was rolled back: "
                    f"{' '.join(str(exc).split())[:300]}; check the database user may create tables"
                ) from exc
            done.append(migration.version)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def _check_order(migrations: tuple[Migration, ...]) -> None:
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or any(v < 1 for v in versions):
        raise MigrationError(f"migrations must have distinct, increasing, positive versions: {versions}")
