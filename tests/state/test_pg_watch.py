"""The watchers' state in PostgreSQL (migration 8): a delivery id one replica accepted is a duplicate on
every other, a released claim (the queue was full) is taken again, and a stream position saved by one
process is the next one's starting point."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from box_mcp.state.watch import PostgresPositions, PostgresSeen
from box_mcp.watch.state import Position

pytestmark = pytest.mark.anyio


async def test_replicas_agree_on_which_deliveries_were_already_accepted(database: str) -> None:
    url = SecretStr(database)
    one, two = PostgresSeen.open(url), PostgresSeen.open(url)
    try:
        assert await one.claim("delivery:abc") is True
        assert await two.claim("delivery:abc") is False  # Box's retry reached the other replica
        assert await two.claim("delivery:def") is True
        await two.release("delivery:def")  # refused with 503: the retry must be taken
        assert await one.claim("delivery:def") is True
    finally:
        one.close()
        two.close()


async def test_a_saved_position_and_its_recent_event_ids_survive_a_new_process(database: str) -> None:
    url = SecretStr(database)
    first = PostgresPositions.open(url)
    try:
        assert await first.load("as_user:1") is None
        position = Position("1200")
        position.remember(["e1", "e2"])
        await first.save("as_user:1", position)
        position.stream_position = "1300"
        position.remember(["e3"])
        await first.save("as_user:1", position)
    finally:
        first.close()
    second = PostgresPositions.open(url)
    try:
        loaded = await second.load("as_user:1")
        assert loaded == Position("1300", ["e1", "e2", "e3"])
        assert await second.load("as_user:2") is None
    finally:
        second.close()
