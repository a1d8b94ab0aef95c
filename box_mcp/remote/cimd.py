"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client whose id is an
https URL describes itself in the JSON document at that URL, so it needs no registration.

box-mcp fetches such a document itself, which makes the client id an address an attacker chooses. So:
https only (a server bound to loopback also accepts http://127.0.0.1 / localhost ids, for development, as
RFC 8252 does for redirects); every address the host resolves to is checked, and private, loopback,
link-local, multicast, reserved, CGNAT and unspecified ones are refused; the connection goes to the
checked address (the TLS name and Host header stay the hostname), so a second DNS answer cannot swap
it (DNS rebinding); no redirects; at most `max_bytes` (5 KiB) read, within `timeout`; the document's
`client_id` must be its own URL, it must be a public client (no secret, auth method `none`), and its
redirect URIs pass the same rules as a registration's. Answers are cached (Cache-Control max-age,
clamped to 5 min..1 day), failures for a minute, so a hostile id cannot make box-mcp fetch in a loop.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import ValidationError

Clock = Callable[[], float]
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class CIMDError(Exception):
    """Why a client id metadata document is not accepted, in words a person can act on."""


def is_cimd_client_id(client_id: str) -> bool:
    return client_id.startswith(("https://", "http://"))


def address_refused(address: str, *, allow_loopback: bool) -> str | None:
    """None when box-mcp may connect to `address`; else why not."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else f"{ip} is a loopback address"
    if allow_loopback:
        return f"{ip} is not loopback (a loopback server fetches only loopback http documents)"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return f"{ip} is a shared (CGNAT) address"
    for what, flag in (
        ("private", ip.is_private),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
    ):
        if flag:
            return f"{ip} is a {what} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def redirect_uri_problem(uri: str) -> str | None:
    """Why a client may not register `uri` as a redirect; None when it may. https anywhere, http only on
    loopback, and private-use schemes (cursor://, vscode://, com.example.app:/cb) for native apps."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if parts.fragment:
        return f"redirect URI {uri!r} has a fragment"
    if scheme == "https":
        return None if parts.hostname else f"redirect URI {uri!r} has no host"
    if scheme == "http":
        if parts.hostname in LOOPBACK_NAMES:
            return None
        return f"redirect URI {uri!r} is plain http off loopback: use https"
    if scheme in ("javascript", "data", "file", "about", "blob", "vbscript", "ftp", "ws", "wss", ""):
        return f"redirect URI {uri!r} has a scheme that cannot receive an OAuth answer"
    if re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        return None  # a native app's private-use scheme (RFC 8252 §7.1)
    return f"redirect URI {uri!r} is not a URL"


def _clamp(cache_control: str) -> float:
    match = re.search(r"max-age=(\d+)", cache_control or "")
    if "no-store" in (cache_control or "") or "no-cache" in (cache_control or ""):
        return 300.0
    seconds = float(match.group(1)) if match else 3600.0
    return min(max(seconds, 300.0), 86400.0)


class CIMDResolver:
    """Fetches, checks and caches client id metadata documents."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        allow_loopback: bool,
        max_bytes: int = 5120,
        timeout: float = 5.0,
        cache_size: int = 512,
        clock: Clock = time.monotonic,
    ) -> None:
        self._http = http
        self.allow_loopback = allow_loopback
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.cache_size = cache_size
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, OAuthClientInformationFull | CIMDError]] = OrderedDict()

    def __repr__(self) -> str:
        return f"CIMDResolver(allow_loopback={self.allow_loopback})"

    async def resolve(self, client_id: str) -> OAuthClientInformationFull:
        now = self._clock()
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(client_id)
            if isinstance(cached[1], CIMDError):
                raise cached[1]
            return cached[1]
        try:
            client, ttl = await self._fetch(client_id)
        except CIMDError as exc:
            self._keep(client_id, now + 60.0, exc)
            raise
        self._keep(client_id, now + ttl, client)
        return client

    def _keep(self, key: str, until: float, value: OAuthClientInformationFull | CIMDError) -> None:
        self._cache[key] = (until, value)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def check_url(self, client_id: str) -> tuple[str, str, int]:
        """(scheme, hostname, port) of an acceptable client id URL, else CIMDError."""
        parts = urlsplit(client_id)
        if parts.scheme == "http":
            if not (self.allow_loopback and parts.hostname in LOOPBACK_NAMES):
                raise CIMDError(
                    "client id URLs must be https (plain http is accepted only for 127.0.0.1/localhost "
                    "when box-mcp itself is bound to loopback)"
                )
        elif parts.scheme != "https":
            raise CIMDError("a client id URL must be https")
        if not parts.hostname or parts.username or parts.password:
            raise CIMDError("a client id URL needs a host and no user info")
        if parts.fragment or not parts.path or parts.path == "/":
            raise CIMDError("a client id URL needs a path and no fragment")
        if any(seg in (".", "..") for seg in parts.path.split("/")):
            raise CIMDError("a client id URL must not have . or .. path segments")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise CIMDError("a client id URL has an invalid port") from None
        return parts.scheme, parts.hostname, port

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise CIMDError(f"the client id's host {host} does not resolve") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            why = address_refused(address, allow_loopback=self.allow_loopback)
            if why:
                raise CIMDError(f"the client id's host {host} resolves to a refused address: {why}")
        if not addresses:
            raise CIMDError(f"the client id's host {host} has no address")
        return addresses

    async def _fetch(self, client_id: str) -> tuple[OAuthClientInformationFull, float]:
        scheme, host, port = self.check_url(client_id)
        address = (await self._addresses(host, port))[0]
        parts = urlsplit(client_id)
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        body = bytearray()
        try:
            with anyio.fail_after(self.timeout):
                request = self._http.build_request("GET", pinned, headers=headers, extensions=extensions)
                response = await self._http.send(request, stream=True, follow_redirects=False)
                try:
                    if response.status_code != 200:
                        raise CIMDError(f"the client id URL answered HTTP {response.status_code} (need 200)")
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > self.max_bytes:
                            raise CIMDError(f"the client metadata document is over {self.max_bytes} bytes")
                finally:
                    await response.aclose()
        except TimeoutError:
            raise CIMDError(f"the client id URL did not answer within {self.timeout:g} s") from None
        except httpx2.HTTPError as exc:
            raise CIMDError(f"the client id URL could not be fetched ({type(exc).__name__})") from None
        try:
            document = json.loads(bytes(body))
        except (ValueError, UnicodeDecodeError):
            raise CIMDError("the client metadata document is not JSON") from None
        return self._client(client_id, document), _clamp(response.headers.get("cache-control", ""))

    def _client(self, client_id: str, document: object) -> OAuthClientInformationFull:
        if not isinstance(document, dict):
            raise CIMDError("the client metadata document is not a JSON object")
        if document.get("client_id") != client_id:
            raise CIMDError("the document's client_id is not the URL it was fetched from")
        if "client_secret" in document or "client_secret_expires_at" in document:
            raise CIMDError("a client metadata document must not carry a client secret")
        method = document.get("token_endpoint_auth_method", "none")
        if method != "none":
            raise CIMDError(
                f"token_endpoint_auth_method {method!r} is not supported for metadata documents (use none)"
            )
        uris = document.get("redirect_uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
            raise CIMDError("the client metadata document needs redirect_uris")
        for uri in uris:
            problem = redirect_uri_problem(uri)
            if problem:
                raise CIMDError(problem)
        fields = {
            k: document[k]
            for k in (
                "client_name",
                "client_uri",
                "logo_uri",
                "redirect_uris",
                "scope",
                "contacts",
                "software_id",
                "software_version",
            )
            if k in document
        }
        try:
            return OAuthClientInformationFull.model_validate(
                {
                    **fields,
                    "client_id": client_id,
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                }
            )
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CIMDError(f"the client metadata document is invalid: {where}: {first['msg']}") from None
