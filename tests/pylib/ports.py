"""Listening ports for the servers the tests start.

A port found by binding to port 0 comes from the kernel's ephemeral range,
and once that probe socket is closed any outgoing connection on the machine
(a test client, Kamailio connecting to a peer) may be given the same port
before the server we configured with it binds it: the server then fails with
"Address already in use". With the test suite running in parallel this
happened in CI. So ports are chosen below the ephemeral range, where the
kernel never hands them out by itself, and each is reserved across the
parallel test processes by an flock() held until this process exits (a
crashed process releases its ports with its file descriptors)."""

import fcntl
import os
import random
import socket
import tempfile

LOCK_DIR = os.path.join(tempfile.gettempdir(), "mobility-test-ports")
# Ports below this are left to well-known services.
LOWEST = 10000

_held = {}


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port, kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(udp_too=False):
    """A port free on 127.0.0.1 for TCP (and UDP when udp_too), outside the
    ephemeral range and not handed to any other test process."""
    high = _ephemeral_low()
    if high - LOWEST < 1000:
        raise RuntimeError("ephemeral port range starts too low: %d" % high)
    os.makedirs(LOCK_DIR, exist_ok=True)
    for _ in range(500):
        port = random.randrange(LOWEST, high)
        if port in _held:
            continue
        fd = os.open(os.path.join(LOCK_DIR, str(port)), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if _bindable(port, socket.SOCK_STREAM) and (
                not udp_too or _bindable(port, socket.SOCK_DGRAM)):
            _held[port] = fd
            return port
        os.close(fd)
    raise RuntimeError("no free port found")
