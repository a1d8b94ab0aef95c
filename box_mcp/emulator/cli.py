"""`box-mcp emulator`: serve a local Box on a loopback port (persistent in --data-dir, or --memory)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="run the local Box emulator",
        description="Serve a local Box API, upload and OAuth endpoints on one origin.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8088, help="port to bind (default 8088)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where state, blobs and credentials.json live (default: the user data dir)",
    )
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo", help="content of a fresh store")
    parser.add_argument("--memory", action="store_true", help="keep everything in memory (nothing persists)")
    parser.add_argument("--token-ttl", type=int, default=3600, help="access token lifetime in seconds")
    parser.add_argument("--no-rate-limits", action="store_true", help="turn Box's per-user rate limits off")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="PATTERN:429=0.1,503=0.05,after503=0.05,latency=50",
        help=(
            "inject faults on paths matching the regex PATTERN, each with a probability: 429, 500, 503 "
            "answer before the request runs; after500, after502, after503 run it (its change is made) and "
            "then answer that error, as when Box's answer is lost; latency in ms, retry_after in s "
            "(repeatable; also BOX_EMULATOR_FAULTS, rules separated by ';')"
        ),
    )
    parser.add_argument(
        "--public-url",
        type=public_url,
        default=None,
        metavar="URL",
        help="origin clients reach this emulator at, e.g. http://emulator:8088 behind a container network "
        "or proxy; download and upload URLs use it (default: each request's own Host and scheme)",
    )
    parser.set_defaults(func=run)


def public_url(text: str) -> str:
    """--public-url: an absolute http(s) origin with no path, query, fragment or user info."""
    hint = "give an origin such as http://emulator:8088"
    try:
        parts = urlsplit(text.strip())
        port = parts.port  # a port out of range or not a number raises here
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL ({exc}); {hint}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an absolute http:// or https:// URL; {hint}")
    if parts.username is not None or parts.password is not None:
        raise argparse.ArgumentTypeError(f"{text!r} holds user info; {hint}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.strip().endswith(("?", "#")):
        raise argparse.ArgumentTypeError(f"{text!r} has a path, query or fragment; {hint}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from box_mcp._serving import ListenError, bind

    from .app import create_app, faults_from_env
    from .faults import FaultRule
    from .seed import write_credentials
    from .testing import uvicorn_config

    try:
        faults = faults_from_env() + [FaultRule.parse(spec) for spec in args.fault]
    except ValueError as exc:
        print(f"box-mcp emulator: {exc}", file=sys.stderr)
        return 2
    try:  # the port first: a busy one is a one-line error before anything claims to serve
        sock = bind(args.port, args.host)
    except ListenError as exc:
        print(f"box-mcp emulator: {exc}", file=sys.stderr)
        return 2
    try:
        sock.listen(2048)  # connections queue from now on, so the line below is true when printed
        port = sock.getsockname()[1]
        host_for_url = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
        if ":" in host_for_url:
            host_for_url = f"[{host_for_url}]"
        listen_url = f"http://{host_for_url}:{port}"
        default_dir = Path(platformdirs.user_data_dir("box-mcp")) / "emulator"
        data_dir = None if args.memory else (args.data_dir or default_dir)
        app = create_app(
            data_dir=data_dir,
            memory=args.memory,
            seed=args.seed,
            base_url=args.public_url,
            listen_url=listen_url,
            token_ttl=args.token_ttl,
            rate_limits=not args.no_rate_limits,
            faults=faults,
        )
        emulator = app.state.emulator
        credentials_path = emulator.store.data_dir / "credentials.json"
        if args.memory:  # nothing persists, but clients still need the tokens: a private temp file
            write_credentials(credentials_path, emulator.credentials)
        print(f"Box emulator serving at {listen_url}", flush=True)
        print(f"credentials: {credentials_path}", flush=True)
        if args.public_url:
            print(f"public URL: {args.public_url} (download and upload URLs use it)", flush=True)
        uvicorn.Server(uvicorn_config(app, args.host, port)).run(sockets=[sock])
    finally:
        sock.close()
    return 0
