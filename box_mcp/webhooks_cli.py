"""`box-mcp webhooks ensure`: create or repair the Box webhooks that deliver the policy's folders'
changes to this deployment's /box/webhooks (the work is box_mcp.watch.ensure)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio

from box_mcp.config import Settings
from box_mcp.errors import ConfigError


def register(subparsers: Any) -> None:
    webhooks = subparsers.add_parser(
        "webhooks", help="Box webhooks for BOX_MCP_WATCH=webhooks: create or repair them"
    )
    sub = webhooks.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    ensure = sub.add_parser(
        "ensure",
        help="one webhook per folder the policy grants, delivering to PUBLIC_URL/box/webhooks",
        description=(
            "Create the missing webhooks and repair those with another address or other triggers, as the "
            "Box identity of the agent each folder is granted to. Running it again changes nothing."
        ),
    )
    ensure.add_argument(
        "--url", help="the public base URL Box reaches this server at [BOX_MCP_PUBLIC_URL]", default=None
    )
    ensure.add_argument("--policy", type=Path, default=None, help="policy YAML or directory [BOX_MCP_POLICY]")
    ensure.add_argument(
        "--box-url", default=None, help="a Box emulator's URL; real Box when unset [BOX_MCP_BOX_URL]"
    )
    ensure.add_argument(
        "--data-dir", type=Path, default=None, help="where the broker's vault is [BOX_MCP_DATA_DIR]"
    )
    ensure.set_defaults(func=run_ensure)


def run_ensure(args: argparse.Namespace) -> int:
    settings = Settings.load(policy=args.policy, box_url=args.box_url, data_dir=args.data_dir)
    result: int = anyio.run(_ensure, settings, args.url or settings.public_url)
    return result


async def _ensure(settings: Settings, url: str | None) -> int:
    from box_mcp.box.client import BoxClient
    from box_mcp.broker.broker import Broker, IdentitySpec
    from box_mcp.broker.clients import Unbound
    from box_mcp.deployment import check_credentials, identity_of
    from box_mcp.policy.model import load_policy
    from box_mcp.watch.ensure import TRIGGERS, ensure, webhook_address
    from box_mcp.watch.owners import folder_grants

    address = webhook_address(url)
    if settings.policy is None:
        raise ConfigError(
            "webhooks ensure registers webhooks on the folders a policy grants: pass --policy (or set "
            "BOX_MCP_POLICY)"
        )
    policy = load_policy(settings.policy)
    grants, notes = folder_grants(
        policy,
        lambda agent: identity_of(
            policy.agents[agent].acts_as, notifications=policy.agents[agent].notifications == "on"
        ),
    )
    for note in notes:
        print(f"note: {note}")
    if not grants:
        raise ConfigError(
            f"the policy {settings.policy} confines no agent to a folder (no permit with within:), so there "
            "is no folder to watch"
        )
    broker = Broker.from_settings(settings)
    check_credentials(broker, policy)
    box = BoxClient(token_source=Unbound(), base_url=settings.api_url, upload_url=settings.upload_url)

    async def client_for(identity: IdentitySpec) -> BoxClient:
        source = await broker.token_source(identity)
        return box.bound(token_source=source, as_user=broker.as_user_header(identity))

    try:
        steps = await ensure(grants, address, client_for)
    finally:
        await box.aclose()
        await broker.aclose()
    print(f"webhooks deliver to {address} ({len(TRIGGERS)} triggers: {', '.join(TRIGGERS)})")
    for step in steps:
        print(step.line())
    counts = {a: sum(s.action == a for s in steps) for a in ("created", "repaired", "unchanged")}
    if counts["created"] or counts["repaired"]:
        print(f"{counts['created']} created, {counts['repaired']} repaired, {counts['unchanged']} unchanged")
    else:
        print(f"nothing to change: all {len(steps)} webhooks are as they should be")
    return 0
