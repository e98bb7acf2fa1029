#!/usr/bin/env python3
"""Local emulator of the EDB BigAnimal portal API and its Auth0 issuer, for demos and tests.

One loopback HTTP (or HTTPS) server plays both parties of a BigAnimal login:

* the portal: ``/api/v3`` and ``/api/v2`` with ``auth/provider``, ``auth/token`` (token
  exchange) and ``user-info``;
* the issuer: ``/oauth/device/code``, ``/oauth/token`` (device code and refresh grants,
  with refresh-token rotation and reuse detection), ``/oauth/revoke`` and an ``/activate``
  page where a person approves or denies a user code;
* a control API under ``/_emulator/`` through which tests read counters, change settings,
  approve codes and inject faults.

Run it with ``python3 emulator/biganimal_emulator.py [options]`` (``--help`` lists them).
After binding, it prints one line, ``http://127.0.0.1:PORT`` (``https://`` with
``--tls-cert`` and ``--tls-key``), to stdout and logs each
request (method, path, status) to stderr. Request bodies, query strings and token values
are never logged. SIGTERM or SIGINT stops it with exit status 0. It uses only the Python
standard library, keeps everything in memory and signs its tokens with keys that are
random per process. docs/emulator.md describes every option and endpoint.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import hmac
import html
import json
import logging
import math
import os
import secrets
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("biganimal-emulator")

CLIENT_ID = "emu-client"
FREE_TRIAL_CLIENT_ID = "emu-trial-client"
KNOWN_CLIENT_IDS = (CLIENT_ID, FREE_TRIAL_CLIENT_ID)
PROVIDER_SCOPE = "openid profile email offline_access"
AUDIENCE = "https://portal.biganimal.com/api"
ORGANIZATION_ID = "org_emulator"
PORTAL_PREFIXES = ("/api/v3", "/api/v2")
CONTROL_PREFIX = "/_emulator/"

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_TOKEN_GRANT = "refresh_token"
# RFC 8628 §3.5: a client that polls without a server interval waits 5 s, and every
# slow_down adds 5 s to the interval.
DEFAULT_POLL_INTERVAL = 5
SLOW_DOWN_STEP = 5
# The base-20 consonant set that RFC 8628 §6.1 suggests. Without vowels, codes cannot spell words.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
STATUS_STYLES = ("auth0", "rfc")
# HTTP status per OAuth error in Auth0 style. Errors not listed here use 400 in both styles.
AUTH0_ERROR_STATUS = {
    "authorization_pending": 403,
    "expired_token": 403,
    "access_denied": 403,
    "invalid_grant": 403,
    "slow_down": 429,
}

MAX_REQUEST_BODY = 1024 * 1024
HUGE_BODY_SIZE = 20 * 1024 * 1024
HUGE_BODY_CHUNK = 64 * 1024
TIMEOUT_FAULT_HOLD_SECONDS = 120
IDLE_CONNECTION_TIMEOUT_SECONDS = 300
REQUEST_QUEUE_SIZE = 128
# How often serve_forever() checks for shutdown, in seconds. It bounds the stop time.
SHUTDOWN_POLL_SECONDS = 0.1

FAULT_KINDS = (
    "timeout",
    "reset",
    "html502",
    "nonjson200",
    "huge",
    "rate_limit",
    "rate_limit_reset",
    "rate_limit_bare",
    "server_error",
    "unavailable",
    "lose_response",
)
COUNTER_NAMES = (
    "provider",
    "device_code",
    "token_device",
    "token_refresh",
    "refresh_success",
    "reuse_detections",
    "exchange",
    "user_info",
    "revoke",
    "activate",
    "slow_down",
    "logins",
    "faults",
    "total",
)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Config:
    """Settings that the command line sets and ``POST /_emulator/config`` changes."""

    auto_approve: bool = False
    approve_after_polls: int = 0
    slow_down_polls: int = 0
    interval: int | float | None = DEFAULT_POLL_INTERVAL
    device_code_ttl: int = 900
    access_token_ttl: int = 86400
    portal_token_ttl: int = 86400
    refresh_token_ttl: int = 2592000
    latency_ms: int = 0
    status_style: str = "auth0"
    rotate: bool = True
    enforce_interval: bool = True
    access_keys: tuple[str, ...] = ()
    email: str = "alice@example.com"

    def to_json(self) -> dict:
        settings = dataclasses.asdict(self)
        settings["access_keys"] = len(self.access_keys)
        return settings

    def effective_interval(self) -> float:
        """Return the poll interval that clients must keep, which is 5 s when none is sent."""
        return DEFAULT_POLL_INTERVAL if self.interval is None else self.interval


def normalize_number(value: int | float) -> int | float:
    """Return a whole float as int, so that 5.0 is sent as ``5`` and 0.2 as ``0.2``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_plain_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_bool(value: object) -> bool:
    return isinstance(value, bool)


def validate_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def validate_interval(value: object) -> bool:
    return value is None or (is_plain_number(value) and value >= 0)


def validate_status_style(value: object) -> bool:
    return value in STATUS_STYLES


def validate_access_keys(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(key, str) and key for key in value)


def validate_email(value: object) -> bool:
    return isinstance(value, str) and "@" in value


CONFIG_VALIDATORS = {
    "auto_approve": (validate_bool, "a boolean"),
    "approve_after_polls": (validate_count, "a non-negative integer"),
    "slow_down_polls": (validate_count, "a non-negative integer"),
    "interval": (validate_interval, "a non-negative number of seconds, or null to omit the field"),
    "device_code_ttl": (validate_count, "a non-negative integer number of seconds"),
    "access_token_ttl": (validate_count, "a non-negative integer number of seconds"),
    "portal_token_ttl": (validate_count, "a non-negative integer number of seconds"),
    "refresh_token_ttl": (validate_count, "a non-negative integer number of seconds"),
    "latency_ms": (validate_count, "a non-negative integer number of milliseconds"),
    "status_style": (validate_status_style, "one of " + ", ".join(STATUS_STYLES)),
    "rotate": (validate_bool, "a boolean"),
    "enforce_interval": (validate_bool, "a boolean"),
    "access_keys": (validate_access_keys, "a list of non-empty strings"),
    "email": (validate_email, "an e-mail address"),
}


