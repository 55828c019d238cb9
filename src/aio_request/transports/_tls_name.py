"""The TLS server name of an ``https`` request sent to an IP address on behalf of a host name.

A replica found through DNS is reached at its address, with the service's ``Host`` header (see
:class:`~aio_request.BalancedEndpointProvider`). Over ``https`` the certificate names the
service, not the address, so both transports send the ``Host`` header's name as the TLS server
name (SNI) and verify the certificate against it. Every other request is verified against its
URL's host, as usual.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import yarl

from aio_request.http.headers import Header

_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def tls_server_name(url: yarl.URL, headers: Mapping[str, str]) -> str | None:
    """The name to verify ``url``'s certificate against, when it is not ``url``'s host.

    That is the ``Host`` header's host name (lower case, without its port or a trailing dot)
    for an ``https`` URL whose host is an IP address; ``None`` otherwise, also for a ``Host``
    that is itself an address or is not ``name[:port]`` with an ASCII DNS name.
    """
    host = headers.get(Header.HOST)
    if not host or url.scheme != "https" or not _is_address(url.host):
        return None
    try:
        parts = urlsplit("//" + host)
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError:
        return None
    name = parts.hostname
    if name is None or _DNS_NAME.fullmatch(name) is None or _is_address(name):
        return None
    return name.removesuffix(".")  # a server name is sent without the root's dot (RFC 6066)


def _is_address(host: str | None) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
