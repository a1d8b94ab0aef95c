"""Broker cost: time per `token_source()` + `access_token()` with a warm cache, against a static token
baseline measured in the same run; and token requests per 1,000 calls in a steady mix of tools.

Run: python bench/broker_cost.py   (no network: Box's token endpoint is an in-process fake)
"""

from __future__ import annotations

import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl

import anyio
import httpx2
from _common import Results, parser, pct

from box_mcp.broker import Broker, IdentitySpec
from box_mcp.config import Settings

SA = IdentitySpec(kind="service_account")
ENV = {"BOX_CLIENT_ID": "cid", "BOX_CLIENT_SECRET": "secret", "BOX_ENTERPRISE_ID": "1"}
# A steady mix: (share, scopes, single-item?) roughly like an assistant browsing and editing a folder.
MIX = [
    (0.45, frozenset({"item_preview", "item_download"}), True),  # get_file_details / get_file_content
    (0.25, frozenset({"base_explorer"}), True),  # list_folder_content_by_folder_id
    (0.15, frozenset({"base_explorer", "item_preview"}), False),  # search
    (0.10, frozenset({"item_upload"}), True),  # upload_file into a folder
    (0.05, frozenset({"item_rename"}), True),  # update_file_properties
]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def fake_box(clock: Clock) -> httpx2.MockTransport:
    counter = itertools.count()

    def handler(request: httpx2.Request) -> httpx2.Response:
        form = dict(parse_qsl(request.content.decode()))
        assert form["grant_type"]
        return httpx2.Response(
            200,
            json={
                "access_token": f"tok-{next(counter)}",
                "expires_in": 3600,
                "token_type": "bearer",
                "restricted_to": [],
            },
        )

    return httpx2.MockTransport(handler)


async def warm_cost(broker: Broker, n: int = 20000) -> tuple[list[float], list[float], list[float]]:
    scopes = frozenset({"item_preview", "item_download"})
    resource = broker.item_resource("file", "12345")
    static = await broker.token_source(SA)
    await (await broker.token_source(SA, scopes=scopes, resource=resource)).access_token()
    base, plain, down = [], [], []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        await static.access_token()  # baseline: the cheapest possible TokenSource call
        t1 = clock()
        await (await broker.token_source(SA)).access_token()
        t2 = clock()
        await (await broker.token_source(SA, scopes=scopes, resource=resource)).access_token()
        t3 = clock()
        base.append((t1 - t0) / 1000)
        plain.append((t2 - t1) / 1000)
        down.append((t3 - t2) / 1000)
    return base, plain, down


async def steady_mix(broker: Broker, clock: Clock, calls: int = 10000, items: int = 50) -> int:
    rng = random.Random(7)  # noqa: S311  # a reproducible mix, not a secret
    shares = [m[0] for m in MIX]
    before = broker.endpoint.requests
    for _ in range(calls):
        _, scopes, single = rng.choices(MIX, weights=shares)[0]
        resource = broker.item_resource("file", str(rng.randrange(1, items + 1))) if single else None
        await (await broker.token_source(SA, scopes=scopes, resource=resource)).access_token()
        clock.now += 1.0  # one call a second: 10,000 calls span ~2.8 hours, so tokens expire and renew
    return broker.endpoint.requests - before


async def main(quick: bool, out: Results) -> None:
    clock = Clock()
    n, calls = (500, 1000) if quick else (20000, 10000)
    with tempfile.TemporaryDirectory() as tmp:
        async with httpx2.AsyncClient(transport=fake_box(clock)) as http:
            broker = Broker.from_settings(Settings.load(env=ENV, data_dir=Path(tmp)), http=http, clock=clock)
            base, plain, down = await warm_cost(broker, n)
            await broker.aclose()
        mixes = []
        for items in (5, 50):
            async with httpx2.AsyncClient(transport=fake_box(clock)) as http:
                broker = Broker.from_settings(
                    Settings.load(env=ENV, data_dir=Path(tmp)), http=http, clock=clock
                )
                mixes.append((items, await steady_mix(broker, clock, calls, items=items)))
                await broker.aclose()
    b50 = statistics.median(base)
    out.say("warm-cache cost per call (token_source + access_token), microseconds")
    out.say(f"  static token baseline      p50 {b50:6.2f}  p99 {pct(base, 99):6.2f}")
    for name, xs in (("base token", plain), ("downscoped, one item", down)):
        m = statistics.median(xs)
        out.say(f"  {name:<26} p50 {m:6.2f}  p99 {pct(xs, 99):6.2f}")
        out.figure(f"warm p50, {name}", m, "us", 50.0)
        out.ratio(f"{name} / static token p50", m / b50)
    out.say(f"steady mix, {calls:,} calls at 1 call/s, 60-min tokens, 2-min margin:")
    for items, requests in mixes:
        keys = items * (len(MIX) - 1) + 1  # distinct (scopes, item) pairs: each needs one exchange per hour
        per_k = requests * 1000 / calls
        floor = keys * max(1.0, calls / 3480) * 1000 / calls
        out.say(f"  {items:>3} items: {requests:>4} token requests ({keys} distinct scope/item pairs)")
        out.figure(f"token requests per 1,000 calls, {items} items", per_k, "requests")
        out.ratio(f"token requests / floor, {items} items", per_k / floor)


def entry() -> int:
    args = parser(__doc__).parse_args()
    out = Results("broker_cost", args)
    anyio.run(main, args.quick, out)
    return out.finish()


if __name__ == "__main__":
    sys.exit(entry())
