"""A local HTTP/2 server standing in for APNs, FCM and Google's OAuth2 token
endpoint, with scripted answers per device token.

    from pushsrv import PushServer
    with PushServer(tmpdir) as ps:
        ps.script("aa11", "500", "500", "200")  # two 500s, then 200 on
        lines = ps.conf_lines()                 # the [push] section
        ...
        ps.requests                             # what came, in order

One server answers every provider: POST /3/device/<token> is APNs,
POST /v1/projects/<p>/messages:send is FCM (the token is in the body), and
POST /token is the token endpoint. TLS with a certificate from
deploy/certs.sh (trust ps.ca); port from ports.free_port(); the server runs
on its own asyncio loop in a thread. ps.connections counts TLS connections,
ps.max_concurrent the most requests open at once, ps.token_fetches the
token endpoint's requests.

Outcomes (script()): "200"; "410" (Unregistered); "BadDeviceToken",
"DeviceTokenNotForTopic" (400); "ExpiredProviderToken" (403); "429:N"
(Retry-After N seconds); "500"; "slow:S" (200 after S seconds); for FCM
"UNREGISTERED" (404), "INVALID_TOKEN" (400 INVALID_ARGUMENT) and "401".
A token's outcomes are used in order; the last one repeats. Unscripted
tokens get 200.
"""
import asyncio
import base64
import json
import os
import ssl
import threading
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mobility import make_certs
from ports import free_port

APNS_KEY_ID = "KEYID12345"
APNS_TEAM_ID = "TEAM123456"
FCM_PROJECT = "mobility-test"
FCM_EMAIL = "push@mobility-test.iam.gserviceaccount.com"


class Request:
    """One request as received: method, path, headers (dict, lower-case
    names), body (bytes), t (time.monotonic() when it ended)."""

    def __init__(self, method, path, headers, body, t):
        self.method, self.path, self.headers, self.body, self.t = (
            method, path, headers, body, t)

    def json(self):
        return json.loads(self.body)

    def form(self):
        return dict(urllib.parse.parse_qsl(self.body.decode()))

    @property
    def kind(self):
        """"apns", "fcm" or "token"."""
        if self.path.startswith("/3/device/"):
            return "apns"
        if self.path == "/token":
            return "token"
        return "fcm"

    @property
    def token(self):
        if self.kind == "apns":
            return self.path[len("/3/device/"):]
        if self.kind == "fcm":
            return self.json()["message"]["token"]
        return None


