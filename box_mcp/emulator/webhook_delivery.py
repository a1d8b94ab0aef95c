"""Webhook deliveries: map recorded events to V2 triggers, sign each payload as Box does and POST it
to the registered address in a background task, retrying failures with capped exponential back-off.

Signature: base64(HMAC-SHA256(key, body + BOX-DELIVERY-TIMESTAMP)) with the app's primary and secondary
keys (`webhook_keys` table; the default pair is written to credentials.json as `webhook_keys`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2

from . import items
from .auth import FULL_APP_SCOPES, Caller
from .serialize import View, user_mini
from .store import Store, iso, now
from .webhook_triggers import ITEM_KINDS, event_item, trigger_for

log = logging.getLogger(__name__)
COMMIT_WAIT_STEPS = 500  # x 10 ms: how long a delivery waits for the recording transaction to end


# -- keys -----------------------------------------------------------------------------------------
def ensure_keys(st: Store, client_id: str = "") -> dict[str, str]:
    """The signing key pair for an app ('' = the default pair), created on first use."""
    row = st.fetch_one("SELECT * FROM webhook_keys WHERE client_id = ?", (client_id,))
    if row is None:
        primary, secondary = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        st.insert(
            "webhook_keys", {"client_id": client_id, "primary_key": primary, "secondary_key": secondary}
        )
        return {"primary": primary, "secondary": secondary}
    return {"primary": row["primary_key"], "secondary": row["secondary_key"]}


def set_keys(st: Store, client_id: str, primary: str, secondary: str) -> None:
    """Configure one app's signing keys (what the developer console's key rotation does)."""
    st.execute(
        "INSERT INTO webhook_keys(client_id, primary_key, secondary_key) VALUES (?, ?, ?) "
        "ON CONFLICT(client_id) DO UPDATE SET primary_key = excluded.primary_key, "
        "secondary_key = excluded.secondary_key",
        (client_id, primary, secondary),
    )


def keys_for(st: Store, client_id: str) -> dict[str, str]:
    row = st.fetch_one("SELECT * FROM webhook_keys WHERE client_id = ?", (client_id,))
    return {"primary": row["primary_key"], "secondary": row["secondary_key"]} if row else ensure_keys(st)


def sign(key: str, body: bytes, timestamp: str) -> str:
    digest = hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# -- delivery -------------------------------------------------------------------------------------
@dataclass
class DeliverySettings:
    """Box retries a failed delivery up to 10 times with growing delays; tests shrink the delays."""

    max_attempts: int = 10
    base_delay: float = 5.0
    max_delay: float = 300.0
    timeout: float = 10.0
    # Seconds added to each delivery's BOX-DELIVERY-TIMESTAMP: a delivery that sat in a queue, or a sender
    # whose clock is off (a receiver must refuse one older than 10 minutes). Tests set it.
    clock_skew: float = 0.0


def settings_from_env(environ: dict[str, str] | None = None) -> DeliverySettings:
    """BOX_EMULATOR_WEBHOOK_ATTEMPTS (default 10) and BOX_EMULATOR_WEBHOOK_BACKOFF (first delay, s)."""
    env = environ if environ is not None else dict(os.environ)
    settings = DeliverySettings()
    try:
        if env.get("BOX_EMULATOR_WEBHOOK_ATTEMPTS"):
            settings.max_attempts = max(1, min(10, int(env["BOX_EMULATOR_WEBHOOK_ATTEMPTS"])))
        if env.get("BOX_EMULATOR_WEBHOOK_BACKOFF"):
            settings.base_delay = max(0.0, float(env["BOX_EMULATOR_WEBHOOK_BACKOFF"]))
    except ValueError:
        log.warning("ignoring a malformed BOX_EMULATOR_WEBHOOK_* setting")
    return settings


@dataclass
class _State:
    settings: DeliverySettings = field(default_factory=settings_from_env)
    base_url: str = ""  # the emulator's origin, for URLs inside rendered sources
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    threads: list[threading.Thread] = field(default_factory=list)
    observers: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    # delivery id -> (webhook id, address, client id, trigger, body): what `redeliver` sends again
    sent: OrderedDict[str, tuple[str, str, str, str, bytes]] = field(default_factory=OrderedDict)


SENT_KEPT = 1000  # deliveries `redeliver` can repeat (the most recent ones)


_STATES: weakref.WeakKeyDictionary[Store, _State] = weakref.WeakKeyDictionary()


def _state(st: Store) -> _State:
    if st not in _STATES:
        _STATES[st] = _State()
    return _STATES[st]


def remember_origin(st: Store, base_url: str) -> None:
    """The emulator's origin, so sources rendered for a payload carry absolute URLs."""
    _state(st).base_url = base_url


