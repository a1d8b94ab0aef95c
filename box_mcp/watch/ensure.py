"""`box-mcp webhooks ensure`: one Box webhook per watched folder (owners.folder_grants), pointing at this
deployment's `/box/webhooks` with TRIGGERS. Created when missing, repaired when its address or triggers
differ, left alone when right: a second run changes nothing and says so.

Only Box's generic request method is used (GET/POST/PUT /webhooks), as the identity that owns each folder
grant (a webhook belongs to the app and the user that made it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from box_mcp.box.client import BoxClient
from box_mcp.broker.broker import IdentitySpec
from box_mcp.errors import ConfigError
from box_mcp.watch.owners import FolderGrant, identity_name
from box_mcp.watch.receiver import PATH

# What changes an agent would want to hear of: content and tree changes, metadata, and the webhook's own
# removal (Box deletes a webhook whose target is deleted). Reads (DOWNLOADED, PREVIEWED) are not changes.
TRIGGERS: tuple[str, ...] = (
    "FILE.UPLOADED",
    "FILE.COPIED",
    "FILE.MOVED",
    "FILE.RENAMED",
    "FILE.TRASHED",
    "FILE.RESTORED",
    "FILE.DELETED",
    "FILE.LOCKED",
    "FILE.UNLOCKED",
    "FOLDER.CREATED",
    "FOLDER.COPIED",
    "FOLDER.MOVED",
    "FOLDER.RENAMED",
    "FOLDER.TRASHED",
    "FOLDER.RESTORED",
    "FOLDER.DELETED",
    "METADATA_INSTANCE.CREATED",
    "METADATA_INSTANCE.UPDATED",
    "METADATA_INSTANCE.DELETED",
    "WEBHOOK.DELETED",
)
MAX_WEBHOOKS = 1000  # Box's limit per app and user: also the bound on the listing read

Action = Literal["created", "repaired", "unchanged"]
ClientFor = Callable[[IdentitySpec], Awaitable[BoxClient]]


@dataclass
class Step:
    action: Action
    folder_id: str
    webhook_id: str
    identity: str
    was: list[str] = field(default_factory=list)  # what a repair changed

    def line(self) -> str:
        head = f"{self.action:<9} webhook {self.webhook_id} on folder {self.folder_id} (as {self.identity})"
        return head + (f": {'; '.join(self.was)}" if self.was else "")


def webhook_address(public_url: str | None) -> str:
    """`public_url`'s /box/webhooks; Box delivers only to https (plain http only to loopback, for tests)."""
    if not public_url:
        raise ConfigError(
            "no public URL to give Box: pass --url https://box-mcp.example.com, or set BOX_MCP_PUBLIC_URL "
            "(the address Box can reach this server's /box/webhooks at)"
        )
    parts = urlsplit(public_url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or (parts.scheme == "http" and not loopback)
    ):
        raise ConfigError(f"--url / BOX_MCP_PUBLIC_URL must be an https:// URL, not {public_url[:80]!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("--url / BOX_MCP_PUBLIC_URL must have no query, fragment or user info")
    return public_url.rstrip("/") + PATH


async def _existing(box: BoxClient) -> dict[str, dict[str, Any]]:
    """folder id -> the app's (and this user's) webhook on it, in full."""
    found: dict[str, dict[str, Any]] = {}
    async for entry in box.paginate("/webhooks", marker=True, limit=200, max_items=MAX_WEBHOOKS):
        target = entry.get("target") if isinstance(entry, dict) else None
        if isinstance(target, dict) and target.get("type") == "folder" and isinstance(entry.get("id"), str):
            found[str(target.get("id"))] = entry
    return found


async def ensure(grants: list[FolderGrant], address: str, client_for: ClientFor) -> list[Step]:
    """Create or repair each folder's webhook so it delivers TRIGGERS to `address`."""
    by_identity: dict[str, list[FolderGrant]] = {}
    for grant in grants:
        by_identity.setdefault(identity_name(grant.identity), []).append(grant)
    steps: list[Step] = []
    for name, owned in by_identity.items():
        box = await client_for(owned[0].identity)
        existing = await _existing(box)
        for grant in owned:
            current = existing.get(grant.folder_id)
            if current is None:
                made = await box.post(
                    "/webhooks",
                    json={
                        "target": {"type": "folder", "id": grant.folder_id},
                        "address": address,
                        "triggers": list(TRIGGERS),
                    },
                )
                steps.append(Step("created", grant.folder_id, str(made["id"]), name))
                continue
            full = await box.get(f"/webhooks/{current['id']}")
            was: list[str] = []
            change: dict[str, Any] = {}
            if full.get("address") != address:
                was.append(f"address was {str(full.get('address'))[:200]}")
                change["address"] = address
            have = full.get("triggers") if isinstance(full.get("triggers"), list) else []
            if sorted(map(str, have)) != sorted(TRIGGERS):
                missing = sorted(set(TRIGGERS) - set(map(str, have)))
                extra = sorted(set(map(str, have)) - set(TRIGGERS))
                was.append(
                    "triggers "
                    + ", ".join(
                        part
                        for part in (
                            f"lacked {', '.join(missing)}" if missing else "",
                            f"had {', '.join(extra)}" if extra else "",
                        )
                        if part
                    )
                )
                change["triggers"] = list(TRIGGERS)
            if change:
                await box.put(f"/webhooks/{current['id']}", json=change)
                steps.append(Step("repaired", grant.folder_id, str(current["id"]), name, was))
            else:
                steps.append(Step("unchanged", grant.folder_id, str(current["id"]), name))
    return steps