def _b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class PushServer:
    """See the module docstring. token_expires_in: the expires_in of the
    access tokens handed out."""

    def __init__(self, tmpdir, token_expires_in=3600):
        self.dir = os.path.join(str(tmpdir), "pushsrv")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.cert, self.key = make_certs(self.dir, "pushsrv", "127.0.0.1")
        self.ca = os.path.join(self.dir, "ca.pem")
        self.token_expires_in = token_expires_in
        self.requests = []
        self.token_fetches = 0
        self.max_concurrent = 0
        self.connections = 0
        self._open = 0
        self._scripts = {}
        self._token_script = []
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._make_keys()

    # --- keys the service signs with, and their public halves to verify

    def _make_keys(self):
        self.apns_private = ec.generate_private_key(ec.SECP256R1())
        self.apns_public = self.apns_private.public_key()
        self.apns_key_path = os.path.join(self.dir, "AuthKey_%s.p8" % APNS_KEY_ID)
        with open(self.apns_key_path, "wb") as f:
            f.write(self.apns_private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        self.fcm_private = rsa.generate_private_key(65537, 2048)
        self.fcm_public = self.fcm_private.public_key()
        self.fcm_key_path = os.path.join(self.dir, "fcm-service-account.json")
        with open(self.fcm_key_path, "w") as f:
            json.dump({
                "type": "service_account",
                "project_id": FCM_PROJECT,
                "private_key_id": "0123456789abcdef",
                "private_key": self.fcm_private.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()).decode(),
                "client_email": FCM_EMAIL,
                "token_uri": "https://oauth2.example.invalid/token",
            }, f)
        # the service's own, as an operator keeps them (else: a warning)
        os.chmod(self.apns_key_path, 0o600)
        os.chmod(self.fcm_key_path, 0o600)

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def token_url(self):
        return self.url + "/token"

    def conf_lines(self, apns=True, fcm=True, **extra):
        """The [push] lines for this server (extra: more key = value)."""
        lines = ["ca_file = " + self.ca]
        if apns:
            lines += ["apns_url = " + self.url, "apns_key = " + self.apns_key_path,
                      "apns_key_id = " + APNS_KEY_ID, "apns_team_id = " + APNS_TEAM_ID]
        if fcm:
            lines += ["fcm_url = " + self.url, "fcm_credentials = " + self.fcm_key_path,
                      "fcm_token_url = " + self.token_url]
        lines += ["%s = %s" % kv for kv in extra.items()]
        return lines

    # --- scripting

    def script(self, token, *outcomes):
        """Answers for a device token, in order; the last repeats."""
        with self._lock:
            self._scripts[token] = list(outcomes)

    def script_token_endpoint(self, *outcomes):
        """Answers of the token endpoint ("200", "500", "slow:S"), in
        order; the last repeats."""
        with self._lock:
            self._token_script = list(outcomes)

    def of(self, kind=None, token=None):
        """Requests received, of one kind ("apns", "fcm", "token") and/or
        device token."""
        with self._lock:
            reqs = list(self.requests)
        return [r for r in reqs if (kind is None or r.kind == kind)
                and (token is None or r.token == token)]

    def wait(self, token, n, timeout=10, settle=0.5):
        """Wait for n requests to a device token, then settle seconds more
        to make sure no further one comes; the n requests."""
        deadline = time.monotonic() + timeout
        while len(self.of(token=token)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(settle)
        got = self.of(token=token)
        assert len(got) == n, [(r.path, r.headers.get("apns-push-type"),
                                r.body) for r in got]
        return got

    def _next(self, lst):
        with self._lock:
            if not lst:
                return "200"
            return lst.pop(0) if len(lst) > 1 else lst[0]

    # --- answers

    def _answer(self, req):
        """(delay, status, headers, body) for a request."""
        if req.kind == "token":
            self.token_fetches += 1
            out = self._next(self._token_script)
            delay = float(out[5:]) if out.startswith("slow:") else 0
            if out.startswith("slow:") or out == "200":
                body = {"access_token": "access-%d" % self.token_fetches,
                        "expires_in": self.token_expires_in, "token_type": "Bearer"}
                return delay, 200, [], json.dumps(body).encode()
            return 0, int(out), [], b'{"error":"internal"}'

        out = self._next(self._scripts.get(req.token, []))
        delay = 0
        if out.startswith("slow:"):
            delay, out = float(out[5:]), "200"
        if req.kind == "apns":
            return (delay,) + self._apns(out)
        return (delay,) + self._fcm(out)

    @staticmethod
    def _apns(out):
        hdrs = [("apns-id", "00000000-0000-0000-0000-000000000001")]
        if out == "200":
            return 200, hdrs, b""
        if out.startswith("429"):
            secs = out.split(":")[1] if ":" in out else None
            extra = [("retry-after", secs)] if secs else []
            return 429, hdrs + extra, b'{"reason":"TooManyRequests"}'
        status, reason = {
            "410": (410, "Unregistered"),
            "BadDeviceToken": (400, "BadDeviceToken"),
            "DeviceTokenNotForTopic": (400, "DeviceTokenNotForTopic"),
            "ExpiredProviderToken": (403, "ExpiredProviderToken"),
            "BadTopic": (400, "BadTopic"),
            "500": (500, "InternalServerError"),
            "503": (503, "ServiceUnavailable"),
        }[out]
        body = {"reason": reason}
        if status == 410:
            body["timestamp"] = int(time.time() * 1000)
        return status, hdrs, json.dumps(body).encode()

    @staticmethod
    def _fcm(out):
        def err(code, status, msg, detail=None):
            e = {"code": code, "message": msg, "status": status}
            if detail:
                e["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                 "errorCode": detail}]
            return json.dumps({"error": e}).encode()

        if out == "200":
            return 200, [], json.dumps({"name": "projects/%s/messages/1" % FCM_PROJECT}).encode()
        if out.startswith("429"):
            secs = out.split(":")[1] if ":" in out else None
            return 429, [("retry-after", secs)] if secs else [], err(
                429, "RESOURCE_EXHAUSTED", "quota", "QUOTA_EXCEEDED")
        return {
            "UNREGISTERED": (404, [], err(404, "NOT_FOUND", "Requested entity was not found.",
                                          "UNREGISTERED")),
            "INVALID_TOKEN": (400, [], err(400, "INVALID_ARGUMENT",
                                           "The registration token is not a valid FCM "
                                           "registration token", "INVALID_ARGUMENT")),
            "401": (401, [], err(401, "UNAUTHENTICATED", "Request had invalid credentials.")),
            "500": (500, [], err(500, "INTERNAL", "Internal error.", "INTERNAL")),
            "503": (503, [], err(503, "UNAVAILABLE", "Unavailable.", "UNAVAILABLE")),
            "400": (400, [], err(400, "INVALID_ARGUMENT", "Invalid JSON payload.")),
        }[out]

    # --- the HTTP/2 server

    async def _serve_conn(self, reader, writer):
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.connections += 1
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams = {}
        tasks = set()

        async def respond(sid, req):
            try:
                delay, status, hdrs, body = self._answer(req)
            except Exception as e:  # a script this provider has no answer for
                delay, status, hdrs, body = 0, 500, [], repr(e).encode()
            if delay:
                await asyncio.sleep(delay)
            with self._lock:
                self._open -= 1
            try:
                conn.send_headers(sid, [(":status", str(status)),
                                        ("content-length", str(len(body)))] + hdrs,
                                  end_stream=not body)
                if body:
                    conn.send_data(sid, body, end_stream=True)
                writer.write(conn.data_to_send())
            except Exception:
                pass  # the client went away

        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        streams[ev.stream_id] = [dict(ev.headers), b""]
                    elif isinstance(ev, h2.events.DataReceived):
                        streams[ev.stream_id][1] += ev.data
                        conn.acknowledge_received_data(ev.flow_controlled_length,
                                                       ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        hd, body = streams.pop(ev.stream_id)
                        req = Request(hd.get(":method"), hd.get(":path"),
                                      {k: v for k, v in hd.items() if not k.startswith(":")},
                                      body, time.monotonic())
                        with self._lock:
                            self.requests.append(req)
                            self._open += 1
                            self.max_concurrent = max(self.max_concurrent, self._open)
                        t = asyncio.ensure_future(respond(ev.stream_id, req))
                        tasks.add(t)
                        t.add_done_callback(tasks.discard)
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        break
                writer.write(conn.data_to_send())
        except (ConnectionError, h2.exceptions.ProtocolError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def start(self):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.set_alpn_protocols(["h2"])
        started = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(asyncio.start_server(
                self._serve_conn, "127.0.0.1", self.port, ssl=ctx))
            started.set()
            self._loop.run_forever()
            self._server.close()
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("push server did not start")
        return self

    def stop(self):
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # --- checks for tests

    def verify_apns_jwt(self, req):
        """The claims of the APNs bearer JWT of a request, after checking
        its ES256 signature with the key's public half."""
        import jwt
        auth = req.headers["authorization"]
        assert auth.startswith("bearer "), auth
        tok = auth[len("bearer "):]
        hdr = jwt.get_unverified_header(tok)
        assert hdr == {"alg": "ES256", "kid": APNS_KEY_ID}, hdr
        return jwt.decode(tok, self.apns_public, algorithms=["ES256"],
                          options={"verify_iat": False})

    def verify_fcm_grant(self, req):
        """The claims of the JWT grant posted to the token endpoint,
        after checking its RS256 signature."""
        import jwt
        form = req.form()
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer", form
        return jwt.decode(form["assertion"], self.fcm_public, algorithms=["RS256"],
                          audience=self.token_url)
