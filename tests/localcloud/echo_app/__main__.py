from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        print(f"request {url.path} id={self.headers.get('X-Request-ID', '-')}", flush=True)
        if url.path == "/health":
            self._answer(200, {"status": "ok"})
        elif url.path == "/env":
            self._answer(200, {"value": os.environ.get(query["n"])})
        elif url.path == "/whoami":
            import boto3

            self._answer(200, boto3.client("sts").get_caller_identity())
        elif url.path == "/exit":
            self._answer(200, {"exiting": int(query["code"])})
            threading.Timer(0.2, os._exit, [int(query["code"])]).start()
        else:
            self._answer(404, {"error": "not found"})

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)

    def stop(signum: int, frame: object) -> None:
        print("stopping", flush=True)
        threading.Thread(target=server.shutdown).start()

    if os.environ.get("ECHO_IGNORE_SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, stop)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
