"""Writes that fail after Box may have done them: what is retried, what is reported, and how it is worded."""

from __future__ import annotations

import httpx2
import pytest

from box_mcp.box import BoxAPIError, BoxTransportError

from .test_retries import sequence
from .test_upload import FakeUploads, _err

pytestmark = pytest.mark.anyio

HINT = "list the file's comments (list_file_comments) to see whether it was posted"


async def test_a_comment_answered_502_says_it_may_be_posted_and_how_to_check(make_client, box_error):
    handler = sequence(box_error(502, "bad_gateway"), httpx2.Response(201, json={"id": "dup"}))
    client = make_client(handler).bound(idempotent=False, check_hint=HINT)
    with pytest.raises(BoxAPIError) as info:
        await client.post("/comments", json={"item": {"type": "file", "id": "1"}, "message": "hi"})
    text = str(info.value)
    assert len(handler.seen) == 1
    assert "Box may have made this change before it failed." in text
    assert text.endswith(f"Fix: do not simply retry; first {HINT}.")
    assert "back-off" not in text  # Box's table advice would post the comment twice


async def test_a_create_answered_500_without_a_hint_still_says_check_first(make_client, box_error):
    handler = sequence(box_error(500, "internal_server_error"))
    client = make_client(handler)
    with pytest.raises(BoxAPIError) as info:
        await client.post("/folders", json={"name": "a", "parent": {"id": "0"}})
    assert "retry using exponential back-off" not in str(info.value).lower()
    assert "Box may have made this change before it failed." in str(info.value)
    assert info.value.status == 500 and info.value.code == "internal_server_error"


async def test_a_write_the_tool_declares_idempotent_is_retried_on_503(make_client, box_error):
    for method in ("POST", "PUT", "DELETE"):
        handler = sequence(box_error(503, "unavailable"), httpx2.Response(200, json={"ok": method}))
        client = make_client(handler).bound(idempotent=True)
        assert await client.request(method, "/files/1/metadata/enterprise/t", json={}) == {"ok": method}
        assert len(handler.seen) == 2


async def test_a_put_the_tool_declares_not_idempotent_is_not_retried(make_client, box_error):
    handler = sequence(box_error(503, "unavailable"), httpx2.Response(200, json={}))
    client = make_client(handler).bound(idempotent=False)
    with pytest.raises(BoxAPIError, match="may have made this change"):
        await client.put("/files/1", json={"name": "b"})
    assert len(handler.seen) == 1


async def test_a_read_is_retried_even_for_a_tool_declared_not_idempotent(make_client, box_error):
    handler = sequence(box_error(503, "unavailable"), httpx2.Response(200, json={"id": "1"}))
    client = make_client(handler).bound(idempotent=False)
    assert await client.get("/files/1") == {"id": "1"}
    assert len(handler.seen) == 2


async def test_a_delete_whose_retry_finds_404_after_a_503_is_done(make_client, box_error):
    handler = sequence(box_error(503, "unavailable"), box_error(404, "not_found"))
    client = make_client(handler).bound(idempotent=True)
    assert await client.delete("/files/1") is None
    assert len(handler.seen) == 2


async def test_a_delete_that_is_simply_not_found_stays_a_404(make_client, box_error):
    handler = sequence(box_error(404, "not_found"))
    client = make_client(handler).bound(idempotent=True)
    with pytest.raises(BoxAPIError) as info:
        await client.delete("/files/1")
    assert info.value.status == 404


async def test_a_412_after_a_503_says_the_first_attempt_may_have_made_the_change(make_client, box_error):
    handler = sequence(box_error(503, "unavailable"), box_error(412, "precondition_failed"))
    client = make_client(handler).bound(idempotent=True, check_hint="call get_file_details on the file")
    with pytest.raises(BoxAPIError) as info:
        await client.put("/files/1", json={"name": "b"}, if_match="3")
    text = str(info.value)
    assert info.value.status == 412
    assert "An earlier attempt failed (Box said 503) but may have made this change" in text
    assert text.endswith("Fix: call get_file_details on the file before trying again.")


async def test_a_read_that_keeps_failing_says_how_many_attempts_over_how_long(
    make_client, fake_time, box_error
):
    handler = sequence(box_error(503, "unavailable"))
    client = make_client(handler)
    with pytest.raises(BoxAPIError) as info:
        await client.get("/files/1")
    assert len(handler.seen) == 5 and len(fake_time.sleeps) == 4
    assert f"Gave up after 5 attempts over {sum(fake_time.sleeps):.1f} s." in str(info.value)


