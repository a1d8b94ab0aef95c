"""`box-mcp emulator` hands out download and upload URLs on the origin its client used (or --public-url),
not on its bind address, and a busy port fails before it announces anything: the real command each time."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from box_sdk_gen import (
    BoxClient,
    BoxDeveloperTokenAuth,
    UploadFileAttributes,
    UploadFileAttributesParentField,
)

from box_mcp.cli import build_parser

from .conftest import network_session

README = "Engineering/README.md"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_", "XDG_"))}
    return env | {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}


@contextmanager
def emulator_command(tmp_path: Path, *flags: str) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """Run `box-mcp emulator --memory --port 0 FLAGS`; yield its announced URL, credentials and lines."""
    command = [sys.executable, "-m", "box_mcp.cli", "emulator", "--memory", "--port", "0", *flags]
    proc = subprocess.Popen(  # noqa: S603
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(tmp_path)
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip(), proc.stdout.readline().strip()]
        if "--public-url" in flags:
            lines.append(proc.stdout.readline().strip())
        assert lines[0].startswith("Box emulator serving at http://127.0.0.1:"), lines
        url = lines[0].removeprefix("Box emulator serving at ")
        credentials = json.loads(Path(lines[1].removeprefix("credentials: ")).read_text())
        yield url, credentials, lines
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def _admin(credentials: dict[str, Any]) -> dict[str, str]:
    token = next(u["developer_token"] for u in credentials["users"] if u["login"].startswith("ada"))
    return {"Authorization": f"Bearer {token}"}


def test_a_request_through_another_host_name_gets_download_and_upload_urls_on_that_origin(
    tmp_path: Path,
) -> None:
    with emulator_command(tmp_path) as (url, credentials, _):
        auth = _admin(credentials)
        proxied = auth | {"Host": "box.internal:9443", "X-Forwarded-Proto": "https"}
        readme = credentials["files"][README]
        with httpx2.Client(base_url=url, timeout=10) as http:
            download = http.get(f"/2.0/files/{readme}/content", headers=proxied)
            upload = http.request(
                "OPTIONS",
                "/2.0/files/content",
                headers=proxied,
                json={"name": "new.txt", "parent": {"id": "0"}, "size": 3},
            )
            session = http.post(
                "/api/2.0/files/upload_sessions",
                headers=proxied,
                json={"folder_id": "0", "file_size": 30_000_000, "file_name": "big.bin"},
            )
            direct = http.get(f"/2.0/files/{readme}/content", headers=auth)
            # The bind address still serves the link a proxied client was given (the path is what counts).
            fetched = http.get(httpx2.URL(download.headers["location"]).path)
    # X-Forwarded-Proto from loopback is the proxy's word (uvicorn trusts 127.0.0.1), so the scheme follows.
    assert download.status_code == 302
    assert download.headers["location"].startswith("https://box.internal:9443/dl/")
    assert upload.json()["upload_url"].startswith("https://box.internal:9443/api/2.0/files/content?")
    assert session.status_code == 201, session.text
    endpoints = session.json()["session_endpoints"]
    assert len(endpoints) == 7 and all(
        v.startswith("https://box.internal:9443/api/2.0/files/upload_sessions/") for v in endpoints.values()
    ), endpoints
    assert direct.headers["location"].startswith(f"{url}/dl/")
    assert fetched.status_code == 200 and fetched.content.startswith(b"# ")


def test_a_host_header_unfit_for_a_url_falls_back_to_the_listen_address(tmp_path: Path) -> None:
    with emulator_command(tmp_path) as (url, credentials, _):
        readme = credentials["files"][README]
        with httpx2.Client(base_url=url, timeout=10) as http:
            download = http.get(
                f"/2.0/files/{readme}/content", headers=_admin(credentials) | {"Host": "evil.example/x?y"}
            )
    assert download.headers["location"].startswith(f"{url}/dl/")


def test_public_url_wins_over_the_request_origin(tmp_path: Path) -> None:
    with emulator_command(tmp_path, "--public-url", "http://emulator:8088/") as (url, credentials, lines):
        readme = credentials["files"][README]
        with httpx2.Client(base_url=url, timeout=10) as http:
            download = http.get(
                f"/2.0/files/{readme}/content", headers=_admin(credentials) | {"Host": "box.internal:9443"}
            )
    assert lines[2] == "public URL: http://emulator:8088 (download and upload URLs use it)"
    assert download.headers["location"].startswith("http://emulator:8088/dl/")
    assert credentials["base_url"] == "http://emulator:8088"


def test_the_official_sdk_downloads_through_another_name_for_the_emulator(tmp_path: Path) -> None:
    # localhost is another name for the bind address 127.0.0.1: the SDK is sent back to the name it used.
    with emulator_command(tmp_path) as (url, credentials, _):
        public = url.replace("127.0.0.1", "localhost")
        token = _admin(credentials)["Authorization"].removeprefix("Bearer ")
        client = BoxClient(BoxDeveloperTokenAuth(token=token), network_session=network_session(public))
        readme = credentials["files"][README]
        body = client.downloads.download_file(readme).read()
        uploaded = client.uploads.upload_file(
            UploadFileAttributes(name="sdk.txt", parent=UploadFileAttributesParentField(id="0")),
            io.BytesIO(b"via the SDK"),
        )
        with httpx2.Client(timeout=10) as http:
            location = http.get(f"{public}/2.0/files/{readme}/content", headers=_admin(credentials)).headers[
                "location"
            ]
    assert location.startswith(f"{public}/dl/")
    assert body.startswith(b"# ")
    assert uploaded.entries is not None and uploaded.entries[0].size == len(b"via the SDK")


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("emulator:8088", "is not an absolute http:// or https:// URL"),
        ("ftp://emulator", "is not an absolute http:// or https:// URL"),
        ("http://emulator:8088/box", "has a path, query or fragment"),
        ("http://emulator:8088?x=1", "has a path, query or fragment"),
        ("http://user@emulator:8088", "holds user info"),
        ("http://emulator:70000", "is not a URL"),
    ],
)
def test_a_public_url_that_is_not_an_origin_is_refused(
    capsys: pytest.CaptureFixture[str], given: str, problem: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["emulator", "--public-url", given])
    assert exit_.value.code == 2
    assert f"argument --public-url: {given!r} {problem}" in capsys.readouterr().err


def test_the_command_refuses_a_public_url_with_a_path_before_serving(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "box_mcp.cli",
            "emulator",
            "--memory",
            "--port",
            "0",
            "--public-url",
            "http://emulator:8088/box",
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "'http://emulator:8088/box' has a path, query or fragment" in done.stderr


def test_a_busy_port_is_one_line_and_exit_2_before_anything_says_serving(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "box_mcp.cli", "emulator", "--memory", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_env(tmp_path),
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"box-mcp emulator: port {port} on 127.0.0.1 is busy (Address already in use); pick another, or 0 "
        "for any\n"
    )
