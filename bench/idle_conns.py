#!/usr/bin/env python3
"""Open N keep-alive connections, one request each, then hold them idle.

Used by bench/http_bench.sh to measure the memory a server spends per idle
connection. Each connection sends one GET and reads the whole response (so
the server has accepted it, finished the TLS handshake if any, parsed and
answered a request), then stays open without traffic. When every
connection is established the client prints one line

    ready OK FAILED

and holds them until it is terminated (SIGTERM or SIGINT) or --hold
seconds have passed. Opening is bounded by --open-timeout.
"""
import argparse
import asyncio
import signal
import ssl
import sys


async def one(args, ctx, sem, held):
    async with sem:
        reader, writer = await asyncio.open_connection(
            args.host, args.port, ssl=ctx,
            server_hostname=args.hostname if ctx else None)
        writer.write((f"GET {args.path} HTTP/1.1\r\n"
                      f"Host: {args.hostname}\r\n"
                      "Accept: application/json\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status:
            raise RuntimeError(status.decode(errors="replace"))
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        held.append(writer)


async def main(args):
    ctx = None
    if args.tls:
        ctx = ssl.create_default_context(cafile=args.cafile)
        if not args.cafile:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    sem = asyncio.Semaphore(args.concurrency)
    held = []
    tasks = [asyncio.ensure_future(one(args, ctx, sem, held))
             for _ in range(args.count)]
    done, pending = await asyncio.wait(tasks, timeout=args.open_timeout)
    for t in pending:
        t.cancel()
    failed = len(pending)
    first_error = None
    for t in done:
        if t.exception() is not None:
            failed += 1
            first_error = first_error or t.exception()
    if first_error is not None:
        print(f"first error: {first_error!r}", file=sys.stderr)
    print(f"ready {len(held)} {failed}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.hold)
    except asyncio.TimeoutError:
        pass
    for w in held:
        w.transport.abort()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--cafile")
    p.add_argument("--hostname", default="lyncdiscover.example.test")
    p.add_argument("--path", default="/")
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--concurrency", type=int, default=200,
                   help="connections being opened at the same time")
    p.add_argument("--open-timeout", type=float, default=60.0)
    p.add_argument("--hold", type=float, default=120.0)
    asyncio.run(main(p.parse_args()))
