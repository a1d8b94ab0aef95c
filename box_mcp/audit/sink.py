"""The audit sink: every record, once durable, streamed to an HTTP endpoint or syslog, at least once.

    BOX_MCP_AUDIT_SINK=https://siem.example/ingest   JSON lines POSTed in batches (2xx acknowledges)
    BOX_MCP_AUDIT_SINK=syslog://host:514             RFC 5424 over UDP, one datagram per record
    BOX_MCP_AUDIT_SINK=syslog+tcp://host:6514        RFC 5424 over TCP, octet-counted (RFC 6587)

A background task of the serving process (`SinkFollower.run`) reads the records after its cursor from
the log (the file log up to what this process has made durable; PostgreSQL's committed rows), sends
them, and moves the cursor on only once the receiver has taken them. The cursor is persisted (a 0600
file in the data dir, or a row in PostgreSQL), so a restart resumes where the last acknowledged batch
ended: a record may be sent twice (after a crash between send and cursor), never skipped. Each line is
the record exactly as logged, its `hash` the receiver's de-duplication key; an HTTP batch also carries
`Idempotency-Key`. A receiver that is down or refusing is retried with capped, jittered back-off, for
as long as it takes; tool calls never wait for the sink (it only reads what the log already holds).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import anyio.abc
import anyio.to_thread
import httpx2
from pydantic import SecretStr

from box_mcp.errors import ConfigError

from .index import query
from .record import canonical

log = logging.getLogger("box_mcp.audit.sink")

BATCH = 200  # records per delivery
BATCH_BYTES = 1 << 20  # and at most about this many bytes
POLL = 0.5  # seconds between looks at the log when it had nothing new
BACKOFF_BASE, BACKOFF_CAP = 0.5, 30.0  # seconds; full jitter
TIMEOUT = 10.0  # seconds for one delivery
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
SD_ID = "box-mcp@32473"  # RFC 5424 structured data id; 32473 is the documentation enterprise number
APP_NAME = "box-mcp"
FACILITY = 13  # log audit


class SinkError(Exception):
    """A delivery that was not acknowledged; its text names no secret."""


@dataclass(frozen=True)
class Line:
    seq: int
    hash: str
    kind: str
    time: str
    data: bytes  # the record's canonical JSON, as logged (no newline)


def line_of(rec: dict[str, Any]) -> Line:
    return Line(int(rec["seq"]), str(rec["hash"]), str(rec.get("kind", "")), str(rec["time"]), canonical(rec))


class Source(Protocol):
    def read_after(self, seq: int, limit: int) -> list[Line]:
        """Durable records with a seq above `seq`, oldest first, at most `limit` (blocking IO)."""
        ...


class Cursor(Protocol):
    def load(self) -> int:
        """The seq of the last acknowledged record (0: none yet)."""
        ...

    def save(self, seq: int, record_hash: str) -> None:
        """Persist that `seq` (and everything before it) was acknowledged."""
        ...


class Transport(Protocol):
    async def deliver(self, lines: Sequence[Line]) -> None:
        """Hand `lines` to the receiver; returns once it acknowledged them, raises SinkError if not."""
        ...

    async def aclose(self) -> None: ...


# --- where a sink is ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinkTarget:
    url: SecretStr
    scheme: str  # https, http, syslog, syslog+tcp
    host: str
    port: int

    @property
    def display(self) -> str:
        """scheme://host:port/path, with no credentials and no query: what logs and errors may show."""
        parts = urlsplit(self.url.get_secret_value())
        return (
            f"{self.scheme}://{self.host}:{self.port}{parts.path if self.scheme.startswith('http') else ''}"
        )

    @property
    def key(self) -> str:
        """The cursor's name: a hash of where records go (not of the credentials, which may rotate)."""
        return hashlib.sha256(self.display.encode()).hexdigest()[:32]


def parse_sink(url: SecretStr) -> SinkTarget:
    """The sink BOX_MCP_AUDIT_SINK names, or a ConfigError saying what forms are accepted (never the URL)."""
    text = url.get_secret_value().strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    forms = "https://host/path, syslog://host:514 or syslog+tcp://host:6514"
    if scheme not in ("https", "http", "syslog", "syslog+tcp") or not host:
        raise ConfigError(f"BOX_MCP_AUDIT_SINK must be a URL of one of these forms: {forms}")
    if scheme == "http" and host not in _LOOPBACK:
        raise ConfigError(
            "BOX_MCP_AUDIT_SINK: audit records leave this machine only over https (http:// is for loopback)"
        )
    if scheme.startswith("syslog") and (parts.username or parts.password):
        raise ConfigError("BOX_MCP_AUDIT_SINK: syslog has no credentials; remove the user:password@ part")
    default = {"https": 443, "http": 80, "syslog": 514, "syslog+tcp": 6514}[scheme]
    return SinkTarget(url, scheme, host, port or default)


