"""Outbound HTTP to URLs that platform clients choose (webhooks), without letting them
reach our own network: no loopback, private, link-local (cloud metadata), shared,
multicast, reserved or unspecified address, however it is spelled.

A URL is vetted twice: when it is saved (:func:`check_url`, so the client gets a clear
error) and before every send (:func:`post`), because DNS answers change. At send time the
name is resolved once, every address it has is vetted, and the connection goes to a vetted
address, so a rebinding DNS server is never asked a second time; the name still goes into
the Host header, the TLS SNI and the certificate check. Redirects are not followed,
timeouts are short and at most ``MAX_RESPONSE_BYTES`` of an answer are read.

Settings: ``WEBHOOK_REQUIRE_HTTPS`` (on in production) refuses plain http;
``WEBHOOK_ALLOW_PRIVATE_TARGETS`` (on outside production only) lets a receiver on
127.0.0.1 work in development and tests.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from refunds.exceptions import ClaimValidationError

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0
# Tried in the resolver's order; three connect timeouts and a read stay within the
# delivery task's soft time limit.
MAX_ADDRESSES_TRIED = 3
MAX_RESPONSE_BYTES = 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class TargetRefused(ClaimValidationError):
    """This URL may not be called. ``code``: ``invalid_url``, ``https_required``,
    ``local_name`` or ``private_address``."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # an ASCII name (IDNA) or an IP literal without brackets
    port: int
    path: str  # path and query, as sent in the request line


@dataclass(frozen=True)
class Address:
    """One vetted answer of the resolver, ready to connect to."""

    family: socket.AddressFamily
    sockaddr: tuple
    ip: IPAddress


@dataclass(frozen=True)
class Answer:
    status: int
    body_start: bytes  # at most MAX_RESPONSE_BYTES


def is_public_address(address: IPAddress) -> bool:
    """True only for a globally routable unicast address. IPv4 carried inside IPv6
    (mapped, compatible, 6to4, NAT64) is judged as the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or int(address) >> 32 == 0:  # NAT64, or IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse(url: str) -> Target:
    """The URL's parts, or TargetRefused for anything but an http(s) URL with a host (and
    for plain http where https is required)."""
    invalid = TargetRefused(
        _("The webhook URL must be an http or https URL with a host name."), code="invalid_url"
    )
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise invalid from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise invalid
    if scheme == "http" and settings.WEBHOOK_REQUIRE_HTTPS:
        raise TargetRefused(_("The webhook URL must use https."), code="https_required")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def resolve(target: Target) -> list[Address]:
    """The target's addresses, all vetted (unless private targets are allowed).

    Raises TargetRefused when any address is internal (a name with one public and one
    private address is refused whole), ``socket.gaierror`` when the name does not resolve.
    """
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
    name = target.host.rstrip(".")
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        # RFC 6761: every *.localhost is this machine, whatever a resolver says.
        raise TargetRefused(
            _("The webhook URL names this machine (localhost); use a public address."),
            code="local_name",
        )
    addresses: list[Address] = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(
        target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    ):
        address = Address(family, sockaddr, ipaddress.ip_address(sockaddr[0]))
        if address not in addresses:
            addresses.append(address)
    if not allow_private and not all(is_public_address(a.ip) for a in addresses):
        # The address itself is not named: it would tell a client our internal DNS.
        raise TargetRefused(
            _("The webhook URL points at an internal address; use a public address."),
            code="private_address",
        )
    return addresses


def check_url(url: str) -> None:
    """Refuse (TargetRefused) a URL that may not be called, for saving it. A name that
    does not resolve now is accepted: it is vetted again before every send."""
    target = parse(url)
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return
    try:
        resolve(target)
    except OSError:
        pass


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` once to a vetted address of ``url``.

    Raises TargetRefused before any connection when the URL may not be called, and
    ``OSError`` (DNS, connection, TLS, timeout) or ``http.client.HTTPException`` (a
    malformed answer) when the send fails. A redirect is returned as it is, not followed.
    """
    target = parse(url)
    addresses = resolve(target)
    if target.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPSConnection(target, addresses)
    else:
        connection = _PinnedHTTPConnection(target, addresses)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(status=response.status, body_start=response.read(MAX_RESPONSE_BYTES))
    finally:
        connection.close()


def _connect(addresses: list[Address]) -> socket.socket:
    error: OSError | None = None
    for address in addresses[:MAX_ADDRESSES_TRIED]:
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT_SECONDS)
            sock.connect(address.sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.settimeout(READ_TIMEOUT_SECONDS)
        return sock
    raise error or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """http.client with the socket opened to a vetted address instead of a new lookup."""

    def __init__(self, target: Target, addresses: list[Address]) -> None:
        super().__init__(target.host, target.port, timeout=READ_TIMEOUT_SECONDS)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS verified against the URL's name (SNI and certificate)."""

    def __init__(self, target: Target, addresses: list[Address]) -> None:
        self._tls = ssl.create_default_context()  # verifies the chain and the name
        super().__init__(target.host, target.port, timeout=READ_TIMEOUT_SECONDS, context=self._tls)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = self._tls.wrap_socket(_connect(self._addresses), server_hostname=self.host)
