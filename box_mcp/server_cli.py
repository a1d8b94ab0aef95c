"""`box-mcp serve` (stdio or streamable HTTP) and `box-mcp demo` (emulator + server + a scripted session)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from box_mcp.audit.sink import parse_sink
from box_mcp.config import Settings
from box_mcp.errors import ConfigError

if TYPE_CHECKING:
    from box_mcp.deployment import Deployment


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
    add("--database-url", help="postgresql://… : the token vault in PostgreSQL [BOX_MCP_DATABASE_URL]")
    add(
        "--replica-url",
        help="with --database-url: this replica's address for the other replicas, http://HOST:PORT "
        "[BOX_MCP_REPLICA_URL; http://127.0.0.1:PORT on loopback, required otherwise]",
    )
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
        "--public-url",
        help="base URL clients reach this server at, e.g. https://box-mcp.example.com behind a proxy or "
        "tunnel: OAuth metadata and sign-in pages use it [BOX_MCP_PUBLIC_URL; http://HOST:PORT]",
    )
    add(
        "--watch",
        choices=["off", "webhooks", "events"],
        help="watch Box for changes: webhooks (HTTP, /box/webhooks, signed), events (the events API "
        "long-poll, e.g. over stdio) [BOX_MCP_WATCH; off]",
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
        "database_url",
        "replica_url",
        "toolsets",
        "tools",
        "exclude_tools",
        "read_only",
        "allowed_dirs",
        "public_url",
        "watch",
    )
    flags: dict[str, Any] = {name: getattr(args, name, None) for name in names}
    for name in ("allowed_dirs", "allowed_hosts"):  # repeatable flags arrive as lists
        given = getattr(args, name, None)
        flags[name] = tuple(given) if given is not None else None
    return Settings.load(**flags, **extra)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def identity_label(deployment: Deployment, agent: str) -> str:
    """Which Box identity `agent`'s calls use, as a person would name it: never a secret."""
    from box_mcp.broker.credentials import ClientCredentials, JWTCredential
    from box_mcp.policy.model import AsUser, UserGrant

    creds = deployment.broker.settings

    def app() -> str:
        sa = creds.service_account
        if sa is None:
            return "no app credentials"
        how = {ClientCredentials: "CCG", JWTCredential: "JWT"}.get(type(sa), "app")
        subject = getattr(sa, "subject_type", "enterprise")
        who = "service account" if subject == "enterprise" else f"user {getattr(sa, 'subject_id', '?')}"
        return f"{how} {who}"

    policy = deployment.policy
    if policy is None:
        return "developer token" if creds.developer_token is not None else app()
    entry = policy.agents.get(agent)
    if entry is None:
        return "none (the agent is not in the policy)"
    acts = entry.acts_as
    if isinstance(acts, AsUser):
        base = app() if creds.service_account is not None else "developer token"
        return f"user {acts.as_user} via As-User on the {base}"
    if isinstance(acts, UserGrant):
        return f"OAuth grant {acts.user_grant!r} (stored by `box-mcp auth login`)"
    if acts == "person":
        return "each signed-in person's own Box sign-in (remote sign-in)"
    return app()


def preflight_policy(settings: Settings) -> Any:
    """Load the policy exactly as `box-mcp policy check` does, so a bad one fails with its `file:line:`
    message before any credential or Box work (None when ungoverned)."""
    if settings.policy is None:
        return None
    from box_mcp.policy.engine import Engine
    from box_mcp.policy.model import load_policy
    from box_mcp.policy.reference_tools import tools_for_policy

    return Engine(load_policy(settings.policy), tools_for_policy()).policy


def check_agent(settings: Settings, policy: Any) -> None:
    """Refuse to start as an agent the policy does not know: every one of its calls would be denied."""
    from box_mcp.server import DEFAULT_AGENT

    if policy is None:
        return
    agent = settings.agent or policy.default_agent or DEFAULT_AGENT
    if agent in policy.agents:
        return
    keyed = any(entry.keys or entry.acts_as == "person" for entry in policy.agents.values())
    if settings.agent is None and settings.transport == "http" and keyed:
        return  # every HTTP caller is named by its API key or sign-in; nobody is the default agent
    known = ", ".join(sorted(policy.agents)) or "none"
    if settings.agent is not None:
        why = f"--agent / BOX_MCP_AGENT {agent!r} is not an agent of the policy {settings.policy}"
    else:
        why = f"the policy {settings.policy} names no default_agent, and {agent!r} is not one of its agents"
    raise ConfigError(f"{why} (its agents: {known}): pass --agent with one of them, or set default_agent")


