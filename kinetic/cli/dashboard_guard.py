"""Who may use ``kinetic dashboard``: the token and the cross-site checks (pure decisions).

The dashboard can cancel and retry jobs, so:

* bound to a loopback address it serves this machine's user; the Host header must name a
  loopback host (a web page elsewhere cannot reach it through DNS rebinding);
* bound to any other address it requires a token (``Authorization: Bearer``, the
  ``X-Kinetic-Token`` header, or ``?token=`` for the page itself and its event streams);
* every state-changing request (POST) must carry the ``X-Kinetic-Request`` header, which a
  cross-site form cannot send and a cross-site script cannot without a CORS preflight the
  dashboard never grants, and its Origin (when the browser sends one) must be the
  dashboard's own.

``kinetic.cli.dashboard_api`` applies the decision of ``refusal`` to each request.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

CSRF_HEADER = "X-Kinetic-Request"
TOKEN_HEADER = "X-Kinetic-Token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass(frozen=True)
class Guard:
    """The dashboard's bind address and token (None: no token asked, loopback only)."""

    host: str
    port: int
    token: str | None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or "localhost") is this machine only."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The name in a Host header, without its port ("[::1]:8080" → "[::1]")."""
    if host_header.startswith("["):
        return host_header.split("]")[0] + "]"
    return host_header.rsplit(":", 1)[0] if ":" in host_header else host_header


def refusal(
    guard: Guard,
    method: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
) -> tuple[int, str] | None:
    """Why a request is refused, as (HTTP status, message); None lets it through."""
    if guard.token is None:
        if _host_name(headers.get("Host", "")) not in LOOPBACK_NAMES:
            return 403, "this dashboard answers only to a loopback Host"
    else:
        given = _given_token(headers, query)
        if given is None or not hmac.compare_digest(given.encode(), guard.token.encode()):
            return 401, "a token is required (the URL kinetic dashboard printed has it)"
    if method.upper() not in ("GET", "HEAD", "OPTIONS"):
        if headers.get(CSRF_HEADER) != "1":
            return 403, f"a state-changing request needs the {CSRF_HEADER}: 1 header"
        origin = headers.get("Origin")
        if origin is not None and origin != f"http://{headers.get('Host', '')}":
            return 403, f"cross-site request refused (Origin {origin})"
        if headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return 403, "cross-site request refused (Sec-Fetch-Site)"
    return None


def _given_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer ") :].strip()
    return headers.get(TOKEN_HEADER) or query.get("token")