def configure_delivery(st: Store, **settings: float) -> DeliverySettings:
    """Change retry settings for one emulator (max_attempts, base_delay, max_delay, timeout)."""
    current = _state(st).settings
    for name, value in settings.items():
        if not hasattr(current, name):
            raise TypeError(f"unknown delivery setting {name!r}")
        setattr(current, name, type(getattr(current, name))(value))
    return current


def observe_deliveries(st: Store, observer: Callable[[dict[str, Any]], None]) -> None:
    """Call `observer(attempt)` after each delivery attempt is recorded (tests wait on these)."""
    _state(st).observers.append(observer)


def redeliver(st: Store, delivery_id: str) -> asyncio.Task[None] | threading.Thread:
    """Send a recent delivery again, with the same BOX-DELIVERY-ID and body and a fresh timestamp: what
    Box does when it never heard the receiver's 2xx (a timeout, a dropped connection)."""
    state = _state(st)
    if delivery_id not in state.sent:
        raise KeyError(f"no recent delivery {delivery_id!r}")
    webhook_id, address, client_id, trigger, body = state.sent[delivery_id]
    job = _deliver(st, state.settings, 0, webhook_id, address, client_id, trigger, body, delivery_id)
    return _start(st, job)


def delivery_attempts(st: Store, webhook_id: str) -> list[sqlite3.Row]:
    return st.fetch_all("SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY rowid", (webhook_id,))


def _source(st: Store, webhook: sqlite3.Row, event: dict[str, Any], base_url: str) -> Any:
    """The event's source; a bare {type, id} reference is rendered in full as the webhook's owner sees it."""
    source = json.loads(event["source"]) if event["source"] else None
    if isinstance(source, dict) and set(source) <= {"type", "id"} and source.get("type") in ITEM_KINDS:
        row = items.get(st, str(source.get("id")), str(source.get("type")))
        if row is not None:
            owner = Caller(
                user_id=webhook["created_by"],
                token_user_id=webhook["created_by"],
                grant="webhook",
                client_id=None,
                scopes=FULL_APP_SCOPES,
                resource=None,
                token_sha256="",
            )
            return View(st, owner, base_url).item(row)
    return source