def transport_for(target: SinkTarget) -> Transport:
    if target.scheme.startswith("http"):
        return HTTPTransport(target)
    return SyslogTransport(target, tcp=target.scheme == "syslog+tcp")


# --- transports -----------------------------------------------------------------------------------


class HTTPTransport:
    """JSON lines POSTed in one request per batch; any 2xx acknowledges the whole batch."""

    def __init__(self, target: SinkTarget, *, timeout: float = TIMEOUT) -> None:
        self.target = target
        parts = urlsplit(target.url.get_secret_value())
        auth = (parts.username or "", parts.password or "") if parts.username else None
        netloc = parts.netloc.rpartition("@")[2]
        self._url = parts._replace(netloc=netloc).geturl()
        self._http = httpx2.AsyncClient(timeout=timeout, auth=auth, follow_redirects=False)

    async def deliver(self, lines: Sequence[Line]) -> None:
        body = b"".join(line.data + b"\n" for line in lines)
        key = hashlib.sha256("".join(line.hash for line in lines).encode()).hexdigest()
        headers = {
            "Content-Type": "application/x-ndjson",
            "Idempotency-Key": key,
            "X-Box-MCP-Records": f"{lines[0].seq}-{lines[-1].seq}",
        }
        try:
            response = await self._http.post(self._url, content=body, headers=headers)
        except httpx2.HTTPError as exc:  # its text may hold the URL: only the class is told
            raise SinkError(f"{type(exc).__name__} sending to {self.target.display}") from None
        if not 200 <= response.status_code < 300:
            raise SinkError(f"{self.target.display} answered {response.status_code}")

    async def aclose(self) -> None:
        await self._http.aclose()


def syslog_message(line: Line, *, hostname: str, procid: int) -> bytes:
    """One record as an RFC 5424 message: PRI, version 1, the record's time, host, app, pid, the kind
    as MSGID, its seq and hash as structured data, and the record's JSON (UTF-8, with a BOM) as MSG."""
    denied = b'"status":"denied"' in line.data
    severity = 4 if denied else 6  # warning for a denial, else informational
    msgid = "".join(c for c in line.kind if 33 <= ord(c) <= 126)[:32] or "-"
    host = "".join(c for c in hostname if 33 <= ord(c) <= 126)[:255] or "-"
    header = (
        f"<{FACILITY * 8 + severity}>1 {line.time} {host} {APP_NAME} {procid} {msgid} "
        f'[{SD_ID} seq="{line.seq}" hash="{line.hash}"] '
    )
    return header.encode() + b"\xef\xbb\xbf" + line.data


class SyslogTransport:
    """RFC 5424 to a syslog receiver: UDP (a datagram each; sent is all UDP can tell) or TCP with
    octet-counting framing (RFC 6587 3.4.1; written and drained is the acknowledgement)."""

    def __init__(self, target: SinkTarget, *, tcp: bool) -> None:
        self.target = target
        self.tcp = tcp
        self._hostname = socket.gethostname()
        self._stream: anyio.abc.ByteStream | None = None
        self._udp: anyio.abc.ConnectedUDPSocket | None = None

    async def deliver(self, lines: Sequence[Line]) -> None:
        messages = [syslog_message(line, hostname=self._hostname, procid=os.getpid()) for line in lines]
        try:
            with anyio.fail_after(TIMEOUT):
                if self.tcp:
                    if self._stream is None:
                        self._stream = await anyio.connect_tcp(self.target.host, self.target.port)
                    await self._stream.send(b"".join(str(len(m)).encode() + b" " + m for m in messages))
                else:
                    if self._udp is None:
                        self._udp = await anyio.create_connected_udp_socket(
                            self.target.host, self.target.port
                        )
                    for message in messages:
                        await self._udp.send(message)
        except (OSError, TimeoutError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            await self.aclose()  # a new connection next time
            raise SinkError(f"{type(exc).__name__} sending to {self.target.display}") from None

    async def aclose(self) -> None:
        for resource in (self._stream, self._udp):
            if resource is not None:
                try:
                    await resource.aclose()
                except (OSError, anyio.BrokenResourceError):
                    pass
        self._stream = self._udp = None


# --- the file log's source and cursor -------------------------------------------------------------


class FileSource:
    """The file log's records (through its index), up to the last seq this process made durable."""

    def __init__(self, directory: Path, durable: Callable[[], int]) -> None:
        self.directory = directory
        self._durable = durable

    def read_after(self, seq: int, limit: int) -> list[Line]:
        durable = self._durable()
        if durable <= seq:
            return []
        return [line_of(r) for r in query(self.directory, after_seq=seq, limit=limit) if r["seq"] <= durable]


class FileCursor:
    """`<data dir>/audit-sink-<key>.cursor`: {"seq", "hash"} of the last acknowledged record, 0600,
    replaced atomically."""

    def __init__(self, data_dir: Path, key: str) -> None:
        self.path = Path(data_dir) / f"audit-sink-{key}.cursor"

    def load(self) -> int:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"the audit sink's cursor {self.path} cannot be read ({exc}): remove it to send every "
                "record again from the start"
            ) from None
        return int(data.get("seq", 0))

    def save(self, seq: int, record_hash: str) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps({"seq": seq, "hash": record_hash}))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


