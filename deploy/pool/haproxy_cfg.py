#!/usr/bin/env python3
"""Fill in deploy/pool/haproxy.cfg.in: the one HAProxy configuration of
the pool, for scripts/pool.sh and for the tests (tests/pylib/pool.py).

  haproxy_cfg.py OUT RUN HTTPS_PORT HTTP_PORT STATS_PORT AFFINITY \
      CERT.pem[,CERT2.pem...] NAME:HTTP_PORT:ADMIN_PORT...

AFFINITY: "none" (round robin, no affinity) or "cookie" (the old cookie
affinity on MS-WSMAN). Each CERT.pem holds the chain and the key."""
import os
import sys

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "haproxy.cfg.in")
COOKIE = "cookie MS-WSMAN prefix nocache"


def render(run, https_port, http_port, stats_port, pems, servers, affinity=False):
    """The configuration text. servers: (name, http_port, admin_port)
    per instance; pems: PEM files (chain and key), the first the
    default."""
    lines = ["\tserver %s 127.0.0.1:%d check port %d cookie %s" % (n, h, a, n)
             for n, h, a in servers]
    plain = ["\tserver %s 127.0.0.1:%d check port %d" % (n, h, a) for n, h, a in servers]
    with open(TEMPLATE) as f:
        text = f.read()
    # the header comment names the fields: drop it from the output
    text = text[text.index("\nglobal\n") + 1:]
    fields = {
        "@RUN@": run,
        "@HTTPS_PORT@": str(https_port),
        "@HTTP_PORT@": str(http_port),
        "@STATS_PORT@": str(stats_port),
        "@CRT@": "".join(" crt " + p for p in pems),
        "@AFFINITY@": COOKIE if affinity else "# no affinity",
        "@SERVERS_PLAIN@": "\n".join(plain),
        "@SERVERS@": "\n".join(lines),
    }
    for k, v in fields.items():
        text = text.replace(k, v)
    assert "@" not in text, "a field left unfilled"
    return "# Written from deploy/pool/haproxy.cfg.in\n" + text


def main(argv):
    if len(argv) < 8:
        sys.exit(__doc__)
    out, run, https, http, stats, aff, pems = argv[1:8]
    if aff not in ("none", "cookie"):
        sys.exit("AFFINITY: none or cookie")
    servers = []
    for s in argv[8:]:
        n, h, a = s.split(":")
        servers.append((n, int(h), int(a)))
    text = render(run, int(https), int(http), int(stats), pems.split(","), servers,
                  aff == "cookie")
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main(sys.argv)
