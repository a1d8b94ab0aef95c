"""Bad input gets Box's error body with the right status and code, never a 500 or a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from box_mcp.emulator.faults import FaultRule
from box_mcp.emulator.testing import RunningEmulator, running_emulator


@pytest.fixture
def http(box: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=box.base_url, headers={"Authorization": f"Bearer {box.token('ada')}"}
    ) as client:
        yield client


def assert_box_error(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert body["type"] == "error" and body["status"] == status and body["code"] == code
    assert body["request_id"] and "Traceback" not in reply.text
    return body


def test_malformed_json_is_bad_request(http: httpx.Client) -> None:
    reply = http.post("/2.0/folders", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_box_error(reply, 400, "bad_request")


def test_json_that_is_not_an_object_is_bad_request(http: httpx.Client) -> None:
    assert_box_error(http.post("/2.0/folders", json=["a"]), 400, "bad_request")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("a/b", "item_name_invalid"),
        ("a\\b", "item_name_invalid"),
        ("bell\x07", "item_name_invalid"),
        (" padded ", "item_name_invalid"),
        ("..", "item_name_invalid"),
        ("x" * 256, "item_name_too_long"),
    ],
)
def test_bad_names_are_refused(http: httpx.Client, name: str, code: str) -> None:
    reply = http.post("/2.0/folders", json={"name": name, "parent": {"id": "0"}})
    assert_box_error(reply, 400, code)


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "boxboundary123"
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_attributes_after_file_is_metadata_after_file_contents(http: httpx.Client) -> None:
    attributes = json.dumps({"name": "late.txt", "parent": {"id": "0"}}).encode()
    body, ctype = _multipart([("file", "late.txt", b"data"), ("attributes", None, attributes)])
    reply = http.post("/api/2.0/files/content", content=body, headers={"Content-Type": ctype})
    assert_box_error(reply, 400, "metadata_after_file_contents")


def test_missing_attributes_or_file_part_is_bad_request(http: httpx.Client) -> None:
    body, ctype = _multipart([("file", "x.txt", b"data")])
    assert_box_error(
        http.post("/api/2.0/files/content", content=body, headers={"Content-Type": ctype}), 400, "bad_request"
    )
    attributes = json.dumps({"name": "x.txt", "parent": {"id": "0"}}).encode()
    body, ctype = _multipart([("attributes", None, attributes)])
    assert_box_error(
        http.post("/api/2.0/files/content", content=body, headers={"Content-Type": ctype}), 400, "bad_request"
    )


def test_upload_attributes_that_are_not_json_is_bad_request(http: httpx.Client) -> None:
    body, ctype = _multipart([("attributes", None, b"{oops"), ("file", "x.txt", b"data")])
    assert_box_error(
        http.post("/api/2.0/files/content", content=body, headers={"Content-Type": ctype}), 400, "bad_request"
    )


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=-1", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("offset=-5", "invalid_offset"),
        ("offset=abc", "invalid_offset"),
        ("offset=10000", "invalid_offset"),
    ],
)
def test_bad_limit_and_offset(http: httpx.Client, query: str, code: str) -> None:
    assert_box_error(http.get(f"/2.0/folders/0/items?{query}"), 400, code)


def test_limit_over_the_maximum_is_clamped(http: httpx.Client) -> None:
    reply = http.get("/2.0/folders/0/items?limit=5000")
    assert reply.status_code == 200 and reply.json()["limit"] == 1000


def test_unknown_field_is_refused_with_its_name(http: httpx.Client) -> None:
    body = assert_box_error(http.get("/2.0/folders/0/items?fields=name,favourite_colour"), 400, "bad_request")
    assert "favourite_colour" in body["message"]


@pytest.mark.parametrize("version", ["2019.0", "", "latest"])
def test_unsupported_box_version_is_invalid_api_version(http: httpx.Client, version: str) -> None:
    assert_box_error(http.get("/2.0/users/me", headers={"box-version": version}), 400, "invalid_api_version")


def test_supported_box_version_is_accepted_and_wrong_path_version_is_404(http: httpx.Client) -> None:
    assert http.get("/2.0/users/me", headers={"box-version": "2024.0"}).status_code == 200
    assert_box_error(http.get("/3.0/users/me"), 404, "not_found")


def test_absurd_header_is_refused(http: httpx.Client) -> None:
    reply = http.get("/2.0/users/me", headers={"X-Padding": "a" * 20000})
    assert_box_error(reply, 431, "request_header_fields_too_large")


def test_wrong_method_is_405(http: httpx.Client) -> None:
    assert_box_error(http.patch("/2.0/users/me"), 405, "method_not_allowed")


def test_if_none_match_gives_304(http: httpx.Client, box: RunningEmulator) -> None:
    folder = box.credentials["folders"]["HR"]
    etag = http.get(f"/2.0/folders/{folder}").json()["etag"]
    assert http.get(f"/2.0/folders/{folder}", headers={"If-None-Match": etag}).status_code == 304


def test_rate_limit_answers_429_with_retry_after() -> None:
    with running_emulator(rate_limits=True) as emu:
        assert emu.emulator.rate_limiter is not None
        emu.emulator.rate_limiter.limits["default"] = [(3, 60.0)]
        with httpx.Client(
            base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.token()}"}
        ) as client:
            statuses = [client.get("/2.0/users/me").status_code for _ in range(4)]
            limited = client.get("/2.0/users/me")
            other = client.get("/2.0/users/me", headers={"Authorization": f"Bearer {emu.token('bob')}"})
    assert statuses == [200, 200, 200, 429]
    assert_box_error(limited, 429, "rate_limit_exceeded")
    assert int(limited.headers["Retry-After"]) >= 1
    assert other.status_code == 200  # limits are per user


def test_injected_faults_answer_box_errors_on_matching_paths_only() -> None:
    faults = [FaultRule(pattern=r"^/2\.0/folders", rate_503=1.0, retry_after=2)]
    with running_emulator(rate_limits=False, faults=faults) as emu:
        with httpx.Client(
            base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.token()}"}
        ) as client:
            failed = client.get("/2.0/folders/0")
            fine = client.get("/2.0/users/me")
    assert_box_error(failed, 503, "unavailable")
    assert failed.headers["Retry-After"] == "2"
    assert fine.status_code == 200


def test_fault_rule_parses_cli_syntax() -> None:
    rule = FaultRule.parse("/2.0/files:429=0.25,503=0.5,latency=20")
    assert (rule.pattern, rule.rate_429, rule.rate_503, rule.latency_ms) == ("/2.0/files", 0.25, 0.5, 20.0)
    with pytest.raises(ValueError, match="unknown fault option"):
        FaultRule.parse("x:teapot=1")
    # deprecated=<Unix time>: answers carry Box's `Deprecation: date="..."` with that date
    assert FaultRule.parse("/2.0/files:deprecated=2000000000").deprecation == "Wed, 18 May 2033 03:33:20 GMT"


def test_unexpected_failure_is_a_plain_500_without_traceback(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from box_mcp.emulator.routes import users

    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(users, "user_json", explode)
    reply = http.get("/2.0/users/me")
    assert_box_error(reply, 500, "internal_server_error")
    assert "secret internals" not in reply.text


def test_a_failing_event_listener_never_fails_the_request(box: RunningEmulator, http: httpx.Client) -> None:
    def explode(*_: Any) -> None:
        raise RuntimeError("listener bug")

    box.emulator.store.listeners.append(explode)
    assert http.post("/2.0/folders", json={"name": "ok", "parent": {"id": "0"}}).status_code == 201


def test_two_file_parts_or_a_broken_body_are_bad_requests(http: httpx.Client) -> None:
    attributes = json.dumps({"name": "two.txt", "parent": {"id": "0"}}).encode()
    body, ctype = _multipart(
        [("attributes", None, attributes), ("file", "a.txt", b"a"), ("file", "b.txt", b"b")]
    )
    assert_box_error(
        http.post("/api/2.0/files/content", content=body, headers={"Content-Type": ctype}), 400, "bad_request"
    )
    broken = http.post(
        "/api/2.0/files/content",
        content=b"--nope\r\ngarbage",
        headers={"Content-Type": "multipart/form-data; boundary=boxboundary123"},
    )
    assert_box_error(broken, 400, "bad_request")
    assert http.get("/2.0/folders/0/items").json()["total_count"] == 5  # nothing was created
