"""Entry point of the emulator process: moto's server with every patch applied.

    python -m localcloud.emulator.server -H 127.0.0.1 -p 5000

Run with ``tools/`` on ``PYTHONPATH`` (tools/emulator.py does). The arguments are moto.server's
host and port; only loopback may be bound.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from localcloud.emulator import control, patches, vendors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        parser.error(f"the emulator binds loopback only, not {args.host}")
    os.environ.setdefault("MOTO_PORT", str(args.port))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    applied = patches.apply_all()
    stand_ins = vendors.mount_all()
    logging.getLogger("localcloud.emulator").info(
        "patches: %s; vendor stand-ins: %s; control routes: %s",
        ", ".join(applied),
        ", ".join(stand_ins),
        ", ".join(control.routes()) or "none",
    )

    # Imported after the patches, so moto's modules are already patched when the app is built.
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    stop = threading.Event()

    def _terminate(signum: int, frame: Any) -> None:
        stop.set()
        sys.exit(0)

    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGTERM, _terminate)

    app = DomainDispatcherApplication(create_backend_app)
    control.start_background(stop)
    run_simple(
        args.host,
        args.port,
        control.ControlMiddleware(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
