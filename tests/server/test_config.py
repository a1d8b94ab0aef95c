"""Settings: environment first, flags win, bad values name their flag and variable, secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from box_mcp.cli import build_parser, main
from box_mcp.config import Settings
from box_mcp.errors import ConfigError
from box_mcp.server_cli import settings_from_args


def test_environment_sets_every_value_and_flags_override_it(tmp_path: Path) -> None:
    env = {
        "BOX_MCP_TRANSPORT": "http",
        "BOX_MCP_HOST": "127.0.0.1",
        "BOX_MCP_PORT": "9001",
        "BOX_MCP_BOX_URL": "http://127.0.0.1:8088/",
        "BOX_MCP_AGENT": "bot",
        "BOX_MCP_DATA_DIR": str(tmp_path),
        "BOX_MCP_TOOLSETS": "files, folders",
        "BOX_MCP_EXCLUDE_TOOLS": "delete_file",
        "BOX_MCP_READ_ONLY": "true",
        "BOX_MCP_ALLOWED_DIRS": str(tmp_path),
        "BOX_DEVELOPER_TOKEN": "tok-123",
    }
    s = Settings.load(env=env)
    assert (s.transport, s.port, s.agent, s.read_only) == ("http", 9001, "bot", True)
    assert s.box_url == "http://127.0.0.1:8088" and s.api_url == s.box_url
    assert s.upload_url == "http://127.0.0.1:8088/api"
    assert s.toolsets == ("files", "folders") and s.exclude_tools == ("delete_file",)
    assert s.allowed_dirs == (tmp_path.resolve(),)
    flagged = Settings.load(env=env, port=9002, agent="other", read_only=None)
    assert flagged.port == 9002 and flagged.agent == "other" and flagged.read_only is True


def test_real_box_is_the_default() -> None:
    s = Settings.load(env={})
    assert s.api_url == "https://api.box.com" and s.upload_url == "https://upload.box.com/api"
    assert s.transport == "stdio" and s.host == "127.0.0.1"


def test_the_developer_token_never_shows_in_repr_or_str() -> None:
    s = Settings.load(env={"BOX_DEVELOPER_TOKEN": "very-secret-token"})
    assert "very-secret-token" not in repr(s) and "very-secret-token" not in str(s)
    assert s.developer_token is not None and s.developer_token.get_secret_value() == "very-secret-token"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"BOX_MCP_PORT": "eighty"}, "BOX_MCP_PORT"),
        ({"BOX_MCP_TRANSPORT": "carrier-pigeon"}, "--transport"),
        ({"BOX_MCP_BOX_URL": "ftp://x"}, "BOX_MCP_BOX_URL"),
        ({"BOX_MCP_AGENT": "has space"}, "--agent"),
    ],
)
def test_bad_settings_are_a_config_error_naming_the_flag_and_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.load(env=env)


def test_serve_flags_parse_into_settings(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--transport",
            "http",
            "--port",
            "0",
            "--toolsets",
            "users,search",
            "--tools",
            "get_file_details",
            "--exclude-tools",
            "search_folders_by_name",
            "--read-only",
            "--allowed-dir",
            str(tmp_path),
            "--box-url",
            "http://127.0.0.1:1",
        ]
    )
    s = settings_from_args(args)
    assert s.transport == "http" and s.port == 0 and s.read_only
    assert s.toolsets == ("users", "search") and s.tools == ("get_file_details",)
    assert s.allowed_dirs == (tmp_path.resolve(),)


def test_serve_without_any_box_credential_exits_2_and_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for var in ("BOX_DEVELOPER_TOKEN", "BOX_MCP_POLICY", "BOX_CLIENT_ID", "BOX_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    code = main(
        ["serve", "--transport", "stdio", "--data-dir", str(tmp_path), "--box-url", "http://127.0.0.1:1"]
    )
    assert code == 2
    assert "BOX_DEVELOPER_TOKEN" in capsys.readouterr().err


def test_an_unknown_toolset_on_the_command_line_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["serve", "--toolsets", "nope", "--data-dir", str(tmp_path)])
    assert code == 2 and "unknown toolset 'nope'" in capsys.readouterr().err


def test_serve_on_a_busy_port_exits_2_and_says_so_without_claiming_to_serve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import socket

    for var in ("BOX_MCP_POLICY", "BOX_CLIENT_ID", "BOX_CLIENT_SECRET", "BOX_JWT_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BOX_DEVELOPER_TOKEN", "dev-token-for-a-busy-port")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(
            [
                "serve",
                "--transport",
                "http",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path),
                "--box-url",
                "http://127.0.0.1:1",
            ]
        )
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"port {port}" in err and "busy" in err and "serving MCP" not in err


def test_listening_sockets_are_tcp_so_replies_are_not_held_back_by_nagle() -> None:
    """asyncio disables Nagle (TCP_NODELAY) only on sockets whose protocol is IPPROTO_TCP; a socket
    made with protocol 0 left every keep-alive reply waiting ~40 ms for a delayed ACK."""
    import socket

    from box_mcp._serving import bind

    for host in ("127.0.0.1", "::1"):
        sock = bind(0, host)
        try:
            assert sock.proto == socket.IPPROTO_TCP
        finally:
            sock.close()
