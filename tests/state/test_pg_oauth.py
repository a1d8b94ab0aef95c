"""The remote sign-in store on PostgreSQL as two replicas use it: two `PostgresOAuthStore`s (two pools, as
two processes have) on one database, racing what must happen once. A code redeemed at the same moment
on both succeeds once (and the replay revokes what it gave); a refresh token rotated on both rotates
once (and the reuse revokes the family); registration caps count both; the server secret is one.
Threads meet at a barrier so the calls really overlap; every wait is bounded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import psycopg
import pytest
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl, SecretStr

from box_mcp.remote import records
from box_mcp.remote.records import PendingAuthorization, StoreError
from box_mcp.state.database import DatabaseError
from box_mcp.state.oauth import PostgresOAuthStore

ROUNDS = 8
WAIT = 20.0  # seconds any one race may take


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replicas(database: str, clock: Clock) -> Iterator[tuple[PostgresOAuthStore, PostgresOAuthStore]]:
    a = PostgresOAuthStore.open(SecretStr(database), clock=clock)
    b = PostgresOAuthStore.open(SecretStr(database), clock=clock)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _pending(client_id: str = "client-1") -> PendingAuthorization:
    return PendingAuthorization(
        request_id="",
        purpose="authorize",
        client_id=client_id,
        client_name="t",
        redirect_uri="http://127.0.0.1:5000/callback",
        redirect_uri_provided_explicitly=True,
        state="s",
        scopes=("box",),
        code_challenge="c" * 43,
        resource="http://127.0.0.1:8000/mcp",
        created_at=0.0,
        expires_at=0.0,
    )


def _race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once (one thread each, released together); each result, or the exception."""
    barrier = threading.Barrier(len(calls), timeout=WAIT)

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except StoreError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [f.result(timeout=WAIT) for f in futures]


def _client(client_id: str) -> OAuthClientInformationFull:
    return OAuthClientInformationFull(
        client_id=client_id,
        redirect_uris=[AnyUrl("http://127.0.0.1:5000/callback")],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
    )


def test_a_code_redeemed_on_two_replicas_at_once_succeeds_exactly_once(
    replicas: tuple[PostgresOAuthStore, PostgresOAuthStore],
) -> None:
    a, b = replicas
    for _ in range(ROUNDS):
        code = a.issue_code(_pending(), person_id="42")
        results = _race(partial(a.redeem_code, code), partial(b.redeem_code, code))
        issued = [r for r in results if isinstance(r, records.IssuedTokens)]
        refused = [r for r in results if isinstance(r, StoreError)]
        assert len(issued) == 1 and len(refused) == 1, results
        assert str(refused[0]) == records.CODE_REPLAYED
        # The replay revoked what the first exchange gave (RFC 6749 §10.5), seen from both replicas.
        assert a.load_access(issued[0].access_token) is None
        assert b.load_access(issued[0].access_token) is None
        assert b.load_refresh(issued[0].refresh_token) is None


def test_a_refresh_token_used_on_two_replicas_at_once_rotates_once_and_the_reuse_revokes_the_family(
    replicas: tuple[PostgresOAuthStore, PostgresOAuthStore], database: str
) -> None:
    a, b = replicas
    for _ in range(ROUNDS):
        first = a.redeem_code(a.issue_code(_pending(), person_id="42"))
        family = b.load_refresh(first.refresh_token)
        assert family is not None
        results = _race(
            partial(a.rotate_refresh, first.refresh_token, ("box",)),
            partial(b.rotate_refresh, first.refresh_token, ("box",)),
        )
        rotated = [r for r in results if isinstance(r, records.IssuedTokens)]
        refused = [r for r in results if isinstance(r, StoreError)]
        assert len(rotated) == 1 and len(refused) == 1, results
        assert str(refused[0]) == records.REFRESH_REUSED
        assert a.load_access(rotated[0].access_token) is None  # two holders: the whole family is revoked
        assert b.load_refresh(rotated[0].refresh_token) is None
        with psycopg.connect(database, autocommit=True) as db:
            row = db.execute(
                "SELECT count(*) FILTER (WHERE kind = 'refresh'), count(*) FILTER (WHERE kind = 'access') "
                "FROM oauth_tokens WHERE family_id = %s",
                (family.family_id,),
            ).fetchone()
        assert row == (2, 2)  # the first pair and exactly one rotation


