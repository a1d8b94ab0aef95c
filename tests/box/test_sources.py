"""Upload sources are cut into exact parts whatever chunks they arrive in."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from box_mcp.box.sources import parts_of, source_size


async def _collect(source, part_size: int) -> list[bytes]:
    return [part async for part in parts_of(source, part_size)]


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=0, max_size=40), max_size=12),
    part_size=st.integers(min_value=1, max_value=25),
)
def test_parts_are_exact_whatever_the_chunking(chunks: list[bytes], part_size: int) -> None:
    async def stream():
        for chunk in chunks:
            yield chunk

    whole = b"".join(chunks)
    from_stream = anyio.run(_collect, stream(), part_size)
    from_bytes = anyio.run(_collect, whole, part_size)
    assert from_stream == from_bytes
    assert b"".join(from_stream) == whole
    assert all(len(p) == part_size for p in from_stream[:-1])
    assert not from_stream or 0 < len(from_stream[-1]) <= part_size


def test_declared_size_must_match_bytes_and_files(tmp_path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    assert source_size(path, None) == 5
    assert source_size(b"abc", 3) == 3
    with pytest.raises(ValueError, match="size=4 but the source holds 3 bytes"):
        source_size(b"abc", 4)
    with pytest.raises(ValueError, match="not a readable file"):
        source_size(tmp_path / "missing", None)