def _payload(st: Store, event: dict[str, Any], hook: sqlite3.Row, trigger: str, source: Any) -> bytes:
    payload = {
        "type": "webhook_event",
        "id": str(uuid.uuid4()),
        "created_at": iso(event["created_at"]),
        "trigger": trigger,
        "webhook": {"id": hook["id"], "type": "webhook"},
        "created_by": user_mini(st, event["created_by"]),
        "source": source,
        "additional_info": [],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def deliver_event(st: Store, event: dict[str, Any]) -> None:
    """Called for every recorded event: queue a signed delivery to each webhook whose target and
    triggers match. Never raises into the request and never waits for the receiver."""
    trigger = trigger_for(event["event_type"], event.get("source_type"))
    if trigger is None:
        return
    if st.fetch_one("SELECT name FROM sqlite_master WHERE name = 'webhooks'") is None:
        return
    item = event_item(st, event)
    if item is None:
        return
    position = int(event.get("position") or 0)
    for hook in st.fetch_all("SELECT * FROM webhooks"):
        if trigger not in json.loads(hook["triggers"]):
            continue
        target = hook["target_id"]
        if hook["target_type"] == "file" and item["id"] != target:
            continue
        if hook["target_type"] == "folder" and not items.is_within(st, item, target):
            continue
        source = _source(st, hook, event, _state(st).base_url)
        _schedule(st, position, hook, trigger, _payload(st, event, hook, trigger, source))
    if trigger.endswith(".DELETED") and trigger.startswith(("FILE.", "FOLDER.")):
        _retire_webhooks_on(st, event, item, position)


def _retire_webhooks_on(st: Store, event: dict[str, Any], item: sqlite3.Row, position: int) -> None:
    """A permanently deleted target takes its webhooks with it; each says so with WEBHOOK.DELETED."""
    for hook in st.fetch_all(
        "SELECT * FROM webhooks WHERE target_type = ? AND target_id = ?", (item["type"], item["id"])
    ):
        if "WEBHOOK.DELETED" in json.loads(hook["triggers"]):
            source = {
                "type": "webhook",
                "id": hook["id"],
                "target": {"type": hook["target_type"], "id": hook["target_id"]},
                "address": hook["address"],
            }
            _schedule(
                st, position, hook, "WEBHOOK.DELETED", _payload(st, event, hook, "WEBHOOK.DELETED", source)
            )
        st.execute("DELETE FROM webhooks WHERE id = ?", (hook["id"],))


def _schedule(st: Store, position: int, hook: sqlite3.Row, trigger: str, body: bytes) -> None:
    state = _state(st)
    job = _deliver(
        st, state.settings, position, hook["id"], hook["address"], hook["client_id"], trigger, body
    )
    _start(st, job)


def _start(st: Store, job: Coroutine[Any, Any, None]) -> asyncio.Task[None] | threading.Thread:
    state = _state(st)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # an event recorded outside the server loop (a test thread): deliver from a thread
        thread = threading.Thread(target=asyncio.run, args=(job,), name="box-webhook", daemon=True)
        state.threads.append(thread)
        thread.start()
        return thread
    task = loop.create_task(job)
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    return task


async def _committed(st: Store, position: int) -> bool:
    """Wait (bounded) for the recording transaction to end; False when it rolled the event back."""
    for _ in range(COMMIT_WAIT_STEPS):
        if getattr(st, "_depth", 0) == 0:
            break
        await asyncio.sleep(0.01)
    try:
        return st.fetch_one("SELECT position FROM events WHERE position = ?", (position,)) is not None
    except Exception:  # the store closed: the emulator is shutting down
        return False


async def _deliver(
    st: Store,
    settings: DeliverySettings,
    position: int,
    webhook_id: str,
    address: str,
    client_id: str,
    trigger: str,
    body: bytes,
    delivery_id: str | None = None,
) -> None:
    delivery_id = delivery_id or str(uuid.uuid4())
    await asyncio.sleep(0)  # let the request that recorded the event finish first
    if position and not await _committed(st, position):
        return
    sent = _state(st).sent
    sent[delivery_id] = (webhook_id, address, client_id, trigger, body)
    while len(sent) > SENT_KEPT:
        sent.popitem(last=False)
    async with httpx2.AsyncClient(timeout=settings.timeout, follow_redirects=False) as client:
        for attempt in range(1, max(1, settings.max_attempts) + 1):
            try:
                keys = keys_for(st, client_id)
            except Exception:  # the store closed under us: the emulator is shutting down
                return
            # A fresh timestamp per attempt, so a retried delivery is still inside the receiver's max age.
            stamp = datetime.fromtimestamp(time.time() + settings.clock_skew, UTC).isoformat(
                timespec="seconds"
            )
            headers = {
                "Content-Type": "application/json; charset=UTF-8",
                "BOX-DELIVERY-ID": delivery_id,
                "BOX-DELIVERY-TIMESTAMP": stamp,
                "BOX-SIGNATURE-PRIMARY": sign(keys["primary"], body, stamp),
                "BOX-SIGNATURE-SECONDARY": sign(keys["secondary"], body, stamp),
                "BOX-SIGNATURE-VERSION": "1",
                "BOX-SIGNATURE-ALGORITHM": "HmacSHA256",
                "User-Agent": "Box-WH-Client/0.1",
            }
            status: int | None = None
            error: str | None = None
            try:
                response = await client.post(address, content=body, headers=headers)
                status = response.status_code
            except httpx2.HTTPError as exc:
                error = exc.__class__.__name__
            record = {
                "delivery_id": delivery_id,
                "webhook_id": webhook_id,
                "trigger": trigger,
                "attempt": attempt,
                "status_code": status,
                "error": error,
                "at": now(),
            }
            try:
                st.insert("webhook_deliveries", record)
            except Exception:
                return
            for observer in list(_state(st).observers):
                observer(record)
            if status is not None and 200 <= status < 300:
                return
            if attempt < settings.max_attempts:
                await asyncio.sleep(min(settings.base_delay * 2 ** (attempt - 1), settings.max_delay))
    log.warning(
        "webhook %s: delivery %s gave up after %d attempts", webhook_id, delivery_id, settings.max_attempts
    )