def test_a_box_answer_and_a_consent_are_each_taken_once_across_replicas(
    replicas: tuple[PostgresOAuthStore, PostgresOAuthStore],
) -> None:
    a, b = replicas
    for n in range(ROUNDS):
        link = a.begin_connect("42")
        answers = _race(
            partial(a.consent, link, box_state=f"a{n}", box_verifier="va"),
            partial(b.consent, link, box_state=f"b{n}", box_verifier="vb"),
        )
        assert sorted(answers) == [False, True]
        state = f"a{n}" if answers[0] else f"b{n}"
        taken = _race(partial(a.take_by_box_state, state), partial(b.take_by_box_state, state))
        assert sum(t is not None for t in taken) == 1
        assert next(t for t in taken if t is not None).person_id == "42"


def test_registration_caps_count_every_replica(
    replicas: tuple[PostgresOAuthStore, PostgresOAuthStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = replicas
    monkeypatch.setattr(records, "MAX_REGISTRATIONS_PER_MINUTE", 5)
    calls = [
        (lambda store=store, n=n: store.register_client(_client(f"c{n}")))
        for n, store in enumerate([a, b] * 5)
    ]
    results = _race(*calls)
    refused = [r for r in results if isinstance(r, StoreError)]
    assert len(refused) == 5 and all("too many registrations" in str(r) for r in refused)
    assert len(a.clients()) == len(b.clients()) == 5


def test_every_replica_derives_the_same_secrets(database: str, clock: Clock) -> None:
    opened: list[PostgresOAuthStore] = []
    try:
        opened = _race(*[lambda: PostgresOAuthStore.open(SecretStr(database), clock=clock)] * 3)
        assert len({s.secret for s in opened}) == 1 and len(opened[0].secret) == 32
        assert len({s.client_secret_for("c1") for s in opened}) == 1
        registered = _client("c1").model_copy(update={"token_endpoint_auth_method": "client_secret_post"})
        registered.client_secret = "given"
        opened[0].register_client(registered)
        got = opened[1].get_client("c1")
        assert got is not None and got.client_secret == registered.client_secret
        assert got.client_secret == opened[2].client_secret_for("c1")
    finally:
        for store in opened:
            store.close()


def test_a_revocation_on_one_replica_reaches_the_other_within_the_cache_time(
    replicas: tuple[PostgresOAuthStore, PostgresOAuthStore], clock: Clock
) -> None:
    a, b = replicas
    tokens = a.redeem_code(a.issue_code(_pending(), person_id="42"))
    assert b.load_access(tokens.access_token) is not None  # cached by b now
    assert a.revoke_person("42") == 1
    assert a.load_access(tokens.access_token) is None  # at once where it was revoked
    clock.now += records.CACHE_SECONDS + 0.1
    assert b.load_access(tokens.access_token) is None  # and on the other replica within 2 s


def test_an_unreachable_database_is_named_without_its_password() -> None:
    url = SecretStr("postgresql://box:hunter2-secret@127.0.0.1:1/nowhere")
    with pytest.raises(DatabaseError) as raised:
        PostgresOAuthStore.open(url)
    assert "hunter2-secret" not in str(raised.value) and "127.0.0.1:1" in str(raised.value)


def test_the_store_names_its_database_without_the_password(database: str) -> None:
    store = PostgresOAuthStore.open(SecretStr(database.replace("postgres@", "postgres:pw-secret@")))
    try:
        assert "pw-secret" not in repr(store) and "PostgresOAuthStore" in repr(store)
    finally:
        store.close()
