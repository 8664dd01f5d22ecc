"""A raw SIP peer over TLS toward mobilityd's own SIP listener ([sip]
internal_listen), as the Front End reaches a session there (the
session's Contact user, its application id, as Request-URI user): with
the Front End's client certificate, or as a stranger without one."""
import secrets
import socket
import ssl


class Peer:
    """Raw SIP over TLS to mobilityd's internal listener, as the Front
    End sends it: with the Front End's certificate as client certificate
    (cert: (chain, key), None: no client certificate)."""

    def __init__(self, mob, cert=None):
        self.mob = mob
        self.ctx = ssl.create_default_context(cafile=mob.ca)
        if cert:
            self.ctx.load_cert_chain(*cert)

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.mob.sip_port), 10)
        return self.ctx.wrap_socket(raw, server_hostname="mob1.example.test")

    @staticmethod
    def request(method, user, body=b"", ctype="text/plain", headers=None,
                drop=(), extra=()):
        """A request from bob (through the Front End) to user; headers
        overrides fields by name, drop removes them, extra appends."""
        branch = "z9hG4bK" + secrets.token_hex(8)
        fields = {
            "Via": "SIP/2.0/TLS 127.0.0.1:5061;branch=" + branch,
            "Max-Forwards": "69",
            "To": "<sip:alice@example.test>",
            "From": "<sip:bob@example.test>;tag=" + secrets.token_hex(4),
            "Call-ID": secrets.token_hex(10),
            "CSeq": "1 " + method,
        }
        fields.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        lines = ["%s sip:%s@127.0.0.1;transport=tls SIP/2.0" % (method, user)]
        lines += ["%s: %s" % kv for kv in fields.items() if kv[0] not in drop]
        lines += list(extra)
        if body:
            lines.append("Content-Type: " + ctype)
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def send(self, data, timeout=10):
        """Send one request on a new connection; return the status line
        of the answer (None when the connection closes without one) and
        the whole answer."""
        s = self.connect()
        try:
            s.sendall(data)
            s.settimeout(timeout)
            got = b""
            while b"\r\n\r\n" not in got:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, ssl.SSLError):
                    chunk = b""
                if not chunk:
                    return None, got
                got += chunk
            return got.split(b"\r\n")[0].decode(), got
        finally:
            s.close()