async def test_a_single_failure_says_nothing_about_attempts(make_client, box_error):
    handler = sequence(box_error(404, "not_found"))
    client = make_client(handler)
    with pytest.raises(BoxAPIError) as info:
        await client.get("/files/1")
    assert "attempt" not in str(info.value)


async def test_an_upload_whose_precheck_cannot_tell_is_reported_not_sent_twice(make_client):
    box = FakeUploads()
    box.fail_after_work.append(_err(503, "unavailable"))  # the file lands, the answer is lost

    async def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "OPTIONS":  # the pre-check itself cannot get an answer
            box.requests.append(request)
            return _err(503, "unavailable")
        return await box(request)

    client = make_client(handler)
    with pytest.raises(BoxAPIError) as info:
        await client.upload(parent_id="0", name="once.txt", source=b"only once")
    assert len(box.files) == 1
    assert [r.method for r in box.requests].count("POST") == 1
    assert "Box may have made this change before it failed, and box-mcp could not check." in str(info.value)


async def test_an_upload_whose_precheck_is_rate_limited_is_reported_not_sent_twice(make_client):
    box = FakeUploads()
    box.fail_after_work.append(_err(502, "bad_gateway"))

    async def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "OPTIONS":
            box.requests.append(request)
            return httpx2.Response(429, json={"type": "error", "status": 429, "code": "rate_limit_exceeded"})
        return await box(request)

    client = make_client(handler)
    with pytest.raises(BoxAPIError, match="could not check"):
        await client.upload(parent_id="0", name="once.txt", source=b"only once")
    assert len(box.files) == 1


async def test_connection_refused_names_the_url_and_the_setting(make_client):
    handler = sequence(httpx2.ConnectError("[Errno 111] Connection refused"))
    client = make_client(handler, base_url="http://127.0.0.1:9", max_attempts=2)
    with pytest.raises(BoxTransportError) as info:
        await client.get("/users/me")
    assert str(info.value).startswith(
        "GET /2.0/users/me: cannot reach Box at http://127.0.0.1:9/ (connection refused) after 2 attempts"
    )
    assert str(info.value).endswith(
        "Fix: check --box-url / BOX_MCP_BOX_URL, or that the emulator is running (box-mcp emulator)."
    )


async def test_a_failure_on_a_download_link_never_shows_its_path_or_query(make_client, caplog):
    secret = "b1!SIGNED-TOKEN-abc"

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.host == "api.box.com":
            location = f"https://dl.boxcloud.com/d/1/{secret}/download?sig={secret}"
            return httpx2.Response(302, headers={"Location": location})
        raise httpx2.ReadError("reset")

    client = make_client(handler, max_attempts=2)
    caplog.set_level("INFO", logger="box_mcp.box")
    with pytest.raises(BoxTransportError) as info:
        async with client.download("1"):
            pass
    assert "SIGNED-TOKEN" not in str(info.value)
    assert "https://dl.boxcloud.com/…" in str(info.value)
    assert not [r for r in caplog.records if "SIGNED-TOKEN" in r.getMessage()]


async def test_a_url_quoted_in_an_error_body_loses_its_query_and_token_path(make_client):
    body = "<html><title>Expired: https://dl.boxcloud.com/d/1/TOKEN42/download?sig=TOKEN42</title></html>"

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(403, text=body, headers={"content-type": "text/html"})

    client = make_client(handler)
    with pytest.raises(BoxAPIError) as info:
        await client.get("/files/1")
    assert "TOKEN42" not in str(info.value)
    assert "Expired: https://dl.boxcloud.com/…" in str(info.value)


async def test_a_final_answer_after_a_retry_says_which_attempt_got_it(make_client, fake_time, box_error):
    handler = sequence(box_error(503, "unavailable"), box_error(409, "item_name_in_use", "taken"))
    client = make_client(handler).bound(idempotent=True)
    with pytest.raises(BoxAPIError) as info:
        await client.put("/files/1", json={"name": "b"})
    assert info.value.status == 409
    said = f"Box gave this answer to attempt 2, {fake_time.sleeps[0]:.1f} s after the first (it failed)."
    assert said in str(info.value)
    assert "Gave up" not in str(info.value)
