"""The pre-check that lets redact_string skip the token regex must never skip a string the regex would
change: every pattern, at the edges of its length and case rules, still masks through it."""

from __future__ import annotations

import random
import re
import string
import sys

import pytest

from box_mcp.audit.redact import _TOKEN_RE, TOKEN_MASK, _may_hold_token, mask_tokens, redact_string

BOX_TOKEN = "aB3" + "x" * 29  # 32 letters and digits with upper, lower and a digit

MATCHING = [
    "Bearer abcdefgh",  # the shortest bearer match: 15 characters
    "BEARER abcdefgh",
    "bEaReR\tabcdefgh",
    "Authorization: Bearer abc.def~ghi",
    "eyJabcde.fghij.",  # the shortest JWT match
    "token=eyJhbGciOi.eyJzdWIiOi.sig",
    BOX_TOKEN,  # exactly 32: the shortest string the third pattern matches
    f"id {BOX_TOKEN}.",
    f"é{BOX_TOKEN}é",  # bounded by non-ASCII characters
    "ünïcödé Bearer abcdefgh",
]
NOT_MATCHING = [
    "claude-code@laptop",
    "6f1c2d4e-8a77-4b1e-9d0a-3c5e7f9a1b2c",
    "/Projects/Q3/Q3 plan.docx",
    "aB3" + "x" * 28,  # 31 letters and digits: one short
    "aB3" + "x" * 30,  # 33: longer than a Box token
    "e" * 40,  # a 32+ run without upper case and digits: the regex runs, and leaves it
    "Bearer abcdefg",  # 14: one short
    "eyJabcd.fghij.",
]


@pytest.mark.parametrize("text", MATCHING)
def test_every_pattern_still_masks_through_the_fast_path(text: str) -> None:
    assert _may_hold_token(text)
    assert TOKEN_MASK in redact_string(text)
    assert TOKEN_MASK in mask_tokens(text)


@pytest.mark.parametrize("text", NOT_MATCHING)
def test_strings_without_a_token_are_kept(text: str) -> None:
    assert redact_string(text) == text
    assert mask_tokens(text) == text


def test_the_pre_check_is_false_only_where_the_regex_finds_nothing() -> None:
    rng = random.Random(20261202)  # noqa: S311 (reproducible test strings, not secrets)
    pieces = [
        "Bearer ",
        "bearer\n",
        "BeArEr ",
        "eyJ",
        ".",
        "-",
        " ",
        "é",
        "İ",
        BOX_TOKEN[:16],
        "Zz9",
        *string.ascii_letters[:8],
        *string.digits[:4],
    ]
    checked = 0
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))
        if not _may_hold_token(text):
            checked += 1
            assert _TOKEN_RE.search(text) is None, text
    assert checked > 1000  # the property was exercised where the fast path skips


def test_no_character_outside_ascii_matches_bearer_ignoring_case() -> None:
    # Why str.lower() is enough to look for "bearer": re.IGNORECASE maps no other character onto them.
    for letter in "bear":
        pattern = re.compile(f"(?i:{letter})")
        others = [
            c for c in map(chr, range(sys.maxunicode + 1)) if pattern.fullmatch(c) and c.lower() != letter
        ]
        assert others == []
