"""Keyed hashes: how the portal counts and matches things it must not keep in the clear.

A client address, an account, a browser session, a banned contact, a recovery code: each is
stored (or compared) only as HMAC-SHA256 under SECRET_KEY, with a kind in front so that one
value hashed for two purposes gives two unrelated keys. Changing SECRET_KEY therefore forgets
every count and every ban, and voids the recovery codes.

One module for the staff sign-in throttle (`portal.auth.service`) and the anonymous side's
rate limits (`portal.abuse`): a client is the same client to both.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from flask import current_app, request

# An IPv6 subscriber gets a whole /64 (usually far more): one device can pick a new address in
# it at every request, so the /64 is what stands for the client. An IPv4 address is itself.
IPV6_CLIENT_PREFIX = 64


def keyed(kind: str, value: str, secret_key: str | None = None) -> str:
    """HMAC-SHA256 of `kind:value` under SECRET_KEY (or `secret_key`), as 64 hex digits."""
    if secret_key is None:
        secret_key = current_app.config["SECRET_KEY"]
    return hmac.new(secret_key.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def client_address(remote_addr: str | None) -> str:
    """What counts as one client: an IPv4 address, or the /64 network of an IPv6 address."""
    if not remote_addr:
        return "unknown"
    try:
        address = ipaddress.ip_address(remote_addr.split("%", 1)[0])  # no IPv6 zone id
    except ValueError:
        return remote_addr
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:198.51.100.7 is an IPv4 client
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


def client_key() -> str:
    """The keyed hash of this request's client (see `client_address`)."""
    return keyed("client", client_address(request.remote_addr))
