"""`POST /box/webhooks`: Box's signed webhook deliveries in, `Change`s out on the deployment's feed.

Per delivery, in this order: a bounded body (413 past MAX_BODY), the timestamp and signatures
(signature.verify; 400 or 403), the delivery id, the JSON payload, then de-duplication (a delivery id, or
the signed payload's own id, already accepted answers 200 and is not published again), then the work is
queued and Box gets its 200 at once. A full queue answers 503 (Box retries later) and forgets the claim,
so the retry is taken: a delivery is never dropped silently. Every delivery, taken or refused, is an
audit record (`webhook`); every publication another (`box_change`).

The route sits outside the MCP bearer authentication (Box has no API key): the signature is its guard.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from box_mcp.changes import Change, ChangeFeed
from box_mcp.events import Events
from box_mcp.watch.extract import box_id, change_from, event_name
from box_mcp.watch.signature import verify
from box_mcp.watch.state import MemorySeen, Seen

log = logging.getLogger(__name__)

PATH = "/box/webhooks"
MAX_BODY = 1024 * 1024  # bytes; Box's payloads (one item's JSON) are a few KiB
QUEUE = 1024  # deliveries accepted but not yet published
DRAIN = 3.0  # seconds a closing receiver spends publishing what it accepted
RETRY_AFTER = "30"
_DELIVERY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _answer(status: int, message: str, **extra: str) -> Response:
    return JSONResponse({"status": status, "message": message}, status_code=status, headers=extra or None)


class WebhookReceiver:
    """The endpoint and its worker. `run()` (an HTTP app lifespan) keeps the worker going."""

    def __init__(
        self,
        keys: Sequence[bytes],
        feed: ChangeFeed,
        events: Events,
        *,
        seen: Seen | None = None,
        queue: int = QUEUE,
        max_body: int = MAX_BODY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("a webhook receiver needs at least one signature key")
        self._keys = tuple(keys)
        self.feed = feed
        self._events = events
        self._seen: Seen = seen if seen is not None else MemorySeen()
        self._max_body = max_body
        self._clock = clock
        self._queue = queue
        self._send: MemoryObjectSendStream[tuple[Change, str]] | None = None  # open while run() runs

    def __repr__(self) -> str:  # never the keys
        return f"WebhookReceiver(path={PATH!r}, keys={len(self._keys)})"

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self.endpoint, methods=["POST"])]

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Publish accepted deliveries while the block runs; on exit, up to DRAIN s for what is queued."""
        drained = anyio.Event()
        send, receive = anyio.create_memory_object_stream[tuple[Change, str]](self._queue)
        async with anyio.create_task_group() as group:
            group.start_soon(self._work, receive, drained)
            self._send = send
            try:
                yield
            finally:
                self._send = None
                send.close()
                with anyio.move_on_after(DRAIN):
                    await drained.wait()
                group.cancel_scope.cancel()

    async def _work(
        self, receive: MemoryObjectReceiveStream[tuple[Change, str]], drained: anyio.Event
    ) -> None:
        try:
            async with receive:
                async for change, webhook_id in receive:
                    await self.feed.publish(change)
                    await self._events.emit(
                        "box_change",
                        items=[{"type": change.item_type, "id": change.item_id}],
                        detail={
                            "source": "webhook",
                            "event": change.event,
                            "delivery_id": change.delivery_id,
                            "parent_id": change.parent_id,
                            "webhook_id": webhook_id or None,
                        },
                    )
        finally:
            drained.set()

    def _post(self, action: str, **detail: Any) -> None:
        """Queue the delivery's audit record (written, in order, at the next flush)."""
        items = detail.pop("items", None)
        self._events.post(
            "webhook",
            items=items,
            detail={"action": action, **{k: v for k, v in detail.items() if v not in (None, "")}},
        )

    async def _audit(self, action: str, **detail: Any) -> None:
        self._post(action, **detail)
        await self._events.flush()

    async def _body(self, request: Request) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_body):
            return None
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self._max_body:
                return None
        return bytes(body)

    async def endpoint(self, request: Request) -> Response:
        try:
            body = await self._body(request)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            await self._audit("refused", reason="too_large")
            return _answer(413, f"a webhook body is at most {self._max_body} bytes")
        verdict = verify(body, request.headers, self._keys, clock=self._clock)
        if not verdict.ok:
            await self._audit("refused", reason=verdict.reason)
            status = 403 if verdict.reason in ("no_signature", "bad_signature") else 400
            return _answer(status, verdict.message)
        delivery_id = request.headers.get("box-delivery-id", "")
        if not _DELIVERY_ID.fullmatch(delivery_id):
            await self._audit("refused", reason="no_delivery_id")
            return _answer(400, "BOX-DELIVERY-ID is missing or malformed")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            await self._audit("refused", reason="bad_payload", delivery_id=delivery_id)
            return _answer(400, "the body is not a webhook payload (a JSON object)")
        trigger = event_name(payload.get("trigger"))
        hook = payload.get("webhook")
        webhook_id = (box_id(hook.get("id")) if isinstance(hook, dict) else None) or ""
        change = change_from(payload.get("source"), trigger, origin="webhook", delivery_id=delivery_id)
        items = [{"type": change.item_type, "id": change.item_id}] if change is not None else None
        facts = {"delivery_id": delivery_id, "trigger": trigger, "webhook_id": webhook_id, "items": items}
        # The payload's own id is signed (the delivery id header is not): a replay under a new header
        # is a duplicate too.
        payload_id = payload.get("id") if isinstance(payload.get("id"), str) else None
        claims = [f"delivery:{delivery_id}"]
        if payload_id and _DELIVERY_ID.fullmatch(payload_id):
            claims.append(f"payload:{payload_id}")
        taken = [claim for claim in claims if await self._seen.claim(claim)]
        if len(taken) < len(claims):
            for claim in taken:
                await self._seen.release(claim)
            await self._audit("duplicate", **facts)
            return _answer(200, "already received")
        send = self._send
        if change is not None:
            room = send is not None and (
                send.statistics().current_buffer_used < send.statistics().max_buffer_size
                or send.statistics().tasks_waiting_receive > 0
            )
            if send is None or not room:  # full, or not serving (starting, closing): Box retries
                for claim in taken:
                    await self._seen.release(claim)
                await self._audit("overloaded", **facts)
                return _answer(503, "busy: deliver again later", **{"Retry-After": RETRY_AFTER})
        # No await between the room check and the send, and the record is queued first: the delivery's
        # `accepted` record always precedes its publication's `box_change`.
        self._post("accepted", key=verdict.key, published=change is not None, **facts)
        if change is not None and send is not None:
            send.send_nowait((change, webhook_id))
        await self._events.flush()
        return _answer(200, "ok")
