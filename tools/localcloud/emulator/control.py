"""The emulator's private side: a JSON API under ``/_localcloud/`` and background services.

AWS's own hosts tell its control plane things no public API sets: that a task's container
started or exited, that a target passed its health check. The data plane reports them here.
AWS also runs work on its side without any request (alarm evaluation, scheduled actions); a
patch registers such a loop with ``background``.

A route is registered by the patch that owns the behaviour::

    @control.route("POST", "/_localcloud/ecs/task-state")
    def task_state(body: dict) -> dict: ...

Handlers take the decoded JSON body (``{}`` for GET, with the query string's values) and return
a JSON-able value; ``ControlError(status, message)`` answers with that status. Only loopback is
bound, so the API has no authentication of its own, as the instance metadata endpoint has none.

A whole WSGI application can be mounted under a prefix instead (``mount``): the stand-ins for
the vendors outside AWS (localcloud/emulator/vendors) speak their vendor's HTTP API there, with
its headers and status codes, which the JSON routes do not model.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

PREFIX = "/_localcloud/"
log = logging.getLogger("localcloud.emulator")

Handler = Callable[[dict[str, Any]], Any]
_routes: dict[tuple[str, str], Handler] = {}
_background: list[tuple[str, float, Callable[[], None]]] = []
_mounts: dict[str, Callable[..., Iterable[bytes]]] = {}

# moto's backends are plain dicts shared by the request threads; a patch that walks or mutates
# several of them at once from a background loop holds this lock, as do its control handlers.
state_lock = threading.RLock()


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    if not path.startswith(PREFIX):
        raise ValueError(f"control routes live under {PREFIX}: {path}")

    def register(handler: Handler) -> Handler:
        _routes[(method.upper(), path)] = handler
        return handler

    return register


def mount(prefix: str, app: Callable[..., Iterable[bytes]]) -> None:
    """Serve `app` (WSGI) under `prefix`; it sees PATH_INFO without the prefix."""
    if not prefix.startswith(PREFIX) or prefix.endswith("/"):
        raise ValueError(f"mounts live under {PREFIX} and name no trailing slash: {prefix}")
    _mounts[prefix] = app


def background(name: str, interval_seconds: float) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Run the decorated function every `interval_seconds` in a daemon thread of the server."""

    def register(fn: Callable[[], None]) -> Callable[[], None]:
        _background.append((name, interval_seconds, fn))
        return fn

    return register


def routes() -> list[str]:
    return sorted([f"{method} {path}" for method, path in _routes] + [f"* {prefix}/" for prefix in _mounts])


def start_background(stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for name, interval, fn in _background:
        thread = threading.Thread(target=_loop, args=(name, interval, fn, stop), name=name, daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def _loop(name: str, interval: float, fn: Callable[[], None], stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            fn()
        except Exception:  # noqa: BLE001 - a failed round is logged and the next one runs
            log.error("background %s failed:\n%s", name, traceback.format_exc())
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


class ControlMiddleware:
    """WSGI middleware: ``/_localcloud/...`` goes to the registered handlers, the rest to moto."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.app(environ, start_response)
        for prefix, app in _mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                inner = {**environ, "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + prefix}
                inner["PATH_INFO"] = path[len(prefix) :] or "/"
                return app(inner, start_response)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        status, payload = self._dispatch(method, path, environ)
        body = json.dumps(payload, default=str).encode()
        start_response(
            f"{status} {'OK' if status < 400 else 'Error'}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    @staticmethod
    def _dispatch(method: str, path: str, environ: dict[str, Any]) -> tuple[int, Any]:
        handler = _routes.get((method, path))
        if handler is None:
            return 404, {"error": f"no route {method} {path}", "routes": routes()}
        try:
            body: dict[str, Any] = dict(parse_qsl(environ.get("QUERY_STRING", "")))
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length:
                body.update(json.loads(environ["wsgi.input"].read(length)))
            with state_lock:
                return 200, handler(body)
        except ControlError as exc:
            return exc.status, {"error": exc.message}
        except (KeyError, ValueError, TypeError) as exc:
            return 400, {"error": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:  # noqa: BLE001 - answered as AWS would, a 500 with the reason, and logged
            log.error("control %s %s failed:\n%s", method, path, traceback.format_exc())
            return 500, {"error": f"{type(exc).__name__}: {exc}"}
