"""Scrubbing results for confined agents: nothing above the grant root (path, parent, ancestor ids)."""

from __future__ import annotations

import pytest

from box_mcp.policy.scrub import HIDDEN, keep_id, root_index, trim_path

ROOTS = frozenset({"20"})


def test_root_index_finds_the_highest_root_on_the_chain():
    assert root_index(("0", "10", "20", "30"), frozenset({"30", "20"})) == 2
    assert root_index(("0", "10"), ROOTS) is None


@pytest.mark.parametrize(
    ("path", "chain", "is_folder", "expected"),
    [
        ("/Contracts/Inbox/deal.pdf", ("0", "10", "20"), False, f"{HIDDEN}/Inbox/deal.pdf"),
        ("/Contracts/Inbox", ("0", "10", "20"), True, f"{HIDDEN}/Inbox"),
        ("/Contracts/Inbox/Q3", ("0", "10", "20", "30"), True, f"{HIDDEN}/Inbox/Q3"),
        ("/Inbox/deal.pdf", ("0", "20"), False, "/Inbox/deal.pdf"),  # nothing above the root but All Files
        ("/Contracts/deal.pdf", ("0", "10"), False, f"{HIDDEN}/deal.pdf"),  # not under any root
        ("/a/b/c/deal.pdf", ("0", "20"), False, f"{HIDDEN}/deal.pdf"),  # cannot align: say only the name
        ("/", ("0",), True, "/"),
        (None, ("0", "20"), False, None),
    ],
)
def test_trim_path(path, chain, is_folder, expected):
    assert trim_path(path, chain, is_folder, ROOTS) == expected


def test_whole_account_grant_trims_nothing():
    assert trim_path("/Contracts/deal.pdf", ("0", "10"), False, frozenset({"0"})) == "/Contracts/deal.pdf"


def test_keep_id_keeps_only_folders_at_or_below_the_root():
    chain = ("0", "10", "20", "30")
    assert keep_id("20", chain, ROOTS) and keep_id("30", chain, ROOTS)
    assert (
        not keep_id("10", chain, ROOTS) and not keep_id("0", chain, ROOTS) and not keep_id(None, chain, ROOTS)
    )
