"""Sending one webhook over HTTP, safely.

The host is resolved here and the connection made to the address that was checked, so a
name cannot resolve to a public address for the check and a private one for the send.
Loopback, private, link-local and other non-public addresses are refused unless the
operator allows them (``WAYBILL_ALLOW_PRIVATE_WEBHOOKS``, for tests and development).
Redirects are not followed; the whole exchange has a 15 second limit."""
from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from app import clock

TIMEOUT_SECONDS = 15
EXCERPT = 500
#: Certificate authorities to trust; None is the system's (tests name their own).
CA_CERTS: str | None = None
USER_AGENT = "Waybill-Webhooks/1"


class UrlRefused(ValueError):
    """The URL may not receive webhooks; the message says why."""


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    duration_ms: int
    excerpt: str | None = None
    retry_after: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a URL that can never be delivered to (checked when an endpoint is saved)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UrlRefused("the URL must be https://host/path")
    if parts.scheme == "http" and not allow_private:
        raise UrlRefused("webhooks are sent over https only")
    if parts.username or parts.password:
        raise UrlRefused("credentials in the URL are not allowed; authenticate with the signature")
    try:
        parts.port
    except ValueError:
        raise UrlRefused("the port is not a number") from None
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and not allow_private and not _public(literal):
        raise UrlRefused(f"{literal} is not a public address")
    if parts.hostname.lower() in ("localhost", "localhost.localdomain") and not allow_private:
        raise UrlRefused("localhost is not a public address")


#: Global unicast IPv6: everything else (IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96,
#: site-local fec0::/10, unique-local, link-local) is refused.
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A public unicast address, including whatever IPv4 address an IPv6 form carries."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return _public(address.ipv4_mapped)
        if address not in _GLOBAL_UNICAST_V6 or address.is_site_local:
            return False
        if address.sixtofour is not None and not _public(address.sixtofour):  # 2002::/16 (6to4)
            return False
        if address.teredo is not None:
            return False
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int, *, allow_private: bool) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UrlRefused(f"cannot resolve {host}: {exc.strerror}") from None
    addresses = [info[4][0] for info in infos]
    if not allow_private:
        refused = [a for a in addresses if not _public(ipaddress.ip_address(a))]
        if refused:
            raise UrlRefused(f"{host} resolves to {refused[0]}, which is not a public address")
    return addresses[0]


def post(url: str, body: bytes, headers: dict, *, allow_private: bool) -> Answer:
    """POST ``body`` to ``url``; never raises for what the far side does."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_url(url, allow_private=allow_private)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = _resolve(parts.hostname, port, allow_private=allow_private)
    except UrlRefused as exc:
        return Answer(None, elapsed(), error=str(exc)[:300])
    pool = _pool(parts.scheme, address, port, parts.hostname)
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        response = pool.urlopen("POST", path, body=body, redirect=False, preload_content=False,
                                headers={**headers, "Host": host_header, "User-Agent": USER_AGENT,
                                         "Content-Type": "application/json"})
        try:
            excerpt = response.read(EXCERPT, decode_content=True).decode("utf-8", "replace")
        finally:
            if response.length_remaining == 0 or (response.length_remaining is None and excerpt == ""):
                response.release_conn()  # read to its end: the connection is kept for the next one
            else:
                response.close()  # more than the excerpt (or of unknown length): not reused
        return Answer(response.status, elapsed(), excerpt or None,
                      retry_after=_retry_after(response.headers.get("Retry-After")))
    except urllib3.exceptions.HTTPError as exc:
        return Answer(None, elapsed(), error=_describe(exc))


#: Connections kept open to receivers, per (scheme, checked address, port, name): a busy
#: endpoint is not a new TCP (and TLS) handshake per delivery. Bounded; the least used closes.
_POOLS: OrderedDict = OrderedDict()
_POOLS_LOCK = threading.Lock()
MAX_POOLS = 256
#: Connections kept to one receiver (more may open at once; those are not kept).
KEEP_PER_RECEIVER = 16


def _pool(scheme: str, address: str, port: int, hostname: str):
    key = (scheme, address, port, hostname, CA_CERTS)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is not None:
            _POOLS.move_to_end(key)
            return pool
        timeout = urllib3.Timeout(total=TIMEOUT_SECONDS)
        if scheme == "https":
            # Connected to the checked address; TLS still checks the certificate of the name.
            pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False, ca_certs=CA_CERTS,
                                               server_hostname=hostname, assert_hostname=hostname,
                                               maxsize=KEEP_PER_RECEIVER)
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False,
                                              maxsize=KEEP_PER_RECEIVER)
        _POOLS[key] = pool
        while len(_POOLS) > MAX_POOLS:
            _POOLS.popitem(last=False)[1].close()
        return pool


def _describe(exc: Exception) -> str:
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return f"no answer within {TIMEOUT_SECONDS} s"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS failed: {exc}"[:300]
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "connection refused or unreachable"
    return f"{type(exc).__name__}: {exc}"[:300]


def _retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() - clock.timestamp()))