def apply_config_update(config: Config, update: object) -> Config:
    """Return ``config`` with the fields of ``update`` replaced.

    Raises ValueError naming the first unknown key or invalid value, and then nothing
    is changed.
    """
    if not isinstance(update, dict):
        raise ValueError("the body must be a JSON object of settings")
    for key, value in update.items():
        if key not in CONFIG_VALIDATORS:
            raise ValueError(f"unknown setting {key!r}; known settings: {', '.join(CONFIG_VALIDATORS)}")
        validate, expected = CONFIG_VALIDATORS[key]
        if not validate(value):
            raise ValueError(f"invalid value {value!r} for {key!r}: expected {expected}")

    changes = dict(update)
    if changes.get("interval") is not None:
        changes["interval"] = normalize_number(changes["interval"])
    if "access_keys" in changes:
        changes["access_keys"] = tuple(changes["access_keys"])
    return dataclasses.replace(config, **changes)


# --------------------------------------------------------------------------- tokens


def encode_base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_base64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_jwt(key: bytes, claims: dict) -> str:
    """Return a compact JWT with ``claims``, signed with HMAC-SHA256 (HS256)."""
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        encode_base64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + encode_base64url(signature)


def verify_jwt(key: bytes, token: str) -> dict | None:
    """Return the claims of an HS256 JWT whose signature matches ``key``, else None.

    The caller checks ``exp`` and any other claim.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    signing_input = (parts[0] + "." + parts[1]).encode("ascii", "replace")
    expected = encode_base64url(hmac.new(key, signing_input, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return None
    try:
        header = json.loads(decode_base64url(parts[0]))
        claims = json.loads(decode_base64url(parts[1]))
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return None
    return claims


def account_id_for(email: str) -> str:
    """Return a stable Auth0-style subject for an e-mail address."""
    return "auth0|" + hashlib.sha256(email.encode()).hexdigest()[:24]


def new_user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return letters[:4] + "-" + letters[4:]


def normalize_user_code(text: str) -> str:
    """Return the user code in canonical form: RFC 8628 §6.1 makes case and dashes insignificant."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


# --------------------------------------------------------------------------- records


@dataclass
class DeviceCode:
    """One device authorization request and its state."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    audience: str
    expires_at: float
    # Interval in seconds that polls of this code must keep. slow_down raises it.
    interval: float
    # time.monotonic() of the previous response about this code (creation or poll).
    last_response_at: float
    auto_approve: bool
    pending_polls_left: int
    # Polls that still get slow_down whatever their timing.
    forced_slow_downs_left: int
    # pending, approved, denied or consumed (tokens issued).
    status: str = "pending"
    expired_reported: bool = False


@dataclass
class TokenFamily:
    """All refresh tokens that descend from one login, as in Auth0 refresh-token rotation."""

    family_id: str
    client_id: str
    subject: str
    email: str
    scope: str
    audience: str
    # Absolute end of the family's lifetime (epoch seconds). Rotation does not extend it.
    expires_at: float
    current_token: str
    revoked: bool = False


@dataclass
class Fault:
    """An injected failure for the next ``count`` requests whose path matches."""

    path: str
    kind: str
    count: int

    def to_json(self) -> dict:
        return {"path": self.path, "kind": self.kind, "count": self.count}


# --------------------------------------------------------------------------- HTTP values


@dataclass
class Request:
    """A parsed HTTP request, as the endpoint handlers receive it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    # time.monotonic() when the request line was read, before any latency.
    arrived_at: float
    _form: dict[str, str] | None = field(default=None, repr=False)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def form(self) -> dict[str, str]:
        """Return the body parameters, from a form or, as Auth0 also accepts, a JSON object."""
        if self._form is None:
            self._form = parse_body_parameters(self.header("content-type"), self.body)
        return self._form


def parse_body_parameters(content_type: str, body: bytes) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return {}
        if not isinstance(document, dict):
            return {}
        return {key: value for key, value in document.items() if isinstance(value, str)}
    text = body.decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}


