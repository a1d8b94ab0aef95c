"""Each redaction rule, applied alone and nested."""

from __future__ import annotations

import base64
import hashlib

from box_mcp.audit.redact import MASK, TOKEN_MASK, mask_tokens, redact

BOX_TOKEN = "Tq9vLm3XzR8bN2cW5yH7kJ4pF6gD1sA0"  # 32 alphanumerics, as Box issues them


def test_content_field_becomes_its_sha256_and_size() -> None:
    out = redact({"content": "hello world"})
    assert out == {
        "content": {"redacted": "content", "sha256": hashlib.sha256(b"hello world").hexdigest(), "bytes": 11}
    }


def test_base64_content_is_hashed_as_the_decoded_bytes() -> None:
    raw = b"\x00\x01binary file\xff"
    out = redact({"content_base64": base64.b64encode(raw).decode()})
    assert out["content_base64"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert out["content_base64"]["bytes"] == len(raw)


def test_text_and_bytes_payloads_anywhere_are_digests() -> None:
    out = redact({"upload": {"text": "secret plan", "parts": [b"abc"]}})
    assert out["upload"]["text"]["redacted"] == "content"
    assert out["upload"]["parts"][0] == {
        "redacted": "content",
        "sha256": hashlib.sha256(b"abc").hexdigest(),
        "bytes": 3,
    }


def test_long_string_is_cut_and_hashed() -> None:
    long = "x" * 300 + "END"
    out = redact({"description": long})["description"]
    assert out["cut"] == "x" * 64
    assert out["chars"] == 303
    assert out["sha256"] == hashlib.sha256(long.encode()).hexdigest()
    assert "END" not in str(out)


def test_short_strings_and_scalars_are_kept() -> None:
    args = {"file_id": "12345", "name": "Q3 plan.docx", "recursive": True, "limit": 100, "ratio": 0.5}
    assert redact(args) == args


def test_builtin_secret_field_names_are_masked_without_hash() -> None:
    out = redact({"password": "hunter2", "Client-Secret": "abc", "nested": [{"access_token": "t"}]})
    assert out == {"password": MASK, "Client-Secret": MASK, "nested": [{"access_token": MASK}]}


def test_fields_a_policy_marks_secret_are_masked() -> None:
    out = redact({"ssn": "123-45-6789", "note": "ok"}, secret_fields=["SSN"])
    assert out == {"ssn": MASK, "note": "ok"}


def test_bearer_token_inside_a_string_is_masked() -> None:
    text = f"curl -H 'Authorization: Bearer {BOX_TOKEN}' https://api.box.com"
    out = mask_tokens(text)
    assert BOX_TOKEN not in out
    assert TOKEN_MASK in out and out.startswith("curl -H")


def test_jwt_and_bare_box_token_values_are_masked() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLWJ5dGVz"
    out = redact({"note": f"use {jwt}", "value": BOX_TOKEN})
    assert out == {"note": f"use {TOKEN_MASK}", "value": TOKEN_MASK}


def test_hex_digests_and_numeric_ids_are_not_mistaken_for_tokens() -> None:
    md5 = hashlib.md5(b"x").hexdigest()  # noqa: S324 - a sample digest, not security
    sha1 = hashlib.sha1(b"x").hexdigest()  # noqa: S324
    args = {"md5": md5, "sha1": sha1, "id": "1234567890123456789012345678901234"}
    assert redact(args) == args
