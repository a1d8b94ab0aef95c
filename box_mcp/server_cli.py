"""`box-mcp serve` (stdio or streamable HTTP) and `box-mcp demo` (emulator + server + a scripted session)."""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio

from box_mcp.config import Settings
from box_mcp.errors import ConfigError


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    """The deployment flags; each has an environment twin, and a flag given wins over its variable."""
    add = parser.add_argument
    add(
        "--transport",
        choices=["stdio", "http"],
        help="stdio (IDE clients) or http [BOX_MCP_TRANSPORT; stdio]",
    )
    add("--host", help="HTTP bind address [BOX_MCP_HOST; 127.0.0.1]")
    add("--port", type=int, help="HTTP port [BOX_MCP_PORT; 8000]")
    add("--box-url", help="a Box emulator's URL; real Box when unset [BOX_MCP_BOX_URL]")
    add("--policy", type=Path, help="policy YAML [BOX_MCP_POLICY]")
    add("--agent", help="agent of stdio / loopback HTTP callers [BOX_MCP_AGENT; the policy's default_agent]")
    add("--data-dir", type=Path, help="vault, audit and state [BOX_MCP_DATA_DIR; per-user data dir]")
    add("--toolsets", type=_csv, help="comma list of toolsets, or 'all' [BOX_MCP_TOOLSETS]")
    add("--tools", type=_csv, help="comma list of extra tools to expose [BOX_MCP_TOOLS]")
    add("--exclude-tools", type=_csv, help="comma list of tools to hide [BOX_MCP_EXCLUDE_TOOLS]")
    add(
        "--read-only",
        action="store_true",
        default=None,
        help="expose read tools only; wins over everything [BOX_MCP_READ_ONLY]",
    )
    add(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        help="extra Host value (host:port) accepted over HTTP, e.g. behind a proxy [BOX_MCP_ALLOWED_HOSTS]",
    )
    add(
        "--allowed-dir",
        dest="allowed_dirs",
        action="append",
        type=Path,
        help="directory download_file/upload_file may use over stdio; repeatable [BOX_MCP_ALLOWED_DIRS]",
    )


def settings_from_args(args: argparse.Namespace, **extra: Any) -> Settings:
    names = (
        "transport",
        "host",
        "port",
        "box_url",
        "policy",
        "agent",
        "data_dir",
        "toolsets",
        "tools",
        "exclude_tools",
        "read_only",
        "allowed_dirs",
    )
    flags: dict[str, Any] = {name: getattr(args, name, None) for name in names}
    for name in ("allowed_dirs", "allowed_hosts"):  # repeatable flags arrive as lists
        given = getattr(args, name, None)
        flags[name] = tuple(given) if given is not None else None
    return Settings.load(**flags, **extra)


async def _serve(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        if settings.transport == "stdio":
            from box_mcp.server import open_deployment

            server, _ = await open_deployment(settings, stack, transport="stdio")
            await server.run_stdio_async()
            return
        import uvicorn

        from box_mcp.http.app import create_http_app
        from box_mcp.http.serving import bind, uvicorn_limits
        from box_mcp.server import open_deployment

        server, hooks = await open_deployment(settings, stack, transport="http")
        app = create_http_app(
            server,
            host=settings.host,
            port=settings.port,
            authenticate=hooks.authenticate,
            allowed_hosts=settings.allowed_hosts,
        )
        sock = bind(settings.port, settings.host)  # a busy port is a ConfigError before we claim to serve
        stack.callback(sock.close)
        port = sock.getsockname()[1]
        print(f"box-mcp: serving MCP on http://{settings.host}:{port}/mcp", file=sys.stderr, flush=True)
        if not settings.loopback and not settings.allowed_hosts:
            print(
                "box-mcp: only loopback Host headers are accepted (DNS-rebinding defence); add "
                "--allowed-host NAME:PORT for the name remote clients use",
                file=sys.stderr,
                flush=True,
            )
        config = uvicorn.Config(app, host=settings.host, port=port, log_level="warning", lifespan="on",
                                **uvicorn_limits())
        await uvicorn.Server(config).serve(sockets=[sock])


def run_serve(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        anyio.run(_serve, settings)
    except ConfigError as exc:
        print(f"box-mcp serve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from box_mcp.http.demo import run

    try:
        return run(
            port=args.port, data_dir=args.data_dir, script=not args.no_script, script_only=args.script_only
        )
    except ConfigError as exc:
        print(f"box-mcp demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the MCP server (stdio or HTTP)",
        description="Run box-mcp. Credentials: BOX_DEVELOPER_TOKEN, or the broker's stored sign-in.",
    )
    add_serve_flags(serve)
    serve.set_defaults(func=run_serve)

    demo = subparsers.add_parser(
        "demo",
        help="try box-mcp on the built-in Box emulator",
        description="Start the Box emulator and box-mcp over HTTP, print client config, run a short session.",
    )
    demo.add_argument("--port", type=int, default=8000, help="MCP HTTP port (0 picks a free one) [8000]")
    demo.add_argument("--data-dir", type=Path, help="where the demo's emulator keeps its state")
    demo.add_argument("--no-script", action="store_true", help="skip the scripted session")
    demo.add_argument("--script-only", action="store_true", help="run the scripted session, then exit")
    demo.set_defaults(func=run_demo)
