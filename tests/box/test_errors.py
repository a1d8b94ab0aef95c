"""Box error bodies (JSON, OAuth, HTML, empty) become one BoxAPIError a model can act on."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import httpx2

from box_mcp.box import BoxAPIError
from box_mcp.box.error_table import load_error_table, lookup, parse_error_table
from box_mcp.box.errors import error_from_response

SEED = "seeds/000_335c90bbf58123e3.txt"  # in the shared directory (tests/conftest.py shared_path)


def test_committed_error_table_matches_boxs_error_page(shared_file: Callable[[str], Path]) -> None:
    assert list(load_error_table()) == parse_error_table(shared_file(SEED).read_text(encoding="utf-8"))


def test_error_table_covers_the_codes_tools_meet():
    codes = {e["code"] for e in load_error_table()}
    for code in (
        "bad_digest",
        "item_name_in_use",
        "not_found",
        "precondition_failed",
        "rate_limit_exceeded",
        "unavailable",
        "folder_not_empty",
        "trashed",
    ):
        assert code in codes
    assert all(e["fix"] for e in load_error_table())


def test_a_code_with_several_entries_picks_the_closest_message():
    entry = lookup(400, "invalid_grant", "Invalid refresh token.")
    assert entry is not None and "refresh token" in entry["fix"]
    entry = lookup(400, "invalid_grant", "Please check the jti claim. A unique jti value is required.")
    assert entry is not None and "jti" in entry["fix"]


def test_an_unknown_5xx_takes_the_retry_advice():
    entry = lookup(504, "gateway_timeout")
    assert entry is not None and "back-off" in entry["fix"]


def test_a_409_reads_well_for_a_model_and_names_the_conflict():
    body = {
        "type": "error",
        "status": 409,
        "code": "item_name_in_use",
        "message": "Item with the same name already exists",
        "request_id": "abc123",
        "help_url": "https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/",
        "context_info": {"conflicts": [{"type": "folder", "id": "77", "name": "Reports"}]},
    }
    err = error_from_response(httpx2.Response(409, json=body))
    assert err.status == 409 and err.code == "item_name_in_use" and err.request_id == "abc123"
    assert err.conflicts == [{"type": "folder", "id": "77", "name": "Reports"}]
    text = str(err)
    assert text.startswith("Box said 409 item_name_in_use: Item with the same name already exists")
    assert "folder 77 ('Reports')" in text
    assert "(request id abc123)" in text
    assert "Fix: This error is produced when a resource with the same name already exists." in text


def test_a_file_conflict_given_as_an_object_is_accepted():
    body = {
        "type": "error",
        "status": 409,
        "code": "item_name_in_use",
        "message": "x",
        "context_info": {"conflicts": {"type": "file", "id": "5", "sha1": "ab"}},
    }
    err = error_from_response(httpx2.Response(409, json=body))
    assert err.conflicts == [{"type": "file", "id": "5", "sha1": "ab"}]


def test_an_html_error_page_from_a_proxy_is_summarised():
    page = "<html><head><title>502 Bad Gateway</title><script>x()</script></head><body>nginx</body></html>"
    response = httpx2.Response(502, content=page.encode(), headers={"content-type": "text/html"})
    err = error_from_response(response)
    assert err.code == "bad_gateway"
    assert "non-JSON answer (text/html): 502 Bad Gateway" in str(err)
    assert "<" not in str(err)
    assert "back-off" in (err.fix or "")


def test_an_empty_error_body_uses_the_table_message():
    err = error_from_response(httpx2.Response(412, headers={"box-request-id": "rq9"}))
    assert err.code == "precondition_failed"
    assert "The resource has been modified" in err.message
    assert err.request_id == "rq9"


def test_an_oauth_error_body_is_understood():
    body = {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    err = error_from_response(httpx2.Response(400, json=body))
    assert err.code == "invalid_grant"
    assert "refresh token" in (err.fix or "")


def test_huge_untrusted_messages_are_clipped():
    body = {"type": "error", "status": 400, "code": "bad_request", "message": "A" * 10_000}
    err = error_from_response(httpx2.Response(400, content=json.dumps(body).encode()))
    assert len(err.message) <= 400


def test_control_characters_from_box_never_reach_the_error_text():
    # Terminal escapes and bidi overrides in Box's text could rewrite what a person sees on a terminal.
    body = {
        "type": "error",
        "status": 409,
        "code": "item_name_in_use\x1b[2J",
        "message": "name \x1b]0;pwned\x07taken\u202egnp.exe",
        "request_id": "r\x00q",
        "context_info": {"conflicts": [{"type": "file", "id": "5", "name": "a\x1b[31mb\u2066"}]},
    }
    text = str(error_from_response(httpx2.Response(409, json=body)))
    assert text.isprintable(), repr(text)
    assert "name ]0;pwnedtakengnp.exe" in text and "'a[31mb'" in text and "request id rq" in text


def test_box_api_error_survives_pickling():
    err = BoxAPIError(429, "rate_limit_exceeded", "slow down", "r1", {}, None, "wait", retry_after=2.0)
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301  (our own object)
    assert str(copy) == str(err) and copy.retry_after == 2.0
