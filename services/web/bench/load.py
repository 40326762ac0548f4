"""Closed-loop HTTP/1.1 keep-alive load from its own process: N connections, each sending its next
request when the previous answer arrived. Stops at --requests or --seconds, whichever is first.
Prints one JSON line: requests, seconds, rps, p50_ms, p99_ms, non_2xx."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvloop


async def connection(
    host: str, port: int, request: bytes, state: dict[str, float], latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while state["sent"] < state["limit"] and time.perf_counter() < state["deadline"]:
            state["sent"] += 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                state["errors"] += 1
    finally:
        writer.close()


async def main(args: argparse.Namespace) -> dict[str, float]:
    headers = [f"GET {args.path} HTTP/1.1", f"Host: {args.host}:{args.port}"]
    if args.token:
        headers.append(f"Authorization: Bearer {args.token}")
    request = ("\r\n".join(headers) + "\r\n\r\n").encode()
    latencies: list[float] = []
    state = {
        "sent": 0.0,
        "limit": float(args.requests),
        "errors": 0.0,
        "deadline": time.perf_counter() + args.seconds,
    }
    started = time.perf_counter()
    await asyncio.gather(
        *(connection(args.host, args.port, request, state, latencies) for _ in range(args.connections))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "seconds": round(elapsed, 2),
        "rps": round(n / elapsed, 1),
        "p50_ms": round(latencies[n // 2] * 1000, 2) if n else 0.0,
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 2) if n else 0.0,
        "non_2xx": int(state["errors"]),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=15.0)
    print(json.dumps(uvloop.run(main(parser.parse_args()))))