# --- the follower ---------------------------------------------------------------------------------


class SinkFollower:
    """Follows the log after the cursor, delivers batches, advances the cursor on acknowledgement."""

    def __init__(
        self,
        source: Source,
        cursor: Cursor,
        transport: Transport,
        *,
        display: str,
        batch: int = BATCH,
        poll: float = POLL,
        backoff_base: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
        rng: random.Random | None = None,
    ) -> None:
        self.source, self.cursor, self.transport = source, cursor, transport
        self.display = display
        self.batch, self.poll = batch, poll
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self._rng = rng or random.SystemRandom()
        self.position = 0
        self.delivered = 0  # records acknowledged by this process
        self.failures = 0  # consecutive failed deliveries
        self._wake = anyio.Event()

    def nudge(self) -> None:
        """New records may be there: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Forever (until cancelled); never raises: the serving process must not stop for its sink."""
        while True:
            try:
                await self._loop()
            except anyio.get_cancelled_exc_class():
                raise
            except Exception:
                log.exception("audit sink to %s stopped unexpectedly; restarting it in 5 s", self.display)
                await anyio.sleep(5.0)

    async def _loop(self) -> None:
        self.position = await anyio.to_thread.run_sync(self.cursor.load)
        while True:
            if not await self.step():
                with anyio.move_on_after(self.poll):
                    await self._wake.wait()
                self._wake = anyio.Event()

    async def step(self) -> bool:
        """Send the next batch; True when one was acknowledged (there may be more)."""
        lines = await anyio.to_thread.run_sync(self.source.read_after, self.position, self.batch)
        if not lines:
            return False
        lines = _bounded(lines)
        try:
            # Shielded (the transport bounds it by its timeout): a shutdown waits for a delivery under way
            # and its cursor, rather than sending the same batch again at the next start.
            with anyio.CancelScope(shield=True):
                await self.transport.deliver(lines)
                await anyio.to_thread.run_sync(self.cursor.save, lines[-1].seq, lines[-1].hash)
        except SinkError as exc:
            self.failures += 1
            delay = self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (self.failures - 1)))
            if self.failures == 1 or self.failures % 20 == 0:
                log.warning(
                    "audit sink: %s (%d failure(s) in a row); records from seq %d wait and are sent again "
                    "in %.1f s",
                    exc,
                    self.failures,
                    lines[0].seq,
                    delay,
                )
            await anyio.sleep(delay)
            return False
        if self.failures:
            log.warning("audit sink: %s takes records again (after %d failures)", self.display, self.failures)
        self.failures = 0
        self.position = lines[-1].seq
        self.delivered += len(lines)
        return True

    async def drain(self, deadline: float) -> None:
        """Send what is there until nothing is left or `deadline` seconds have passed (on shutdown)."""
        with anyio.move_on_after(deadline):
            started = time.monotonic()
            while time.monotonic() - started < deadline and await self.step():
                pass


def _bounded(lines: list[Line]) -> list[Line]:
    """As many lines as fit in BATCH_BYTES (at least one)."""
    size = 0
    for i, line in enumerate(lines):
        size += len(line.data) + 1
        if size > BATCH_BYTES and i > 0:
            return lines[:i]
    return lines
