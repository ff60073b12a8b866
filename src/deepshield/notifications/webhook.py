"""Webhook delivery: an HTTP POST of a JSON body, signed with HMAC-SHA256.

Headers a receiver can rely on:
- ``X-DeepShield-Signature: sha256=<hex>``: HMAC-SHA256 of the raw body with the shared
  secret (``DEEPSHIELD_WEBHOOK_SECRET``), sent when a secret is set. Check it over the bytes
  received, before parsing, with a constant-time comparison (``verify_signature``).
- ``X-DeepShield-Delivery: <notification id>``: the same for every retry of one message, so a
  receiver that saw it already can answer 2xx and do nothing. Delivery is at least once: a
  process that dies after the POST but before recording it sends again.
- ``X-DeepShield-Event: <kind>``: receipt, decision, statement_of_reasons, partner_status...

URLs: ``https`` to any host. Plain ``http`` only to ``localhost`` or a literal loopback or
private address (tests, and receivers inside the operator's own network), because anything
else would carry case facts in clear text across the internet. Host names are not resolved
here, so ``http`` to a name is refused even when it points at a private address. Redirects are
not followed: a receiver that moved must be reconfigured, not chased.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import ssl
from urllib.parse import urlsplit

import httpx

from deepshield import __version__
from deepshield.notifications import DeliveryError

SIGNATURE_HEADER = "X-DeepShield-Signature"
DELIVERY_HEADER = "X-DeepShield-Delivery"
EVENT_HEADER = "X-DeepShield-Event"
DEFAULT_TIMEOUT_S = 10.0


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for ``body``: ``sha256=<hex>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, header_value: str | None, secret: str) -> bool:
    """True when ``header_value`` is the signature of ``body`` under ``secret`` (constant time)."""
    if not header_value:
        return False
    return hmac.compare_digest(sign(body, secret), header_value.strip())


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~150 ms: once per process, not once per message.
    return httpx.create_ssl_context()


def _is_local_address(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def url_problem(url: str) -> str | None:
    """Why ``url`` may not receive webhooks, or None when it may. The reason names no URL."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "the webhook URL is malformed"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "a webhook URL must be an http(s) URL with a host"
    if parts.scheme == "http" and not _is_local_address(parts.hostname):
        return "plain http is allowed only to localhost or a loopback or private address; use https"
    return None


def post_json(url: str, body: str, *, secret: str, delivery_id: str, event: str = "",
              timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """POST ``body`` (JSON text, sent byte for byte as signed) to ``url``.

    Returns when the receiver answered 2xx. Raises ``DeliveryError`` otherwise; its reason
    names neither the URL nor the body (permanent for a refused URL).
    """
    problem = url_problem(url)
    if problem:
        raise DeliveryError(problem, permanent=True)
    raw = body.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"DeepShield/{__version__}",
               DELIVERY_HEADER: delivery_id}
    if event:
        headers[EVENT_HEADER] = event
    if secret:
        headers[SIGNATURE_HEADER] = sign(raw, secret)
    try:
        # Proxies from the environment serve https to the internet; local http goes direct.
        via_env = urlsplit(url.strip()).scheme == "https"
        with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=via_env,
                          verify=_tls_context()) as client:
            response = client.post(url.strip(), content=raw, headers=headers)
    except httpx.TimeoutException:
        raise DeliveryError("the webhook receiver did not answer in time") from None
    except httpx.HTTPError as error:
        raise DeliveryError(f"could not reach the webhook receiver ({type(error).__name__})") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"the webhook receiver answered HTTP {response.status_code}")
