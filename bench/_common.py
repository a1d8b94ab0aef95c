"""What every benchmark shares: free ports, servers in their own processes, percentiles, `--quick` and
`--json`, and the one format of the lines that state a figure against its target.

A result line is `ratio <label>: <value>x (target <= <t>x) met` (a same-run ratio) or
`figure <label>: <value> <unit> (target <= <t> <unit>) MISSED` (an absolute figure); the target part is
left out where there is none. tests/bench/test_benches_run.py parses these lines, and `--json` prints
the same figures as one JSON object on stdout (the human table then goes to stderr), so the README's
table can be regenerated from the JSON rather than copied by hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import httpx2

START_TIMEOUT = 60.0  # seconds for a server process to answer (a shared 2-core machine starts slowly)
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A loopback port nobody holds right now (for a server in another process, which must bind it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> Callable[[], bool]:
    """A readiness check: the URL answers with anything below 500."""

    def check() -> bool:
        try:
            return httpx2.get(url, timeout=1.0).status_code < 500
        except httpx2.HTTPError:
            return False

    return check


@dataclass(frozen=True)
class Server:
    """A server to run as its own process: its command, its readiness check, its environment."""

    argv: list[str]
    ready: Callable[[], bool]
    env: dict[str, str] | None = None


@contextmanager
def processes(*servers: Server) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run servers as their own processes (in-process threads share the GIL and distort loopback
    latency), all started at once; yield once every one is ready, stop them all on exit. Their stderr is
    kept to explain a failed start."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for server in servers:
            procs.append(
                subprocess.Popen(  # noqa: S603
                    server.argv, env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
            )
        deadline = time.monotonic() + START_TIMEOUT
        for server, proc in zip(servers, procs, strict=True):
            while not server.ready():
                if proc.poll() is not None or time.monotonic() > deadline:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(5)
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"{' '.join(server.argv[1:5])} did not start: {err[-2000:]}")
                time.sleep(0.05)
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stderr:
                proc.stderr.close()


@contextmanager
def process(
    argv: list[str], ready: Callable[[], bool], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """One server in its own process (see `processes`)."""
    with processes(Server(argv, ready, env)) as (proc,):
        yield proc


def pct(samples: list[float], p: float) -> float:
    """The p-th percentile (1..99, or 50 for the median) of the samples, interpolated between them."""
    if not samples:
        raise ValueError("no samples")
    if len(samples) == 1:
        return samples[0]
    if p == 50:
        return statistics.median(samples)
    return statistics.quantiles(samples, n=100, method="inclusive")[round(p) - 1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any BOX_ or BOX_MCP_ setting of the caller's, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BOX_")} | extra


class Results:
    """The figures of one run: printed as they come, and as one JSON object at the end with `--json`."""

    def __init__(self, bench: str, args: argparse.Namespace) -> None:
        self.bench = bench
        self.quick: bool = args.quick
        self.json: bool = args.json
        self.out: TextIO = sys.stderr if self.json else sys.stdout
        self.figures: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A sentence the JSON should carry too (a skipped comparison, a machine caveat)."""
        self.notes.append(text)
        self.say(text)

    def ratio(self, label: str, value: float, target: float | None = None, *, at_least: bool = False) -> None:
        self._line("ratio", label, value, "x", target, at_least)

    def figure(
        self, label: str, value: float, unit: str, target: float | None = None, *, at_least: bool = False
    ) -> None:
        self._line("figure", label, value, unit, target, at_least)

    def _line(
        self, kind: str, label: str, value: float, unit: str, target: float | None, at_least: bool
    ) -> None:
        def show(v: float) -> str:
            text = f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
            return f"{text}x" if unit == "x" else f"{text} {unit}"

        line = f"{kind} {label}: {show(value)}"
        entry: dict[str, Any] = {"kind": kind, "value": value, "unit": unit}
        if target is not None:
            met = value >= target if at_least else value <= target
            line += f" (target {'>=' if at_least else '<='} {show(target)}) {'met' if met else 'MISSED'}"
            entry |= {"target": target, "at_least": at_least, "met": met}
        self.figures[label] = entry
        self.say(line)

    def finish(self) -> int:
        if self.json:
            print(
                json.dumps(
                    {
                        "bench": self.bench,
                        "quick": self.quick,
                        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                        "figures": self.figures,
                        "notes": self.notes,
                    },
                    indent=2,
                )
            )
        return 0


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark has."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK") == "1",
        help="tiny counts, a few seconds: proves the bench runs (CI), figures mean little (or BENCH_QUICK=1)",
    )
    p.add_argument(
        "--json", action="store_true", help="print the figures as one JSON object on stdout (table on stderr)"
    )
    return p
