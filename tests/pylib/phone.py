"""An app on a phone, over raw HTTPS: every request on a new connection (a
phone changing networks), the answer read up to the close. The connection
may leave from a chosen source address (127.0.0.2, 127.0.0.3: another
network) and name either web FQDN of the gateway (external or internal
access); the gateway itself listens on 127.0.0.1."""
import re
import socket
import ssl
import urllib.parse

from mobility import EXT_FQDN


class Phone:
    def __init__(self, mob, tok, app, host=EXT_FQDN, source=None):
        self.mob = mob
        self.tok = tok
        self.app = app
        self.host = host
        self.source = source
        self.ctx = ssl.create_default_context(cafile=mob.ca)

    @staticmethod
    def path(href):
        """The path (and query) of an href, which may be absolute."""
        u = urllib.parse.urlsplit(href)
        return u.path + ("?" + u.query if u.query else "")

    def open(self, href):
        """Send a GET for href; return the TLS socket without reading."""
        src = (self.source, 0) if self.source else None
        raw = socket.create_connection(("127.0.0.1", self.mob.https_port), 10,
                                       source_address=src)
        s = self.ctx.wrap_socket(raw, server_hostname=self.host)
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n"
                   "Authorization: Bearer %s\r\nAccept: application/json\r\n"
                   "Connection: close\r\n\r\n"
                   % (self.path(href), self.host, self.tok)).encode())
        return s

    @staticmethod
    def read(s, timeout=30, data=b""):
        """The answer on s (data: what was read of it already): (status,
        body bytes). The bound is generous: a request only waits when an
        event is on its way."""
        s.settimeout(timeout)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 "), data[:200]
        # an answer cut short (the gateway killed while it was sent) is
        # an answer lost, not a smaller one
        n = re.search(rb"\r\ncontent-length:[ \t]*(\d+)", head, re.I)
        if n and len(body) < int(n.group(1)):
            raise ValueError("answer cut short: %d of %s bytes"
                             % (len(body), n.group(1).decode()))
        return int(head.split()[1]), body

    def get(self, href, timeout=30):
        return self.read(self.open(href), timeout)

    def try_get(self, href, timeout=30):
        """get(), or None when the gateway is away (refused, reset, closed
        before a whole answer, or a body shorter than its Content-Length):
        the app tries the same link again."""
        try:
            return self.get(href, timeout)
        except (OSError, AssertionError, IndexError, ValueError):
            return None
