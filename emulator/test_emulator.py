#!/usr/bin/env python3
"""Black-box tests of the BigAnimal emulator and of the Kubernetes API stub.

Each test starts its own server process and talks to it over loopback HTTP, so the tests
cover the command line, the wire format and the shutdown path as the Rust tests use them.
The Kubernetes stub tests also need the openssl command-line tool.

Run from the repository root with only the standard library::

    python3 -m unittest discover -s emulator -p 'test_*.py' -v

A full run takes about 35 seconds, most of it for starting and stopping a server per test.
"""

from __future__ import annotations

import base64
import http.client
import json
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

EMULATOR_SCRIPT = Path(__file__).resolve().with_name("biganimal_emulator.py")
KUBE_API_SCRIPT = Path(__file__).resolve().parent.parent / "tests" / "support" / "kube_api.py"
CLIENT_ID = "emu-client"
TRIAL_CLIENT_ID = "emu-trial-client"
SCOPE = "openid profile email offline_access"
AUDIENCE = "https://portal.biganimal.com/api"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ACCESS_KEY = "baak_test_key_0123456789"
# Arguments for quick tests: codes are approved at once and polls are never too early.
FAST_LOGIN = ("--auto-approve", "--interval", "0")


# --------------------------------------------------------------------------- processes


class ServerProcess:
    """A server script running as a child process, with its stderr kept in a file."""

    def __init__(self, script: Path, arguments: list[str]) -> None:
        self.stderr_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, str(script), *arguments],
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            text=True,
        )
        self.first_line = self.process.stdout.readline().strip()

    def stop(self) -> int:
        """Send SIGTERM and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        finally:
            self.process.stdout.close()

    def close(self) -> None:
        self.stop()
        self.stderr_file.close()

    def stderr_text(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def send_request(connection: http.client.HTTPConnection, method: str, path: str,
                 body: bytes | None = None, headers: dict[str, str] | None = None) -> Response:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    return Response(response.status, {key.lower(): value for key, value in response.getheaders()}, payload)


class EmulatorClient:
    """Client for the portal, issuer and control endpoints of one emulator."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.host, self.port = urlsplit(base_url).hostname, urlsplit(base_url).port

    def connect(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(self, method: str, path: str, form: dict | None = None, json_body: object = None,
             headers: dict[str, str] | None = None, timeout: float = 10) -> Response:
        headers = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        connection = self.connect(timeout)
        try:
            return send_request(connection, method, path, body, headers)
        finally:
            connection.close()

    def request_device_code(self, client_id: str = CLIENT_ID, scope: str = SCOPE) -> Response:
        return self.call("POST", "/oauth/device/code",
                         form={"client_id": client_id, "scope": scope, "audience": AUDIENCE})

    def start_device_flow(self, client_id: str = CLIENT_ID) -> dict:
        response = self.request_device_code(client_id)
        assert response.status == 200, response
        return response.json()

    def poll(self, device_code: str, client_id: str = CLIENT_ID) -> Response:
        return self.call("POST", "/oauth/token",
                         form={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id})

    def login(self, client_id: str = CLIENT_ID) -> dict:
        """Run a device flow on an emulator that approves codes at once, and return the tokens."""
        device = self.start_device_flow(client_id)
        response = self.poll(device["device_code"], client_id)
        assert response.status == 200, response
        return response.json()

    def refresh(self, refresh_token: str, client_id: str = CLIENT_ID) -> Response:
        return self.call("POST", "/oauth/token",
                         form={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id})

    def revoke(self, token: str, client_id: str = CLIENT_ID) -> Response:
        return self.call("POST", "/oauth/revoke", form={"client_id": client_id, "token": token})

    def exchange(self, raw_token: str, version: str = "v3") -> Response:
        return self.call("POST", f"/api/{version}/auth/token", json_body={"token": raw_token})

    def user_info(self, headers: dict[str, str]) -> Response:
        return self.call("GET", "/api/v3/user-info", headers=headers)

    def control(self, method: str, name: str, body: object = None) -> Response:
        return self.call(method, "/_emulator/" + name, json_body=body)

    def configure(self, **settings: object) -> None:
        response = self.control("POST", "config", settings)
        assert response.status == 200, response

    def add_fault(self, path: str, kind: str, count: int = 1) -> None:
        response = self.control("POST", "fault", {"path": path, "kind": kind, "count": count})
        assert response.status == 200, response

    def stats(self) -> dict:
        return self.control("GET", "stats").json()


def decode_jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class EmulatorTestCase(unittest.TestCase):
    def start_emulator(self, *arguments: str) -> EmulatorClient:
        process = ServerProcess(EMULATOR_SCRIPT, list(arguments))
        self.addCleanup(process.close)
        self.assertRegex(process.first_line, r"^http://127\.0\.0\.1:\d+$")
        self.process = process
        return EmulatorClient(process.first_line)

    def assertOAuthError(self, response: Response, status: int, error: str) -> None:
        self.assertEqual(response.status, status, response.body)
        self.assertEqual(response.json()["error"], error)
        self.assertEqual(response.headers.get("cache-control"), "no-store")

    def assertPortalError(self, response: Response, status: int) -> None:
        self.assertEqual(response.status, status, response.body)
        error = response.json()["error"]
        self.assertEqual(error["status"], status)
        self.assertTrue(error["reference"])
        self.assertIn("message", error)
        self.assertIn("source", error)


# --------------------------------------------------------------------------- start-up


class StartupTest(EmulatorTestCase):
    def test_first_line_is_base_url(self) -> None:
        client = self.start_emulator()
        response = client.call("GET", "/api/v3/auth/provider")
        self.assertEqual(response.status, 200)

    def test_sigterm_exits_cleanly(self) -> None:
        self.start_emulator()
        self.assertEqual(self.process.stop(), 0)

    def test_sigint_exits_cleanly(self) -> None:
        self.start_emulator()
        self.process.process.send_signal(signal.SIGINT)
        self.assertEqual(self.process.stop(), 0)

    def test_non_loopback_host_rejected(self) -> None:
        result = subprocess.run([sys.executable, str(EMULATOR_SCRIPT), "--host", "0.0.0.0"],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stdout, "")
        self.assertIn("loopback", result.stderr)

    def test_ipv6_loopback(self) -> None:
        if not socket.has_ipv6:
            self.skipTest("no IPv6 support")
        process = ServerProcess(EMULATOR_SCRIPT, ["--host", "::1"])
        self.addCleanup(process.close)
        if not process.first_line:
            self.skipTest("cannot bind ::1: " + process.stderr_text())
        self.assertRegex(process.first_line, r"^http://\[::1\]:\d+$")
        provider = EmulatorClient(process.first_line).call("GET", "/api/v3/auth/provider").json()
        self.assertEqual(provider["issuerUri"], process.first_line + "/")

    def test_tls_serves_https_urls(self) -> None:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        cert, key = Path(directory.name, "cert.pem"), Path(directory.name, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=30,
        )
        process = ServerProcess(EMULATOR_SCRIPT, ["--tls-cert", str(cert), "--tls-key", str(key)])
        self.addCleanup(process.close)
        self.assertRegex(process.first_line, r"^https://127\.0\.0\.1:\d+$")
        parts = urlsplit(process.first_line)
        context = ssl.create_default_context(cafile=str(cert))
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=10)
        try:
            provider = send_request(connection, "GET", "/api/v3/auth/provider").json()
        finally:
            connection.close()
        self.assertEqual(provider["issuerUri"], process.first_line + "/")

    def test_tls_cert_without_key_rejected(self) -> None:
        result = subprocess.run([sys.executable, str(EMULATOR_SCRIPT), "--tls-cert", "cert.pem"],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--tls-key", result.stderr)


# --------------------------------------------------------------------------- portal


class PortalTest(EmulatorTestCase):
    def test_provider_on_v3_and_v2(self) -> None:
        client = self.start_emulator()
        for version in ("v3", "v2"):
            provider = client.call("GET", f"/api/{version}/auth/provider").json()
            self.assertEqual(provider["clientId"], CLIENT_ID)
            self.assertEqual(provider["freetrialClientId"], TRIAL_CLIENT_ID)
            self.assertEqual(provider["issuerUri"], client.base_url + "/")
            self.assertEqual(provider["scope"], SCOPE)
            self.assertEqual(provider["audience"], AUDIENCE)

    def test_exchange_then_user_info(self) -> None:
        client = self.start_emulator(*FAST_LOGIN, "--email", "bob@example.com", "--portal-token-ttl", "600")
        tokens = client.login()
        exchanged = client.exchange(tokens["access_token"])
        self.assertEqual(exchanged.status, 200)
        portal_token = exchanged.json()["token"]
        claims = decode_jwt_claims(portal_token)
        self.assertEqual(claims["iss"], client.base_url + "/api")
        self.assertEqual(claims["email"], "bob@example.com")
        self.assertAlmostEqual(claims["exp"] - claims["iat"], 600, delta=1)

        info = client.user_info({"Authorization": "Bearer " + portal_token})
        self.assertEqual(info.status, 200)
        self.assertEqual(info.json()["data"]["email"], "bob@example.com")
        self.assertEqual(info.json()["data"]["organizationId"], "org_emulator")

    def test_exchange_on_v2(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        tokens = client.login()
        self.assertEqual(client.exchange(tokens["access_token"], version="v2").status, 200)

    def test_exchange_rejects_unknown_token(self) -> None:
        client = self.start_emulator()
        self.assertPortalError(client.exchange("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"), 401)

    def test_exchange_rejects_expired_token(self) -> None:
        client = self.start_emulator(*FAST_LOGIN, "--access-token-ttl", "0")
        tokens = client.login()
        self.assertPortalError(client.exchange(tokens["access_token"]), 401)

    def test_exchange_rejects_token_without_audience(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        device = client.call("POST", "/oauth/device/code", form={"client_id": CLIENT_ID, "scope": SCOPE}).json()
        tokens = client.poll(device["device_code"]).json()
        self.assertPortalError(client.exchange(tokens["access_token"]), 401)

    def test_exchange_rejects_malformed_body(self) -> None:
        client = self.start_emulator()
        not_json = client.call("POST", "/api/v3/auth/token", headers={"Content-Type": "application/json"})
        self.assertPortalError(not_json, 400)
        self.assertPortalError(client.call("POST", "/api/v3/auth/token", json_body={"token": 5}), 400)

    def test_user_info_rejects_raw_access_token(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        tokens = client.login()
        self.assertPortalError(client.user_info({"Authorization": "Bearer " + tokens["access_token"]}), 401)

    def test_user_info_rejects_expired_portal_token(self) -> None:
        client = self.start_emulator(*FAST_LOGIN, "--portal-token-ttl", "0")
        portal_token = client.exchange(client.login()["access_token"]).json()["token"]
        self.assertPortalError(client.user_info({"Authorization": "Bearer " + portal_token}), 401)

    def test_user_info_rejects_forged_signature(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        portal_token = client.exchange(client.login()["access_token"]).json()["token"]
        header, payload, _ = portal_token.split(".")
        forged = f"{header}.{payload}.AAAA"
        self.assertPortalError(client.user_info({"Authorization": "Bearer " + forged}), 401)

    def test_user_info_with_access_key(self) -> None:
        client = self.start_emulator("--access-key", ACCESS_KEY)
        self.assertEqual(client.user_info({"x-access-key": ACCESS_KEY}).status, 200)
        self.assertPortalError(client.user_info({"x-access-key": "baak_wrong"}), 401)
        self.assertPortalError(client.user_info({}), 401)


# --------------------------------------------------------------------------- device flow


class DeviceFlowTest(EmulatorTestCase):
    def test_device_code_response_fields(self) -> None:
        client = self.start_emulator()
        device = client.start_device_flow()
        self.assertGreaterEqual(len(device["device_code"]), 40)
        self.assertRegex(device["user_code"], r"^[B-Z]{4}-[B-Z]{4}$")
        self.assertEqual(device["verification_uri"], client.base_url + "/activate")
        self.assertEqual(device["verification_uri_complete"],
                         f"{client.base_url}/activate?user_code={device['user_code']}")
        self.assertEqual(device["expires_in"], 900)
        self.assertEqual(device["interval"], 5)

    def test_interval_float_and_omitted(self) -> None:
        client = self.start_emulator("--interval", "0.2")
        self.assertEqual(client.start_device_flow()["interval"], 0.2)
        client.configure(interval=None)
        self.assertNotIn("interval", client.start_device_flow())

    def test_unknown_client_rejected(self) -> None:
        client = self.start_emulator()
        response = client.request_device_code(client_id="someone-else")
        self.assertEqual(response.status, 401)
        self.assertEqual(response.json()["error"], "unauthorized_client")

    def test_auto_approve_issues_tokens(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        tokens = client.login()
        self.assertEqual(tokens["token_type"], "Bearer")
        self.assertEqual(tokens["expires_in"], 86400)
        self.assertEqual(tokens["scope"], SCOPE)
        self.assertTrue(tokens["refresh_token"].startswith("v1."))
        id_claims = decode_jwt_claims(tokens["id_token"])
        self.assertEqual(id_claims["aud"], CLIENT_ID)
        self.assertEqual(id_claims["iss"], client.base_url + "/")
        self.assertEqual(id_claims["email"], "alice@example.com")
        self.assertEqual(client.stats()["logins"], 1)

    def test_trial_client_tokens_bound_to_it(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        tokens = client.login(client_id=TRIAL_CLIENT_ID)
        self.assertEqual(decode_jwt_claims(tokens["id_token"])["aud"], TRIAL_CLIENT_ID)
        self.assertOAuthError(client.refresh(tokens["refresh_token"], client_id=CLIENT_ID), 403, "invalid_grant")
        self.assertEqual(client.refresh(tokens["refresh_token"], client_id=TRIAL_CLIENT_ID).status, 200)

    def test_code_consumed_after_success(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        device = client.start_device_flow()
        self.assertEqual(client.poll(device["device_code"]).status, 200)
        self.assertOAuthError(client.poll(device["device_code"]), 403, "invalid_grant")

    def test_wrong_client_gets_invalid_grant(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        device = client.start_device_flow()
        self.assertOAuthError(client.poll(device["device_code"], client_id=TRIAL_CLIENT_ID), 403, "invalid_grant")

    def test_unknown_device_code(self) -> None:
        client = self.start_emulator()
        self.assertOAuthError(client.poll("no-such-code"), 403, "invalid_grant")

    def test_approve_after_polls(self) -> None:
        client = self.start_emulator(*FAST_LOGIN, "--approve-after-polls", "2")
        device = client.start_device_flow()
        self.assertOAuthError(client.poll(device["device_code"]), 403, "authorization_pending")
        self.assertOAuthError(client.poll(device["device_code"]), 403, "authorization_pending")
        self.assertEqual(client.poll(device["device_code"]).status, 200)
        self.assertEqual(client.stats()["token_device"], 3)

    def test_pending_listed_and_approved_by_control(self) -> None:
        client = self.start_emulator("--interval", "0")
        device = client.start_device_flow()
        self.assertEqual(client.control("GET", "pending").json(), [device["user_code"]])
        self.assertOAuthError(client.poll(device["device_code"]), 403, "authorization_pending")
        self.assertEqual(client.control("POST", "approve", {"user_code": device["user_code"]}).status, 200)
        self.assertEqual(client.control("GET", "pending").json(), [])
        self.assertEqual(client.poll(device["device_code"]).status, 200)

    def test_deny_by_control(self) -> None:
        client = self.start_emulator("--interval", "0")
        device = client.start_device_flow()
        self.assertEqual(client.control("POST", "deny", {"user_code": device["user_code"]}).status, 200)
        self.assertOAuthError(client.poll(device["device_code"]), 403, "access_denied")
        conflict = client.control("POST", "approve", {"user_code": device["user_code"]})
        self.assertEqual(conflict.status, 409)

    def test_expired_token_once_then_invalid_grant(self) -> None:
        client = self.start_emulator("--interval", "0", "--device-code-ttl", "1")
        device = client.start_device_flow()
        time.sleep(1.1)
        self.assertOAuthError(client.poll(device["device_code"]), 403, "expired_token")
        self.assertOAuthError(client.poll(device["device_code"]), 403, "invalid_grant")
        self.assertOAuthError(client.poll(device["device_code"]), 403, "invalid_grant")

    def test_audience_mismatch_rejected(self) -> None:
        client = self.start_emulator()
        response = client.call("POST", "/oauth/device/code",
                               form={"client_id": CLIENT_ID, "scope": SCOPE, "audience": "https://other/api"})
        self.assertEqual(response.status, 403)
        self.assertEqual(response.json()["error"], "access_denied")

    def test_scope_without_offline_access_has_no_refresh_token(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        device = client.request_device_code(scope="openid email").json()
        tokens = client.poll(device["device_code"]).json()
        self.assertNotIn("refresh_token", tokens)
        self.assertIn("id_token", tokens)


class SlowDownTest(EmulatorTestCase):
    def test_early_poll_gets_slow_down(self) -> None:
        client = self.start_emulator("--interval", "0.5")
        device = client.start_device_flow()
        self.assertOAuthError(client.poll(device["device_code"]), 429, "slow_down")
        self.assertEqual(client.stats()["slow_down"], 1)

    def test_interval_grows_by_five_seconds(self) -> None:
        client = self.start_emulator("--interval", "0.2")
        device = client.start_device_flow()
        time.sleep(0.25)
        self.assertOAuthError(client.poll(device["device_code"]), 403, "authorization_pending")
        time.sleep(0.25)
        self.assertOAuthError(client.poll(device["device_code"]), 403, "authorization_pending")
        self.assertOAuthError(client.poll(device["device_code"]), 429, "slow_down")
        # The interval is now 5.2 s, so a wait that was long enough before is too short.
        time.sleep(0.25)
        response = client.poll(device["device_code"])
        self.assertOAuthError(response, 429, "slow_down")
        self.assertIn("5.2", response.json()["error_description"])

    def test_forced_slow_down_polls(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        client.configure(slow_down_polls=2)
        device = client.start_device_flow()
        self.assertOAuthError(client.poll(device["device_code"]), 429, "slow_down")
        self.assertOAuthError(client.poll(device["device_code"]), 429, "slow_down")
        client.configure(enforce_interval=False)
        self.assertEqual(client.poll(device["device_code"]).status, 200)
        stats = client.stats()
        self.assertEqual(stats["slow_down"], 2)
        self.assertEqual(stats["token_device"], 3)

    def test_no_enforce_interval(self) -> None:
        client = self.start_emulator("--interval", "5", "--no-enforce-interval")
        device = client.start_device_flow()
        self.assertOAuthError(client.poll(device["device_code"]), 403, "authorization_pending")


class ActivationPageTest(EmulatorTestCase):
    def test_page_prefills_user_code(self) -> None:
        client = self.start_emulator()
        device = client.start_device_flow()
        page = client.call("GET", urlsplit(device["verification_uri_complete"]).path + "?user_code="
                           + device["user_code"])
        self.assertEqual(page.status, 200)
        text = page.body.decode()
        self.assertIn(f'value="{device["user_code"]}"', text)
        self.assertIn('value="approve"', text)
        self.assertIn('value="deny"', text)

    def test_page_escapes_query(self) -> None:
        client = self.start_emulator()
        page = client.call("GET", "/activate?user_code=%22%3E%3Cscript%3E")
        self.assertNotIn("<script>", page.body.decode())

    def test_approve_ignores_case_and_dash(self) -> None:
        client = self.start_emulator("--interval", "0")
        device = client.start_device_flow()
        typed = device["user_code"].replace("-", "").lower()
        page = client.call("POST", "/activate", form={"user_code": typed, "action": "approve"})
        self.assertEqual(page.status, 200)
        self.assertEqual(client.poll(device["device_code"]).status, 200)
        self.assertEqual(client.stats()["activate"], 1)

    def test_deny_from_page(self) -> None:
        client = self.start_emulator("--interval", "0")
        device = client.start_device_flow()
        page = client.call("POST", "/activate", form={"user_code": device["user_code"], "action": "deny"})
        self.assertEqual(page.status, 200)
        self.assertOAuthError(client.poll(device["device_code"]), 403, "access_denied")

    def test_unknown_code_404(self) -> None:
        client = self.start_emulator()
        page = client.call("POST", "/activate", form={"user_code": "BBBB-BBBB", "action": "approve"})
        self.assertEqual(page.status, 404)
        self.assertIn("text/html", page.headers["content-type"])


# --------------------------------------------------------------------------- refresh and revoke


class RefreshTest(EmulatorTestCase):
    def test_rotation_issues_new_token(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        first = client.login()["refresh_token"]
        response = client.refresh(first)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers.get("cache-control"), "no-store")
        second = response.json()["refresh_token"]
        self.assertNotEqual(first, second)
        self.assertIn("access_token", response.json())
        self.assertIn("id_token", response.json())
        self.assertEqual(client.refresh(second).status, 200)

    def test_reuse_revokes_family(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        first = client.login()["refresh_token"]
        second = client.refresh(first).json()["refresh_token"]
        reuse = client.refresh(first)
        self.assertOAuthError(reuse, 403, "invalid_grant")
        self.assertEqual(reuse.json()["error_description"], "Unknown or invalid refresh token.")
        self.assertOAuthError(client.refresh(second), 403, "invalid_grant")
        stats = client.stats()
        self.assertEqual(stats["reuse_detections"], 1)
        self.assertEqual(stats["token_refresh"], 3)
        self.assertEqual(stats["refresh_success"], 1)

    def test_reuse_leaves_other_families(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        first = client.login()["refresh_token"]
        other = client.login()["refresh_token"]
        client.refresh(first)
        client.refresh(first)
        self.assertEqual(client.refresh(other).status, 200)

    def test_no_rotate_keeps_token(self) -> None:
        client = self.start_emulator(*FAST_LOGIN, "--no-rotate")
        token = client.login()["refresh_token"]
        for _ in range(3):
            response = client.refresh(token)
            self.assertEqual(response.status, 200)
            self.assertNotIn("refresh_token", response.json())

    def test_expired_family_rejected(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        token = client.login()["refresh_token"]
        client.control("POST", "expire-refresh-tokens")
        self.assertOAuthError(client.refresh(token), 403, "invalid_grant")
        self.assertEqual(client.stats()["reuse_detections"], 0)

    def test_family_lifetime_counts_from_login(self) -> None:
        client = self.start_emulator(*FAST_LOGIN, "--refresh-token-ttl", "1")
        token = client.login()["refresh_token"]
        token = client.refresh(token).json()["refresh_token"]
        time.sleep(1.1)
        self.assertOAuthError(client.refresh(token), 403, "invalid_grant")

    def test_revoke_all(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        token = client.login()["refresh_token"]
        client.control("POST", "revoke-all")
        self.assertOAuthError(client.refresh(token), 403, "invalid_grant")

    def test_unsupported_grant_type(self) -> None:
        client = self.start_emulator()
        response = client.call("POST", "/oauth/token", form={"grant_type": "password", "client_id": CLIENT_ID})
        self.assertOAuthError(response, 400, "unsupported_grant_type")

    def test_json_body_accepted(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        token = client.login()["refresh_token"]
        response = client.call("POST", "/oauth/token", json_body={
            "grant_type": "refresh_token", "refresh_token": token, "client_id": CLIENT_ID})
        self.assertEqual(response.status, 200)


class RevokeTest(EmulatorTestCase):
    def test_revoke_ends_family(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        token = client.login()["refresh_token"]
        response = client.revoke(token)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b"")
        self.assertEqual(response.headers["content-length"], "0")
        self.assertOAuthError(client.refresh(token), 403, "invalid_grant")
        self.assertEqual(client.stats()["revoke"], 1)

    def test_revoke_unknown_token_is_200(self) -> None:
        client = self.start_emulator()
        self.assertEqual(client.revoke("v1.unknown").status, 200)

    def test_revoke_by_other_client_ignored(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        token = client.login()["refresh_token"]
        self.assertEqual(client.revoke(token, client_id=TRIAL_CLIENT_ID).status, 200)
        self.assertEqual(client.refresh(token).status, 200)


class StatusStyleTest(EmulatorTestCase):
    def test_rfc_style_uses_400(self) -> None:
        client = self.start_emulator("--status-style", "rfc", "--interval", "0.5")
        device = client.start_device_flow()
        self.assertOAuthError(client.poll(device["device_code"]), 400, "slow_down")
        client.configure(enforce_interval=False)
        self.assertOAuthError(client.poll(device["device_code"]), 400, "authorization_pending")
        self.assertOAuthError(client.refresh("v1.unknown"), 400, "invalid_grant")

    def test_style_switch_at_runtime(self) -> None:
        client = self.start_emulator()
        self.assertOAuthError(client.refresh("v1.unknown"), 403, "invalid_grant")
        client.configure(status_style="rfc")
        self.assertOAuthError(client.refresh("v1.unknown"), 400, "invalid_grant")


# --------------------------------------------------------------------------- control API


class ControlTest(EmulatorTestCase):
    def test_config_rejects_unknown_key(self) -> None:
        client = self.start_emulator()
        response = client.control("POST", "config", {"colour": "blue"})
        self.assertEqual(response.status, 400)
        self.assertIn("colour", response.json()["error"])

    def test_config_rejects_bad_type(self) -> None:
        client = self.start_emulator()
        for update in ({"auto_approve": "yes"}, {"latency_ms": -1}, {"interval": True},
                       {"status_style": "teapot"}, {"device_code_ttl": 1.5}):
            with self.subTest(update=update):
                self.assertEqual(client.control("POST", "config", update).status, 400)

    def test_config_applies_to_later_requests(self) -> None:
        client = self.start_emulator()
        client.configure(auto_approve=True, interval=0, device_code_ttl=60)
        device = client.start_device_flow()
        self.assertEqual(device["expires_in"], 60)
        self.assertEqual(client.poll(device["device_code"]).status, 200)

    def test_reset_zeroes_counters_keeps_tokens(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        token = client.login()["refresh_token"]
        client.control("POST", "reset")
        stats = client.stats()
        self.assertTrue(all(value == 0 for value in stats.values()), stats)
        self.assertEqual(client.refresh(token).status, 200)

    def test_stats_has_every_counter(self) -> None:
        client = self.start_emulator()
        expected = {"provider", "device_code", "token_device", "token_refresh", "refresh_success",
                    "reuse_detections", "exchange", "user_info", "revoke", "activate", "slow_down",
                    "total", "logins", "faults"}
        self.assertEqual(set(client.stats()), expected)

    def test_control_requests_not_counted(self) -> None:
        client = self.start_emulator()
        client.call("GET", "/api/v3/auth/provider")
        client.stats()
        stats = client.stats()
        self.assertEqual(stats["total"], 1)
        self.assertEqual(stats["provider"], 1)

    def test_latency_delays_api_not_control(self) -> None:
        client = self.start_emulator("--latency-ms", "300")
        started = time.monotonic()
        client.call("GET", "/api/v3/auth/provider")
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        started = time.monotonic()
        client.stats()
        self.assertLess(time.monotonic() - started, 0.25)

    def test_secrets_lists_every_issued_value(self) -> None:
        client = self.start_emulator(*FAST_LOGIN, "--access-key", ACCESS_KEY)
        device = client.start_device_flow()
        tokens = client.poll(device["device_code"]).json()
        portal_token = client.exchange(tokens["access_token"]).json()["token"]
        issued = set(client.control("GET", "secrets").json())
        for value in (ACCESS_KEY, device["device_code"], tokens["access_token"], tokens["id_token"],
                      tokens["refresh_token"], portal_token):
            self.assertIn(value, issued)


class LoggingTest(EmulatorTestCase):
    def test_no_secret_in_log(self) -> None:
        client = self.start_emulator("--interval", "0", "--access-key", ACCESS_KEY)
        device = client.start_device_flow()
        client.call("GET", "/activate?user_code=" + device["user_code"])
        client.call("POST", "/activate", form={"user_code": device["user_code"], "action": "approve"})
        tokens = client.poll(device["device_code"]).json()
        client.refresh(tokens["refresh_token"])
        client.refresh(tokens["refresh_token"])
        portal_token = client.exchange(tokens["access_token"]).json()["token"]
        client.user_info({"Authorization": "Bearer " + portal_token})
        client.user_info({"x-access-key": ACCESS_KEY})
        client.revoke(tokens["refresh_token"])
        issued = client.control("GET", "secrets").json()
        self.process.stop()

        log_text = self.process.stderr_text()
        self.assertIn("POST /oauth/token 200", log_text)
        self.assertNotIn(device["user_code"], log_text)
        for value in issued:
            self.assertNotIn(value, log_text)


# --------------------------------------------------------------------------- faults


class FaultTest(EmulatorTestCase):
    def test_response_faults(self) -> None:
        cases = [
            ("html502", 502, "text/html"),
            ("nonjson200", 200, "text/plain"),
            ("rate_limit", 429, "application/json"),
            ("rate_limit_reset", 429, "application/json"),
            ("rate_limit_bare", 429, "application/json"),
            ("server_error", 500, "application/json"),
            ("unavailable", 503, "text/plain"),
        ]
        client = self.start_emulator()
        for kind, status, content_type in cases:
            with self.subTest(kind=kind):
                client.add_fault("/api/v3/auth/provider", kind)
                response = client.call("GET", "/api/v3/auth/provider")
                self.assertEqual(response.status, status)
                self.assertTrue(response.headers["content-type"].startswith(content_type))
                self.assertEqual(int(response.headers["content-length"]), len(response.body))
        self.assertEqual(client.stats()["faults"], len(cases))

    def test_rate_limit_headers(self) -> None:
        client = self.start_emulator()
        client.add_fault("/oauth/token", "rate_limit")
        client.add_fault("/oauth/token", "rate_limit_reset")
        client.add_fault("/oauth/token", "rate_limit_bare")
        with_retry_after = client.refresh("v1.x")
        self.assertEqual(with_retry_after.headers.get("retry-after"), "1")
        self.assertNotIn("x-ratelimit-reset", with_retry_after.headers)
        with_reset = client.refresh("v1.x")
        self.assertNotIn("retry-after", with_reset.headers)
        self.assertAlmostEqual(int(with_reset.headers["x-ratelimit-reset"]), time.time() + 1, delta=2)
        bare = client.refresh("v1.x")
        self.assertNotIn("retry-after", bare.headers)
        self.assertNotIn("x-ratelimit-reset", bare.headers)

    def test_server_error_is_portal_shaped(self) -> None:
        client = self.start_emulator()
        client.add_fault("/api/v3/auth/token", "server_error")
        self.assertPortalError(client.exchange("x"), 500)

    def test_fault_count_and_wildcard(self) -> None:
        client = self.start_emulator()
        client.add_fault("*", "unavailable", count=2)
        self.assertEqual(client.call("GET", "/api/v3/auth/provider").status, 503)
        self.assertEqual(client.call("GET", "/api/v2/auth/provider").status, 503)
        self.assertEqual(client.call("GET", "/api/v3/auth/provider").status, 200)

    def test_clear_faults(self) -> None:
        client = self.start_emulator()
        client.add_fault("*", "unavailable", count=5)
        self.assertEqual(client.control("DELETE", "fault").status, 200)
        self.assertEqual(client.call("GET", "/api/v3/auth/provider").status, 200)

    def test_invalid_fault_rejected(self) -> None:
        client = self.start_emulator()
        for fault in ({"path": "/x", "kind": "explode"}, {"path": "x", "kind": "reset"},
                      {"path": "/x", "kind": "reset", "count": 0}):
            with self.subTest(fault=fault):
                self.assertEqual(client.control("POST", "fault", fault).status, 400)

    def test_faulted_request_changes_nothing(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        token = client.login()["refresh_token"]
        client.add_fault("/oauth/token", "server_error")
        self.assertEqual(client.refresh(token).status, 500)
        self.assertEqual(client.refresh(token).status, 200)
        stats = client.stats()
        self.assertEqual(stats["token_refresh"], 2)
        self.assertEqual(stats["reuse_detections"], 0)

    def test_reset_closes_connection(self) -> None:
        client = self.start_emulator()
        client.add_fault("/api/v3/auth/provider", "reset")
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected)):
            client.call("GET", "/api/v3/auth/provider")
        self.assertEqual(client.call("GET", "/api/v3/auth/provider").status, 200)

    def test_timeout_sends_nothing(self) -> None:
        client = self.start_emulator()
        client.add_fault("/api/v3/auth/provider", "timeout")
        with self.assertRaises(TimeoutError):
            client.call("GET", "/api/v3/auth/provider", timeout=1)
        self.assertEqual(client.call("GET", "/api/v3/auth/provider").status, 200)

    def test_timeout_released_on_stop(self) -> None:
        client = self.start_emulator()
        client.add_fault("/api/v3/auth/provider", "timeout")
        connection = client.connect(timeout=10)
        connection.request("GET", "/api/v3/auth/provider")
        time.sleep(0.2)
        started = time.monotonic()
        self.assertEqual(self.process.stop(), 0)
        self.assertLess(time.monotonic() - started, 5)
        connection.close()

    def test_huge_body_streams_20_mib(self) -> None:
        client = self.start_emulator()
        client.add_fault("/api/v3/auth/provider", "huge")
        response = client.call("GET", "/api/v3/auth/provider")
        self.assertEqual(response.status, 200)
        self.assertEqual(len(response.body), 20 * 1024 * 1024)
        self.assertEqual(response.headers["content-type"], "application/json")
        json.loads(response.body)

    def test_huge_body_client_may_stop_reading(self) -> None:
        client = self.start_emulator()
        client.add_fault("/api/v3/auth/provider", "huge")
        connection = client.connect()
        connection.request("GET", "/api/v3/auth/provider")
        response = connection.getresponse()
        response.read(1024)
        connection.close()
        self.assertEqual(client.call("GET", "/api/v3/auth/provider").status, 200)

    def test_lose_response_rotates_token(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        token = client.login()["refresh_token"]
        client.add_fault("/oauth/token", "lose_response")
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected)):
            client.refresh(token)
        # The lost response had rotated the token, so a retry is a reuse and revokes the family.
        self.assertOAuthError(client.refresh(token), 403, "invalid_grant")
        stats = client.stats()
        self.assertEqual(stats["refresh_success"], 1)
        self.assertEqual(stats["reuse_detections"], 1)


# --------------------------------------------------------------------------- connections


class ConnectionTest(EmulatorTestCase):
    def test_keep_alive_reuses_connection(self) -> None:
        client = self.start_emulator(*FAST_LOGIN)
        connection = client.connect()
        self.addCleanup(connection.close)
        provider = send_request(connection, "GET", "/api/v3/auth/provider")
        self.assertEqual(provider.status, 200)
        form = urlencode({"client_id": CLIENT_ID, "scope": SCOPE, "audience": AUDIENCE}).encode()
        device = send_request(connection, "POST", "/oauth/device/code", form,
                              {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(device.status, 200)
        revoke = send_request(connection, "POST", "/oauth/revoke", b"token=x&client_id=emu-client",
                              {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(revoke.status, 200)
        self.assertEqual(send_request(connection, "GET", "/nothing-here").status, 404)
        self.assertEqual(send_request(connection, "GET", "/api/v3/auth/provider").status, 200)

    def test_chunked_request_body(self) -> None:
        client = self.start_emulator()
        connection = client.connect()
        self.addCleanup(connection.close)
        form = urlencode({"client_id": CLIENT_ID, "scope": SCOPE, "audience": AUDIENCE}).encode()
        connection.request("POST", "/oauth/device/code", body=iter([form[:10], form[10:]]),
                           headers={"Content-Type": "application/x-www-form-urlencoded"},
                           encode_chunked=True)
        self.assertEqual(connection.getresponse().status, 200)

    def test_64_concurrent_logins(self) -> None:
        client = self.start_emulator(*FAST_LOGIN, "--latency-ms", "200")
        failures: list[str] = []
        barrier = threading.Barrier(64)

        def login_and_exchange() -> None:
            try:
                barrier.wait()
                tokens = client.login()
                if client.exchange(tokens["access_token"]).status != 200:
                    failures.append("exchange failed")
            except Exception as error:  # noqa: BLE001 - any failure is reported by the assertion
                failures.append(repr(error))

        threads = [threading.Thread(target=login_and_exchange) for _ in range(64)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(failures, [])
        self.assertEqual(client.stats()["logins"], 64)


# --------------------------------------------------------------------------- Kubernetes API stub


class KubeApiTest(EmulatorTestCase):
    def setUp(self) -> None:
        self.emulator = self.start_emulator(*FAST_LOGIN)
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.cert, key = Path(directory.name, "cert.pem"), Path(directory.name, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(self.cert), "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=30,
        )
        stub = ServerProcess(KUBE_API_SCRIPT, ["--emulator", self.emulator.base_url,
                                               "--cert", str(self.cert), "--key", str(key)])
        self.addCleanup(stub.close)
        self.assertRegex(stub.first_line, r"^https://127\.0\.0\.1:\d+$")
        self.stub = stub

    def kube_get(self, path: str, token: str | None) -> Response:
        context = ssl.create_default_context(cafile=str(self.cert))
        parts = urlsplit(self.stub.first_line)
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=10)
        headers = {"Authorization": "Bearer " + token} if token else {}
        try:
            return send_request(connection, "GET", path, headers=headers)
        finally:
            connection.close()

    def portal_token(self) -> str:
        return self.emulator.exchange(self.emulator.login()["access_token"]).json()["token"]

    def test_valid_token_lists_namespaces(self) -> None:
        response = self.kube_get("/api/v1/namespaces", self.portal_token())
        self.assertEqual(response.status, 200)
        self.assertEqual([item["metadata"]["name"] for item in response.json()["items"]], ["default"])

    def test_discovery_documents(self) -> None:
        token = self.portal_token()
        self.assertEqual(self.kube_get("/version", token).json()["major"], "1")
        self.assertEqual(self.kube_get("/api", token).json()["kind"], "APIVersions")
        self.assertEqual(self.kube_get("/apis", token).json()["groups"], [])
        self.assertEqual(self.kube_get("/api/v1", token).json()["kind"], "APIResourceList")

    def test_missing_or_bad_token_401(self) -> None:
        for token in (None, "not-a-token"):
            with self.subTest(token=token):
                response = self.kube_get("/version", token)
                self.assertEqual(response.status, 401)
                self.assertEqual(response.json()["kind"], "Status")
                self.assertEqual(response.json()["code"], 401)

    def test_verdict_cached_and_counted(self) -> None:
        token = self.portal_token()
        for _ in range(3):
            self.assertEqual(self.kube_get("/version", token).status, 200)
        self.kube_get("/version", None)
        stats = self.kube_get("/_stats", None).json()
        self.assertEqual(stats, {"accepted": 3, "rejected": 1, "validations": 1})
        self.assertEqual(self.emulator.stats()["user_info"], 1)

    def test_stub_rejects_remote_emulator(self) -> None:
        result = subprocess.run(
            [sys.executable, str(KUBE_API_SCRIPT), "--emulator", "http://example.com",
             "--cert", str(self.cert), "--key", str(self.cert)],
            capture_output=True, text=True, timeout=10,
        )
        self.assertEqual(result.returncode, 2)
        self.assertIn("loopback", result.stderr)


if __name__ == "__main__":
    unittest.main()