def startup_summary(deployment: Deployment, *, prefix: str = "box-mcp") -> list[str]:
    """What this server is about to do, for the person who started it (stderr; no secret in it)."""
    settings, server, policy = deployment.settings, deployment.server, deployment.policy
    agent = server.default_agent
    keyed = (
        deployment.verifier is not None or deployment.remote is not None
    ) and settings.transport == "http"
    if policy is None:
        head = (
            f"{prefix}: UNGOVERNED: no policy, every call is allowed "
            "(--policy or BOX_MCP_POLICY to govern; `box-mcp policy init` writes one)"
        )
    else:
        counts = f"{len(policy.agents)} agents, {len(policy.rules)} rules"
        head = f"{prefix}: GOVERNED by {settings.policy} ({counts})"
    people = sorted(
        name for name, entry in (policy.agents if policy else {}).items() if entry.acts_as == "person"
    )
    urls = deployment.remote_urls
    if keyed and policy is not None:  # callers are whoever their key or sign-in names: describe each agent
        named = sorted(
            name for name, entry in policy.agents.items() if entry.keys or entry.acts_as == "person"
        )
        keys = [name for name in named if name not in people]
        who = "; ".join(
            ([f"named by API key ({', '.join(keys)})"] if keys else [])
            + ([f"each signed-in person ({', '.join(people)})"] if people else [])
        )
        identity = "; ".join(f"{name}: {identity_label(deployment, name)}" for name in named)
        tools = "; ".join(
            f"{name}: per person and policy"
            if name in people
            else f"{len(server.gate.visible_tools(name))} listed for {name}"
            for name in named
        )
    else:
        who = agent
        identity = identity_label(deployment, agent)
        tools = f"{len(server.gate.visible_tools(agent))} listed for {agent}"
    return [
        head,
        f"{prefix}:   agent:        {who}",
        f"{prefix}:   Box identity: {identity}",
        f"{prefix}:   Box URL:      {settings.api_url}",
        f"{prefix}:   audit log:    {settings.data_dir / 'audit'}",
        f"{prefix}:   tools:        {tools} (of {len(server.gate.tools)} served)",
        *(
            [
                f"{prefix}:   sign-in:      OAuth for MCP clients; people connect by URL {urls.resource} "
                f"(issuer {urls.issuer}; Box sign-in returns to {urls.page('/oauth/box/callback')})",
            ]
            if urls is not None
            else []
        ),
        *(
            [f"{prefix}:   audit sink:   {parse_sink(settings.audit_sink).display} (at least once)"]
            if settings.audit_sink is not None
            else []
        ),
        *([f"{prefix}:   telemetry:    OpenTelemetry by OTLP/HTTP"] if settings.telemetry != "off" else []),
        *([f"{prefix}:   watch:        {_watching(settings)}"] if settings.watch != "off" else []),
    ]


def _watching(settings: Settings) -> str:
    if settings.watch == "webhooks":
        return "Box webhooks at /box/webhooks (signed; `box-mcp webhooks ensure` registers them)"
    return f"Box's events API, long-polled; position saved in {settings.data_dir / 'watch'} or the database"


async def _serve(settings: Settings) -> None:
    settings.check_paths()
    check_agent(settings, preflight_policy(settings))
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    from box_mcp.deployment import open_deployment

    if settings.transport == "stdio":
        async with open_deployment(settings, transport="stdio") as deployment:
            for line in startup_summary(deployment, prefix="box-mcp serve"):
                _say(line)
            await deployment.server.run_stdio()
        return
    import uvicorn

    from box_mcp._serving import bind, uvicorn_limits
    from box_mcp.http.drain import GRACEFUL_SHUTDOWN_S, DrainingServer

    async with open_deployment(settings, transport="http") as deployment:
        sock = bind(settings.port, settings.host)  # a busy port is a ConfigError before we claim to serve
        try:
            port = sock.getsockname()[1]
            app = deployment.http_app(port=port)
            for line in startup_summary(deployment, prefix="box-mcp serve"):
                _say(line)
            _say(f"box-mcp serve: serving MCP on http://{settings.host}:{port}/mcp")
            if not settings.loopback and not settings.allowed_hosts:
                _say(
                    "box-mcp serve: only loopback Host headers are accepted (DNS-rebinding defence); add "
                    "--allowed-host NAME:PORT for the name remote clients use"
                )
            config = uvicorn.Config(
                app,
                host=settings.host,
                port=port,
                log_level="warning",
                lifespan="on",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                **uvicorn_limits(),
            )
            await DrainingServer(config).serve(sockets=[sock])
        finally:
            sock.close()


def run_serve(args: argparse.Namespace) -> int:
    """Errors a user can fix propagate to box_mcp.cli.main, which prints them as one line (exit 2)."""
    settings = settings_from_args(args)
    try:
        anyio.run(_serve, settings)
    except KeyboardInterrupt:
        return 0
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from box_mcp import demo

    try:
        if args.stdio:
            return demo.run_stdio(data_dir=args.data_dir)
        return demo.run(
            port=args.port,
            emulator_port=args.emulator_port,
            data_dir=args.data_dir,
            script=not args.no_script,
            script_only=args.script_only,
            sign_in=args.sign_in,
        )
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
        description=(
            "Start the Box emulator and box-mcp over HTTP, governed by the demo policy that ships with "
            "box-mcp; print client config; run a short scripted session; keep serving until Ctrl-C."
        ),
    )
    demo.add_argument("--port", type=int, default=8000, help="MCP HTTP port (0 picks a free one) [8000]")
    demo.add_argument(
        "--emulator-port",
        type=int,
        default=None,
        help="the emulator's port (0: any free one) [the one the last run used, else 8089]",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        help="the demo's emulator state and audit log [$BOX_MCP_DATA_DIR/demo; per-user data dir/demo]",
    )
    demo.add_argument("--no-script", action="store_true", help="skip the scripted session")
    demo.add_argument(
        "--sign-in",
        action="store_true",
        help="remote sign-in: serve the demo as an OAuth server; people connect a client by URL and sign in "
        "to the emulator's Box as themselves (with --script-only: print how, check discovery, exit)",
    )
    demo.add_argument("--script-only", action="store_true", help="run the scripted session, then exit")
    demo.add_argument(
        "--stdio",
        action="store_true",
        help="serve MCP on stdio as the demo agent, against the emulator a running `box-mcp demo` serves",
    )
    demo.set_defaults(func=run_demo)
