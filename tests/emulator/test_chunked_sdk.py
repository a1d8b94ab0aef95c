"""Chunked uploads through the SDK's upload_big_file (its digest and part checks must pass) and raw checks."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Callable

import httpx2 as httpx
from box_sdk_gen import BoxClient

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]
SIZE = 20_000_000 + 123_457  # just over Box's chunked-upload minimum, with a short last part


def test_upload_big_file_round_trips(sdk: Sdk, box: RunningEmulator) -> None:
    data = os.urandom(SIZE)
    client = sdk("ada")
    file = client.chunked_uploads.upload_big_file(
        io.BytesIO(data), "big.bin", SIZE, box.credentials["folders"]["Engineering"]
    )
    assert file.size == SIZE and file.sha_1 == hashlib.sha1(data).hexdigest()  # noqa: S324
    stream = client.downloads.download_file(file.id, range=f"bytes={SIZE - 10}-{SIZE - 1}")
    assert stream is not None and stream.read() == data[-10:]
    version = client.chunked_uploads.upload_big_file_version(file.id, io.BytesIO(data[::-1]), SIZE)
    assert version is not None and version.sha_1 == hashlib.sha1(data[::-1]).hexdigest()  # noqa: S324


def _session(http: httpx.Client, box: RunningEmulator, headers: dict[str, str]) -> dict[str, object]:
    reply = http.post(
        "/api/2.0/files/upload_sessions",
        headers=headers,
        json={"folder_id": "0", "file_size": SIZE, "file_name": "raw.bin"},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_wrong_content_range_digest_and_small_files_get_box_errors(box: RunningEmulator) -> None:
    headers = {"Authorization": f"Bearer {box.token('ada')}"}
    with httpx.Client(base_url=box.base_url) as http:
        session = _session(http, box, headers)
        url = session["session_endpoints"]["upload_part"]  # type: ignore[index]
        assert url.startswith(box.base_url)
        part = b"x" * int(session["part_size"])  # type: ignore[call-overload]
        digest = "sha=" + base64.b64encode(hashlib.sha1(part).digest()).decode()  # noqa: S324
        misaligned = http.put(
            url,
            content=part,
            headers={**headers, "Digest": digest, "Content-Range": f"bytes 1-{len(part)}/{SIZE}"},
        )
        assert misaligned.status_code == 416
        bad_digest = http.put(
            url,
            content=part,
            headers={**headers, "Digest": "sha=AAAA", "Content-Range": f"bytes 0-{len(part) - 1}/{SIZE}"},
        )
        assert bad_digest.status_code == 400 and bad_digest.json()["code"] == "bad_digest"
        good = http.put(
            url,
            content=part,
            headers={**headers, "Digest": digest, "Content-Range": f"bytes 0-{len(part) - 1}/{SIZE}"},
        )
        assert good.status_code == 200 and good.json()["part"]["offset"] == 0
        early = http.post(
            session["session_endpoints"]["commit"],
            headers={**headers, "Digest": digest},  # type: ignore[index]
            json={"parts": [good.json()["part"]]},
        )
        assert early.status_code == 400 and early.json()["code"] == "bad_request"
        aborted = http.delete(session["session_endpoints"]["abort"], headers=headers)  # type: ignore[index]
        assert aborted.status_code == 204
        small = http.post(
            "/api/2.0/files/upload_sessions",
            headers=headers,
            json={"folder_id": "0", "file_size": 1000, "file_name": "small.bin"},
        )
        assert small.status_code == 400 and small.json()["code"] == "file_size_too_small"