@dataclass
class Reply:
    """An HTTP response to send. Every reply is sent with a Content-Length header."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_reply(status: int, document: object, headers: list[tuple[str, str]] | None = None) -> Reply:
    body = json.dumps(document).encode()
    return Reply(status, body, "application/json", list(headers or []))


def oauth_reply(status: int, document: dict) -> Reply:
    """Return a token-endpoint reply with the no-store headers that RFC 6749 §5.1 requires."""
    return json_reply(status, document, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])


def oauth_error(status: int, error: str, description: str) -> Reply:
    return oauth_reply(status, {"error": error, "error_description": description})


def portal_error(status: int, message: str, source: str = "auth") -> Reply:
    """Return an error in the BigAnimal portal shape, with a random support reference."""
    error = {"status": status, "message": message, "reference": secrets.token_hex(12), "source": source}
    return json_reply(status, {"error": error})


def html_reply(status: int, title: str, paragraphs: list[str], form_user_code: str | None = None) -> Reply:
    """Return a small HTML page. ``paragraphs`` are plain text and are escaped here."""
    body = "".join(f"<p>{html.escape(text)}</p>" for text in paragraphs)
    if form_user_code is not None:
        body += activation_form(form_user_code)
    page = (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Reply(status, page.encode(), "text/html; charset=utf-8")


def activation_form(user_code: str) -> str:
    return (
        '<form method="post" action="/activate">'
        '<label for="user_code">User code</label> '
        f'<input id="user_code" name="user_code" value="{html.escape(user_code, quote=True)}" '
        'autocomplete="off" autofocus> '
        '<button type="submit" name="action" value="approve">Approve</button> '
        '<button type="submit" name="action" value="deny">Deny</button>'
        "</form>"
    )


def is_portal_path(path: str) -> bool:
    return path.startswith("/api/")


def not_found_reply(path: str) -> Reply:
    if is_portal_path(path):
        return portal_error(404, f"no route for {path}", source="api")
    return json_reply(404, {"error": "not_found", "error_description": f"no route for {path}"})


def fault_reply(kind: str, path: str) -> Reply:
    """Return the response that fault ``kind`` sends, for kinds that send one at all."""
    if kind == "html502":
        page = (
            "<html><head><title>502 Bad Gateway</title></head>"
            "<body><h1>502 Bad Gateway</h1><p>The upstream server did not respond.</p></body></html>"
        )
        return Reply(502, page.encode(), "text/html")
    if kind == "nonjson200":
        return Reply(200, b"OK", "text/plain")
    if kind in ("rate_limit", "rate_limit_reset", "rate_limit_bare"):
        return rate_limit_reply(kind, path)
    if kind == "server_error":
        return portal_error(500, "internal server error (injected by the emulator)", source="api")
    if kind == "unavailable":
        return Reply(503, b"Service Unavailable", "text/plain")
    raise ValueError(f"fault kind {kind!r} sends no response")


def rate_limit_reply(kind: str, path: str) -> Reply:
    if is_portal_path(path):
        reply = portal_error(429, "too many requests", source="api")
    else:
        reply = json_reply(429, {"error": "too_many_requests", "error_description": "rate limit exceeded"})
    if kind == "rate_limit":
        reply.headers.append(("Retry-After", "1"))
    elif kind == "rate_limit_reset":
        reply.headers.append(("x-ratelimit-limit", "30"))
        reply.headers.append(("x-ratelimit-remaining", "0"))
        reply.headers.append(("x-ratelimit-reset", str(int(time.time()) + 1)))
    return reply


# --------------------------------------------------------------------------- emulator state

PORTAL_ROUTES = {"GET auth/provider": "provider", "POST auth/token": "exchange", "GET user-info": "user_info"}
ISSUER_ROUTES = {
    "POST /oauth/device/code": "device_code",
    "GET /activate": "activate",
    "POST /activate": "activate",
    "POST /oauth/token": "token",
    "POST /oauth/revoke": "revoke",
}


def route_name(method: str, path: str) -> str | None:
    """Return the name of the API route for a request, or None when no route matches."""
    for prefix in PORTAL_PREFIXES:
        if path.startswith(prefix + "/"):
            return PORTAL_ROUTES.get(f"{method} {path[len(prefix) + 1:]}")
    return ISSUER_ROUTES.get(f"{method} {path}")


def route_exists_for_other_method(path: str) -> bool:
    return any(route_name(method, path) for method in ("GET", "POST"))


class EmulatorState:
    """State shared by the portal, the issuer and the control API.

    Callers hold ``lock`` while they use any field. Emulator does that for every request.
    """

    def __init__(self, config: Config, base_url: str) -> None:
        self.lock = threading.Lock()
        self.config = config
        self.base_url = base_url
        self.issuer_uri = base_url + "/"
        self.portal_issuer = base_url + "/api"
        self.issuer_key = secrets.token_bytes(32)
        self.portal_key = secrets.token_bytes(32)
        self.counters = dict.fromkeys(COUNTER_NAMES, 0)
        self.device_codes: dict[str, DeviceCode] = {}
        self.user_codes: dict[str, DeviceCode] = {}
        self.access_tokens: dict[str, TokenFamily] = {}
        self.refresh_tokens: dict[str, TokenFamily] = {}
        self.families: list[TokenFamily] = []
        self.faults: list[Fault] = []
        # Every secret value handed out, for tests that check that none leaks.
        self.issued_secrets: list[str] = list(config.access_keys)

    def record_secret(self, value: str) -> str:
        self.issued_secrets.append(value)
        return value

    def grant_error(self, error: str, description: str) -> Reply:
        status = AUTH0_ERROR_STATUS.get(error, 400) if self.config.status_style == "auth0" else 400
        return oauth_error(status, error, description)


class TokenIssuer(EmulatorState):
    """Issuer tokens: minting, refresh with rotation and reuse detection, and revocation."""

    def start_family(self, code: DeviceCode) -> TokenFamily:
        config = self.config
        family = TokenFamily(
            family_id=secrets.token_hex(8),
            client_id=code.client_id,
            subject=account_id_for(config.email),
            email=config.email,
            scope=code.scope,
            audience=code.audience,
            expires_at=time.time() + config.refresh_token_ttl,
            current_token="",
        )
        self.families.append(family)
        return family

    def issue_tokens(self, family: TokenFamily, include_refresh_token: bool) -> dict:
        """Return a token response for ``family``, rotating its refresh token when asked.

        As with Auth0, a refresh token needs the offline_access scope and an ID token
        needs openid.
        """
        scopes = family.scope.split()
        ttl = self.config.access_token_ttl
        document = {"access_token": self.mint_access_token(family), "expires_in": ttl, "token_type": "Bearer"}
        if "openid" in scopes:
            document["id_token"] = self.mint_id_token(family)
        if include_refresh_token and "offline_access" in scopes:
            family.current_token = self.record_secret("v1." + secrets.token_urlsafe(48))
            self.refresh_tokens[family.current_token] = family
            document["refresh_token"] = family.current_token
        document["scope"] = family.scope
        return document

    def mint_access_token(self, family: TokenFamily) -> str:
        now = int(time.time())
        audiences = [family.audience] if family.audience else []
        claims = {
            "iss": self.issuer_uri,
            "sub": family.subject,
            "aud": audiences + [self.issuer_uri + "userinfo"],
            "iat": now,
            "exp": now + self.config.access_token_ttl,
            "azp": family.client_id,
            "scope": family.scope,
            "jti": secrets.token_hex(8),
        }
        token = self.record_secret(sign_jwt(self.issuer_key, claims))
        self.access_tokens[token] = family
        return token

    def mint_id_token(self, family: TokenFamily) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer_uri,
            "sub": family.subject,
            "aud": family.client_id,
            "email": family.email,
            "email_verified": True,
            "iat": now,
            "exp": now + self.config.access_token_ttl,
        }
        return self.record_secret(sign_jwt(self.issuer_key, claims))

    def refresh(self, form: dict[str, str]) -> Reply:
        """Handle a refresh grant, with Auth0's rotation and reuse detection.

        Only the newest token of a live family works. Presenting an older one revokes the
        whole family, so its newest token stops working too.
        """
        invalid = "Unknown or invalid refresh token."
        token = form.get("refresh_token", "")
        family = self.refresh_tokens.get(token)
        if family is None or family.revoked or family.client_id != form.get("client_id"):
            return self.grant_error("invalid_grant", invalid)
        if family.expires_at <= time.time():
            return self.grant_error("invalid_grant", invalid)
        if token != family.current_token:
            family.revoked = True
            self.counters["reuse_detections"] += 1
            log.warning("refresh token reuse detected: revoked token family %s", family.family_id)
            return self.grant_error("invalid_grant", invalid)

        self.counters["refresh_success"] += 1
        return oauth_reply(200, self.issue_tokens(family, include_refresh_token=self.config.rotate))

    def handle_revoke(self, request: Request) -> Reply:
        """Revoke the family of a refresh token issued to the client.

        Always returns 200 with an empty body, as RFC 7009 §2.2 and Auth0 do, so unknown
        tokens and access tokens are silently ignored.
        """
        form = request.form()
        family = self.refresh_tokens.get(form.get("token", ""))
        if family is not None and family.client_id == form.get("client_id"):
            family.revoked = True
            log.info("revoked token family %s", family.family_id)
        return Reply(200)


class DeviceFlow(TokenIssuer):
    """RFC 8628 device authorization: device codes, the activation page and polling."""

    def handle_device_code(self, request: Request) -> Reply:
        form = request.form()
        client_id = form.get("client_id", "")
        if client_id not in KNOWN_CLIENT_IDS:
            return oauth_error(401, "unauthorized_client", f"unknown client_id {client_id!r}")
        # NOTE: without an audience, the access token cannot be exchanged. Auth0 would use the
        # tenant's default audience if one is set, and whether BigAnimal sets one is unknown.
        audience = form.get("audience", "")
        if audience and audience != AUDIENCE:
            return oauth_error(403, "access_denied", f"no API is registered for the audience {audience!r}")

        code = self.create_device_code(client_id, form.get("scope", ""), audience)
        document = {
            "device_code": code.device_code,
            "user_code": code.user_code,
            "verification_uri": self.base_url + "/activate",
            "verification_uri_complete": f"{self.base_url}/activate?user_code={code.user_code}",
            "expires_in": self.config.device_code_ttl,
        }
        if self.config.interval is not None:
            document["interval"] = self.config.interval
        return oauth_reply(200, document)

    def create_device_code(self, client_id: str, scope: str, audience: str) -> DeviceCode:
        config = self.config
        user_code = new_user_code()
        while normalize_user_code(user_code) in self.user_codes:
            user_code = new_user_code()
        code = DeviceCode(
            device_code=self.record_secret(secrets.token_urlsafe(32)),
            user_code=user_code,
            client_id=client_id,
            scope=scope,
            audience=audience,
            expires_at=time.time() + config.device_code_ttl,
            interval=config.effective_interval(),
            last_response_at=time.monotonic(),
            auto_approve=config.auto_approve,
            pending_polls_left=config.approve_after_polls,
            forced_slow_downs_left=config.slow_down_polls,
        )
        if code.auto_approve and code.pending_polls_left == 0:
            code.status = "approved"
        self.device_codes[code.device_code] = code
        self.user_codes[normalize_user_code(user_code)] = code
        return code

    def handle_activate(self, request: Request) -> Reply:
        if request.method == "GET":
            return html_reply(
                200,
                "Device activation",
                ["Check that the code below matches the one shown on your device."],
                form_user_code=request.query.get("user_code", ""),
            )
        form = request.form()
        action = form.get("action", "")
        if action not in ("approve", "deny"):
            return html_reply(400, "Invalid request", ["The form must send action=approve or action=deny."])
        status, message = self.decide_user_code(form.get("user_code", ""), action == "approve")
        titles = {200: "Done", 404: "Code not found", 409: "Code already decided"}
        return html_reply(status, titles[status], [message])

    def decide_user_code(self, user_code: str, approve: bool) -> tuple[int, str]:
        """Approve or deny a pending user code. Returns an HTTP status and a message.

        Repeating the same decision is accepted. The opposite decision gets 409, and an
        unknown, expired or consumed code gets 404.
        """
        code = self.user_codes.get(normalize_user_code(user_code))
        if code is None or code.status == "consumed" or code.expires_at <= time.time():
            return 404, "No active device code matches this user code. It may have expired."
        decision = "approved" if approve else "denied"
        if code.status not in ("pending", decision):
            return 409, f"The user code {code.user_code} was already {code.status}."
        code.status = decision
        return 200, f"The device with user code {code.user_code} was {decision}. You can close this page."

    def poll_device_code(self, form: dict[str, str], arrived_at: float) -> Reply:
        """Handle one device-code poll and issue tokens once the code is approved.

        The checks run in this order: unknown code or other client, consumed, expired,
        forced or earned slow_down, denied, pending. With auto-approve, only polls that
        get no slow_down count toward ``approve_after_polls``.
        """
        code = self.device_codes.get(form.get("device_code", ""))
        if code is None or code.client_id != form.get("client_id"):
            return self.grant_error("invalid_grant", "unknown device code or wrong client_id")
        if code.status == "consumed":
            return self.grant_error("invalid_grant", "the device code was already used")
        if code.expires_at <= time.time():
            return self.expired_device_code(code)

        if code.forced_slow_downs_left > 0:
            code.forced_slow_downs_left -= 1
            return self.slow_down(code)
        # RFC 8628 §3.5: clients wait the interval after each response. So a poll is too early
        # when it arrives sooner than that after the previous response about this code, or
        # after the code was created for the first poll.
        if self.config.enforce_interval and arrived_at - code.last_response_at < code.interval:
            return self.slow_down(code)
        code.last_response_at = time.monotonic()

        if code.status == "denied":
            return self.grant_error("access_denied", "the user denied the device authorization request")
        if code.status == "pending" and code.auto_approve:
            if code.pending_polls_left > 0:
                code.pending_polls_left -= 1
            else:
                code.status = "approved"
        if code.status == "pending":
            return self.grant_error("authorization_pending", "the user has not approved the device code yet")

        code.status = "consumed"
        self.counters["logins"] += 1
        family = self.start_family(code)
        return oauth_reply(200, self.issue_tokens(family, include_refresh_token=True))

    def expired_device_code(self, code: DeviceCode) -> Reply:
        """Return expired_token on the first poll after expiry and invalid_grant afterwards, as Auth0 does."""
        if code.expired_reported:
            return self.grant_error("invalid_grant", "the device code has expired")
        code.expired_reported = True
        return self.grant_error("expired_token", "the device code has expired")

    def slow_down(self, code: DeviceCode) -> Reply:
        previous = normalize_number(code.interval)
        code.interval += SLOW_DOWN_STEP
        code.last_response_at = time.monotonic()
        self.counters["slow_down"] += 1
        return self.grant_error(
            "slow_down",
            f"polling faster than the interval of {previous} seconds; wait {normalize_number(code.interval)} seconds",
        )


class Portal(EmulatorState):
    """BigAnimal portal endpoints: provider discovery, token exchange and user-info."""

    def handle_provider(self, request: Request) -> Reply:
        return json_reply(
            200,
            {
                "clientId": CLIENT_ID,
                "freetrialClientId": FREE_TRIAL_CLIENT_ID,
                "issuerUri": self.issuer_uri,
                "scope": PROVIDER_SCOPE,
                "audience": AUDIENCE,
            },
        )

    def handle_exchange(self, request: Request) -> Reply:
        try:
            document = json.loads(request.body)
        except ValueError:
            return portal_error(400, "the request body is not valid JSON")
        raw_token = document.get("token") if isinstance(document, dict) else None
        if not isinstance(raw_token, str) or not raw_token:
            return portal_error(400, "the request body must be a JSON object with a string field 'token'")

        claims = verify_jwt(self.issuer_key, raw_token)
        if claims is None or raw_token not in self.access_tokens:
            return portal_error(401, "the access token was not issued by this issuer")
        if claims.get("exp", 0) <= time.time():
            return portal_error(401, "the access token has expired")
        if AUDIENCE not in claims.get("aud", []):
            return portal_error(401, f"the access token was not issued for the audience {AUDIENCE}")
        return json_reply(200, {"token": self.mint_portal_token(self.access_tokens[raw_token])})

    def mint_portal_token(self, family: TokenFamily) -> str:
        now = int(time.time())
        claims = {
            "iss": self.portal_issuer,
            "sub": family.subject,
            "email": family.email,
            "iat": now,
            "exp": now + self.config.portal_token_ttl,
            # Makes two tokens minted in the same second differ.
            "jti": secrets.token_hex(8),
        }
        return self.record_secret(sign_jwt(self.portal_key, claims))

    def handle_user_info(self, request: Request) -> Reply:
        email = self.authenticate_portal_request(request)
        if email is None:
            return portal_error(401, "missing, invalid or expired credentials")
        return json_reply(
            200, {"data": {"email": email, "organizationId": ORGANIZATION_ID, "scopedPermissions": []}}
        )

    def authenticate_portal_request(self, request: Request) -> str | None:
        """Return the account e-mail for a valid BigAnimal token or access key, else None."""
        access_key = request.header("x-access-key")
        if access_key and access_key in self.config.access_keys:
            return self.config.email
        scheme, _, token = request.header("authorization").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        claims = verify_jwt(self.portal_key, token.strip())
        if claims is None or claims.get("exp", 0) <= time.time():
            return None
        return claims.get("email")


class ControlApi(DeviceFlow):
    """Endpoints under /_emulator/ that tests use to inspect and steer the emulator."""

    def control_stats(self) -> Reply:
        return json_reply(200, self.counters)

    def control_reset(self) -> Reply:
        self.counters = dict.fromkeys(COUNTER_NAMES, 0)
        return json_reply(200, self.counters)

    def control_get_config(self) -> Reply:
        return json_reply(200, self.config.to_json())

    def control_set_config(self, update: object) -> Reply:
        try:
            self.config = apply_config_update(self.config, update)
        except ValueError as error:
            return json_reply(400, {"error": str(error)})
        for key in self.config.access_keys:
            if key not in self.issued_secrets:
                self.record_secret(key)
        log.info("settings changed: %s", ", ".join(sorted(update)))
        return json_reply(200, self.config.to_json())

    def control_approve(self, document: object) -> Reply:
        return self.control_decide(document, approve=True)

    def control_deny(self, document: object) -> Reply:
        return self.control_decide(document, approve=False)

    def control_decide(self, document: object, approve: bool) -> Reply:
        user_code = document.get("user_code") if isinstance(document, dict) else None
        if not isinstance(user_code, str):
            return json_reply(400, {"error": "the body must be a JSON object with a string field 'user_code'"})
        status, message = self.decide_user_code(user_code, approve)
        return json_reply(status, {"message": message})

    def control_pending(self) -> Reply:
        now = time.time()
        pending = [
            code.user_code
            for code in self.device_codes.values()
            if code.status == "pending" and code.expires_at > now
        ]
        return json_reply(200, pending)

    def control_expire_refresh_tokens(self) -> Reply:
        now = time.time()
        for family in self.families:
            family.expires_at = min(family.expires_at, now)
        return json_reply(200, {"families": len(self.families)})

    def control_revoke_all(self) -> Reply:
        for family in self.families:
            family.revoked = True
        return json_reply(200, {"families": len(self.families)})

    def control_secrets(self) -> Reply:
        return json_reply(200, self.issued_secrets)

    def control_get_faults(self) -> Reply:
        return json_reply(200, [fault.to_json() for fault in self.faults])

    def control_add_fault(self, document: object) -> Reply:
        try:
            fault = parse_fault(document)
        except ValueError as error:
            return json_reply(400, {"error": str(error)})
        self.faults.append(fault)
        log.info("fault added: %s x%d on %s", fault.kind, fault.count, fault.path)
        return json_reply(200, [fault.to_json() for fault in self.faults])

    def control_clear_faults(self) -> Reply:
        self.faults.clear()
        return json_reply(200, [])


# Control endpoints by method and name under /_emulator/, each with its handler and
# whether the handler takes the parsed JSON request body.
CONTROL_ROUTES = {
    ("GET", "stats"): (ControlApi.control_stats, False),
    ("POST", "reset"): (ControlApi.control_reset, False),
    ("GET", "config"): (ControlApi.control_get_config, False),
    ("POST", "config"): (ControlApi.control_set_config, True),
    ("POST", "approve"): (ControlApi.control_approve, True),
    ("POST", "deny"): (ControlApi.control_deny, True),
    ("GET", "pending"): (ControlApi.control_pending, False),
    ("POST", "expire-refresh-tokens"): (ControlApi.control_expire_refresh_tokens, False),
    ("POST", "revoke-all"): (ControlApi.control_revoke_all, False),
    ("GET", "secrets"): (ControlApi.control_secrets, False),
    ("GET", "fault"): (ControlApi.control_get_faults, False),
    ("POST", "fault"): (ControlApi.control_add_fault, True),
    ("DELETE", "fault"): (ControlApi.control_clear_faults, False),
}


class Emulator(ControlApi, Portal):
    """Entry points for the HTTP handler. Each one takes the lock around the state it uses."""

    def begin_request(self, request: Request) -> tuple[float, str | None]:
        """Count an API request and take a matching fault.

        Returns the latency to wait in seconds and the fault kind to inject, or None.
        """
        with self.lock:
            self.counters["total"] += 1
            counter = self.counter_for(request)
            if counter:
                self.counters[counter] += 1
            fault = self.take_fault(request.path)
            if fault:
                self.counters["faults"] += 1
            return self.config.latency_ms / 1000, fault

    def handle_api(self, request: Request) -> Reply:
        name = route_name(request.method, request.path)
        if name is None:
            if route_exists_for_other_method(request.path):
                return json_reply(405, {"error": "method_not_allowed"})
            return not_found_reply(request.path)
        handler = getattr(self, "handle_" + name)
        with self.lock:
            return handler(request)

    def handle_control(self, request: Request) -> Reply:
        name = request.path[len(CONTROL_PREFIX):]
        route = CONTROL_ROUTES.get((request.method, name))
        if route is None:
            return json_reply(404, {"error": f"no control endpoint {request.method} {request.path}"})
        handler, takes_json_body = route
        if not takes_json_body:
            with self.lock:
                return handler(self)
        try:
            document = json.loads(request.body or b"{}")
        except ValueError:
            return json_reply(400, {"error": "the request body is not valid JSON"})
        with self.lock:
            return handler(self, document)

    def counter_for(self, request: Request) -> str | None:
        name = route_name(request.method, request.path)
        if name != "token":
            return name
        grant_type = request.form().get("grant_type")
        if grant_type == DEVICE_CODE_GRANT:
            return "token_device"
        if grant_type == REFRESH_TOKEN_GRANT:
            return "token_refresh"
        return None

    def take_fault(self, path: str) -> str | None:
        for fault in self.faults:
            if fault.path in ("*", path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault.kind
        return None

    def handle_token(self, request: Request) -> Reply:
        form = request.form()
        grant_type = form.get("grant_type", "")
        if grant_type == DEVICE_CODE_GRANT:
            return self.poll_device_code(form, request.arrived_at)
        if grant_type == REFRESH_TOKEN_GRANT:
            return self.refresh(form)
        return oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")


def parse_fault(document: object) -> Fault:
    """Return the fault described by a control request. Raises ValueError when it is invalid."""
    if not isinstance(document, dict):
        raise ValueError("the body must be a JSON object with 'path', 'kind' and optional 'count'")
    unknown = set(document) - {"path", "kind", "count"}
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    path = document.get("path")
    if not isinstance(path, str) or not (path == "*" or path.startswith("/")):
        raise ValueError(f"invalid fault path {path!r}: expected '*' or a path starting with '/'")
    if path.startswith(CONTROL_PREFIX):
        raise ValueError("faults cannot target the control API")
    kind = document.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"invalid fault kind {kind!r}: expected one of {', '.join(FAULT_KINDS)}")
    count = document.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"invalid fault count {count!r}: expected a positive integer")
    return Fault(path, kind, count)




# --------------------------------------------------------------------------- HTTP server


class RequestBodyError(Exception):
    """A request body that cannot be read. The connection is closed after the error reply."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = REQUEST_QUEUE_SIZE

    def __init__(self, address: tuple[str, int], emulator_config: Config,
                 tls: ssl.SSLContext | None = None) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, EmulatorRequestHandler)
        scheme = "http"
        if tls is not None:
            # The TLS handshake runs on the first read, in the request's own thread.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
            scheme = "https"
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        self.base_url = f"{scheme}://{host}:{self.server_address[1]}"
        self.emulator = Emulator(emulator_config, self.base_url)
        self.stopping = threading.Event()

    def handle_error(self, request: object, client_address: tuple) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.info("connection from %s ended early: %s", client_address[0], type(error).__name__)
        elif isinstance(error, ssl.SSLError):
            log.info("TLS with %s failed: %s", client_address[0], error.reason)
        else:
            log.exception("request from %s failed", client_address[0])


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BigAnimalEmulator/1.0"
    # Closes keep-alive connections that stay idle this long, in seconds.
    timeout = IDLE_CONNECTION_TIMEOUT_SECONDS
    server: EmulatorServer

    def do_GET(self) -> None:
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def dispatch(self) -> None:
        arrived_at = time.monotonic()
        try:
            request = self.parse_request_value(arrived_at)
        except RequestBodyError as error:
            self.close_connection = True
            self.send_reply(json_reply(error.status, {"error": str(error)}))
            return
        emulator = self.server.emulator
        if request.path.startswith(CONTROL_PREFIX):
            self.send_reply(self.run_endpoint(emulator.handle_control, request))
            return

        latency, fault = emulator.begin_request(request)
        if latency:
            time.sleep(latency)
        if fault and fault != "lose_response":
            self.inject_fault(fault, request.path)
            return
        reply = self.run_endpoint(emulator.handle_api, request)
        if fault == "lose_response":
            self.log_fault(fault)
            self.abort_connection()
            return
        self.send_reply(reply)

    def parse_request_value(self, arrived_at: float) -> Request:
        url = urlsplit(self.path)
        return Request(
            method=self.command,
            path=url.path,
            query={key: values[0] for key, values in parse_qs(url.query).items()},
            headers={key.lower(): value for key, value in self.headers.items()},
            body=self.read_body(),
            arrived_at=arrived_at,
        )

    def run_endpoint(self, endpoint: Callable[[Request], Reply], request: Request) -> Reply:
        """Return the endpoint's reply, or a 500 reply when the emulator itself fails."""
        try:
            return endpoint(request)
        except Exception:
            log.exception("%s %s failed inside the emulator", request.method, request.path)
            return json_reply(500, {"error": "internal error in the emulator; its stderr log has the traceback"})

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked_body()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise RequestBodyError(400, f"invalid Content-Length {length_header!r}") from None
        if length < 0 or length > MAX_REQUEST_BODY:
            raise RequestBodyError(413, f"request body larger than {MAX_REQUEST_BODY} bytes")
        return self.rfile.read(length)

    def read_chunked_body(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise RequestBodyError(400, "invalid chunk size in a chunked request body") from None
            if size == 0:
                break
            if len(body) + size > MAX_REQUEST_BODY:
                raise RequestBodyError(413, f"request body larger than {MAX_REQUEST_BODY} bytes")
            body += self.rfile.read(size)
            self.rfile.readline(1024)
        # Skip the trailer section, which ends with an empty line.
        while self.rfile.readline(1024).strip():
            pass
        return bytes(body)

    def send_reply(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            log.info("client closed the connection before the response to %s %s", self.command, self.log_path())
            self.close_connection = True

    # ---- faults

    def inject_fault(self, kind: str, path: str) -> None:
        self.log_fault(kind)
        if kind == "timeout":
            self.hold_connection()
        elif kind == "reset":
            self.abort_connection()
        elif kind == "huge":
            self.send_huge_body()
        else:
            self.send_reply(fault_reply(kind, path))

    def log_fault(self, kind: str) -> None:
        log.info("%s %s fault %s", self.command, self.log_path(), kind)

    def hold_connection(self) -> None:
        """Send nothing until the server stops or the hold time ends, then close."""
        self.server.stopping.wait(TIMEOUT_FAULT_HOLD_SECONDS)
        self.close_connection = True

    def abort_connection(self) -> None:
        """Close the connection with a TCP reset and send no response."""
        self.close_connection = True
        connection = self.connection
        try:
            # A zero linger time makes close() send RST instead of FIN.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError as error:
            log.warning("could not set SO_LINGER for a reset: %s", error)
        # detach() closes the fd now, even while rfile still refers to the socket, so that
        # socketserver cannot send a FIN with shutdown() first.
        os.close(connection.detach())

    def send_huge_body(self) -> None:
        """Stream a 20 MiB JSON document, for clients that must cap the body size."""
        prefix, suffix = b'{"padding":"', b'"}'
        filler = b"x" * HUGE_BODY_CHUNK
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(HUGE_BODY_SIZE))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(prefix)
            remaining = HUGE_BODY_SIZE - len(prefix) - len(suffix)
            while remaining > 0:
                piece = filler[: min(remaining, HUGE_BODY_CHUNK)]
                self.wfile.write(piece)
                remaining -= len(piece)
            self.wfile.write(suffix)
        except (BrokenPipeError, ConnectionResetError):
            log.info("client closed the connection during the huge body of %s", self.log_path())

    # ---- logging: never the query string, headers or body, because they can carry secrets

    def log_path(self) -> str:
        return urlsplit(self.path).path if self.command else "-"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s", self.command or "-", self.log_path(), code)

    def log_error(self, format: str, *args: object) -> None:
        # The stock messages quote the raw request line, so only their kind is logged.
        if format.startswith("Request timed out"):
            log.info("closed a connection from %s after it was idle", self.client_address[0])
        else:
            log.warning("rejected a malformed request from %s", self.client_address[0])


# --------------------------------------------------------------------------- command line

LOOPBACK_HOSTS = ("127.0.0.1", "::1")


def seconds_argument(text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}: expected a non-negative number")
    return normalize_number(value)


def count_argument(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a non-negative integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    defaults = Config()
    parser = argparse.ArgumentParser(
        description="Local emulator of the BigAnimal portal API and its Auth0 issuer, for demos and tests.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument

    add("--host", default="127.0.0.1", help="loopback address to bind: 127.0.0.1 or ::1")
    add("--port", type=count_argument, default=0, help="TCP port; 0 picks a free one")

    add("--auto-approve", action="store_true", help="approve every device code without a person")
    add("--approve-after-polls", type=count_argument, default=defaults.approve_after_polls,
        help="with --auto-approve, return authorization_pending to this many polls first")
    add("--interval", type=seconds_argument, default=defaults.interval,
        help="poll interval in seconds sent with each device code")
    add("--no-interval", action="store_true", help="omit the interval field (clients then wait 5 s)")
    add("--enforce-interval", action=argparse.BooleanOptionalAction, default=defaults.enforce_interval,
        help="return slow_down and add 5 s to the code's interval when a poll comes too early")
    add("--slow-down-polls", type=count_argument, default=defaults.slow_down_polls,
        help="return slow_down to this many first polls of each device code, whatever their timing")

    add("--device-code-ttl", type=count_argument, default=defaults.device_code_ttl,
        help="device code lifetime in seconds")
    add("--access-token-ttl", type=count_argument, default=defaults.access_token_ttl,
        help="lifetime of issuer access tokens and ID tokens in seconds")
    add("--portal-token-ttl", type=count_argument, default=defaults.portal_token_ttl,
        help="lifetime of exchanged BigAnimal tokens in seconds")
    add("--refresh-token-ttl", type=count_argument, default=defaults.refresh_token_ttl,
        help="absolute lifetime of a refresh-token family, counted from login, in seconds")
    add("--rotate", action=argparse.BooleanOptionalAction, default=defaults.rotate,
        help="issue a new refresh token on every refresh (--no-rotate keeps the old one valid)")

    add("--latency-ms", type=count_argument, default=defaults.latency_ms,
        help="delay before each API response in milliseconds (the control API has none)")
    add("--status-style", choices=STATUS_STYLES, default=defaults.status_style,
        help="auth0: 403 and 429 for device-flow errors and 403 for invalid_grant; rfc: 400 for all")

    add("--access-key", action="append", default=[], metavar="KEY",
        help="access key accepted in the x-access-key header; repeatable")
    add("--email", default=defaults.email, help="account e-mail in ID tokens, BigAnimal tokens and user-info")
    add("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate chain (needs --tls-key)")
    add("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    return parser


def config_from_arguments(arguments: argparse.Namespace) -> Config:
    return Config(
        auto_approve=arguments.auto_approve,
        approve_after_polls=arguments.approve_after_polls,
        slow_down_polls=arguments.slow_down_polls,
        interval=None if arguments.no_interval else arguments.interval,
        device_code_ttl=arguments.device_code_ttl,
        access_token_ttl=arguments.access_token_ttl,
        portal_token_ttl=arguments.portal_token_ttl,
        refresh_token_ttl=arguments.refresh_token_ttl,
        latency_ms=arguments.latency_ms,
        status_style=arguments.status_style,
        rotate=arguments.rotate,
        enforce_interval=arguments.enforce_interval,
        access_keys=tuple(arguments.access_key),
        email=arguments.email,
    )


def serve_until_signal(server: EmulatorServer) -> None:
    """Print the base URL and serve on a background thread until SIGTERM or SIGINT."""
    # The handler only records the signal, because taking a lock there could deadlock
    # with the main thread that it interrupts.
    received: list[str] = []

    def request_stop(signum: int, frame: object) -> None:
        received.append(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), name="serve", daemon=True).start()
    print(server.base_url, flush=True)
    log.info("BigAnimal emulator listening on %s", server.base_url)
    while not received:
        time.sleep(SHUTDOWN_POLL_SECONDS)
    log.info("received %s, stopping", received[0])
    server.stopping.set()
    server.shutdown()
    server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.host not in LOOPBACK_HOSTS:
        parser.error(f"--host {arguments.host!r} is not allowed: use a loopback address, 127.0.0.1 or ::1")
    if (arguments.tls_cert is None) != (arguments.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    tls = None
    if arguments.tls_cert is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            tls.load_cert_chain(arguments.tls_cert, arguments.tls_key)
        except (OSError, ssl.SSLError) as error:
            log.error("could not load --tls-cert %s and --tls-key %s: %s", arguments.tls_cert, arguments.tls_key, error)
            return 1
        tls.set_alpn_protocols(["http/1.1"])
    try:
        server = EmulatorServer((arguments.host, arguments.port), config_from_arguments(arguments), tls)
    except OSError as error:
        log.error("could not bind %s port %d: %s", arguments.host, arguments.port, error)
        return 1
    serve_until_signal(server)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
