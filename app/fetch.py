"""Fetching a URL someone else gave us (Open311 media_url, the ticket API's media) without being turned on ourselves.

The rules, for every hop (the first URL and each redirect):
- http or https only, no credentials in the URL, a host on the caller's allow-list;
- the host is resolved ONCE and every address it answers must be public (or inside FETCH_ALLOWED_NETWORKS, which an
  operator sets for an intranet photo host); a single internal address refuses the whole answer;
- the connection goes to the address that was checked (urllib3 pinned to the IP), with the Host header and the TLS
  server name (SNI) and certificate check kept for the real host name, so DNS rebinding between the check and the
  connection cannot reach anything else;
- at most FETCH_MAX_REDIRECTS redirects, each one checked like the first URL; the body is capped at `max_bytes`
  (Content-Length first, then while reading) and not decompressed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

Resolver = Callable[[str, int], list[str]]
REDIRECTS = (301, 302, 303, 307, 308)
MAX_URL_LENGTH = 2000


class FetchRefused(ValueError):
    """A URL we will not fetch or whose answer we will not keep; str() is the reason (in English, for the log)."""


@dataclass(frozen=True)
class FetchPolicy:
    """What one caller allows: hosts ("photos.example.org", "*.example.org"), size, redirects, timeouts."""

    allowed_hosts: tuple[str, ...]
    max_bytes: int
    max_redirects: int = 3
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())
    accept: str = "image/jpeg, image/png"
    user_agent: str = "baixing-fetch/1"

    @classmethod
    def from_config(cls, config, allowed_hosts: Iterable[str], max_bytes: int) -> FetchPolicy:
        """A policy from the app's FETCH_* settings and the caller's own allow-list."""
        return cls(
            allowed_hosts=tuple(h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip()),
            max_bytes=max_bytes,
            max_redirects=int(config.get("FETCH_MAX_REDIRECTS", 3)),
            connect_timeout_s=float(config.get("FETCH_CONNECT_TIMEOUT_S", 5.0)),
            read_timeout_s=float(config.get("FETCH_READ_TIMEOUT_S", 20.0)),
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in config.get(
                "FETCH_ALLOWED_NETWORKS", [])),
        )


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def is_allowed_address(text: str, policy: FetchPolicy) -> bool:
    """Public (global, not multicast), or inside one of the operator's FETCH_ALLOWED_NETWORKS."""
    ip = _address(text)
    if any(ip in net for net in policy.allowed_networks):
        return True
    return ip.is_global and not ip.is_multicast


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Exact names, or "*.example.org" for its subdomains (not example.org itself)."""
    return any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in allowed_hosts)


def check_url(url: str, policy: FetchPolicy):
    """Everything that can be checked without DNS (urlsplit parts); FetchRefused with the reason."""
    if len(url) > MAX_URL_LENGTH:
        raise FetchRefused("the URL is too long")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused("the URL must be http or https")
    if parts.username or parts.password:
        raise FetchRefused("the URL must not carry credentials")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise FetchRefused("the URL has a bad port") from exc
    host = parts.hostname.lower().rstrip(".")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not is_allowed_address(host, policy):
        raise FetchRefused("the URL points at an internal address")
    if not host_allowed(host, policy.allowed_hosts):
        raise FetchRefused(f"host {host} is not on the allow-list")
    return parts


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses getaddrinfo gives (IPv4 first)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos}, key=lambda a: (":" in a, a))


def resolve_checked(host: str, port: int, policy: FetchPolicy, resolver: Resolver | None = None) -> list[str]:
    """Resolve once; every address must be allowed. The list returned is what may be connected to."""
    try:
        addresses = list((resolver or system_resolver)(host, port))
    except (OSError, UnicodeError) as exc:
        raise FetchRefused(f"cannot resolve {host}") from exc
    if not addresses:
        raise FetchRefused(f"cannot resolve {host}")
    for address in addresses:
        try:
            allowed = is_allowed_address(address, policy)
        except ValueError as exc:
            raise FetchRefused(f"{host} resolves to something that is not an address") from exc
        if not allowed:
            raise FetchRefused(f"{host} resolves to an internal address")
    return addresses


def _pool(parts, address: str, policy: FetchPolicy) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the checked address; for https the certificate is checked for the real host."""
    host = parts.hostname.lower().rstrip(".")
    timeout = urllib3.Timeout(connect=policy.connect_timeout_s, read=policy.read_timeout_s)
    if parts.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address, parts.port or 443, timeout=timeout, retries=False, maxsize=1, server_hostname=host,
            assert_hostname=host, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
        )
    return urllib3.HTTPConnectionPool(address, parts.port or 80, timeout=timeout, retries=False, maxsize=1)


def _get_once(parts, address: str, policy: FetchPolicy) -> tuple[int, str | None, bytes]:
    """One GET to a checked address: (status, Location, body capped at max_bytes)."""
    host_header = parts.hostname + (f":{parts.port}" if parts.port else "")
    if ":" in parts.hostname:
        host_header = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool = _pool(parts, address, policy)
    try:
        response = pool.urlopen(
            "GET", path, redirect=False, retries=False, preload_content=False, assert_same_host=False,
            headers={"Host": host_header, "User-Agent": policy.user_agent, "Accept": policy.accept,
                     "Accept-Encoding": "identity"},
        )
        try:
            if response.status in REDIRECTS:
                return response.status, response.headers.get("Location"), b""
            if response.status != 200:
                return response.status, None, b""
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > policy.max_bytes:
                raise FetchRefused(f"the answer is larger than {policy.max_bytes} bytes")
            data = bytearray()
            for chunk in response.stream(64 * 1024, decode_content=False):
                data += chunk
                if len(data) > policy.max_bytes:
                    raise FetchRefused(f"the answer is larger than {policy.max_bytes} bytes")
            return 200, None, bytes(data)
        finally:
            response.release_conn()
    except (Urllib3Error, OSError) as exc:
        raise FetchRefused(f"cannot fetch from {parts.hostname}: {type(exc).__name__}") from exc
    finally:
        pool.close()


def fetch(url: str, policy: FetchPolicy, resolver: Resolver | None = None) -> bytes:
    """The body of `url` under `policy`, following checked redirects; FetchRefused with the reason otherwise."""
    for _hop in range(policy.max_redirects + 1):
        parts = check_url(url, policy)
        host = parts.hostname.lower().rstrip(".")
        addresses = resolve_checked(host, parts.port or (443 if parts.scheme == "https" else 80), policy, resolver)
        status, location, body = _get_once(parts, addresses[0], policy)
        if status == 200:
            return body
        if status not in REDIRECTS or not location:
            raise FetchRefused(f"the URL answered HTTP {status}")
        url = urljoin(url, location)
    raise FetchRefused(f"more than {policy.max_redirects} redirects")
