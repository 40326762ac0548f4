"""Command line: `loopin-worker run | healthcheck | dlq redrive`."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .settings import WorkerSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loopin-worker", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="consume the queues until SIGTERM (the default)")
    check = sub.add_parser("healthcheck", help="exit 0 if the local health endpoint says healthy")
    check.add_argument("--url", default=None, help="default: http://127.0.0.1:$WORKER_HEALTH_PORT/health")
    dlq = sub.add_parser("dlq", help="dead-letter queue tools")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    redrive = dlq_sub.add_parser("redrive", help="move messages from a DLQ back to its source queue")
    redrive.add_argument("--queue", required=True, help="source queue name, e.g. push-notifications")
    redrive.add_argument("--dlq", default=None, help="DLQ name (default: the queue's RedrivePolicy target)")
    redrive.add_argument("--limit", type=int, default=None, help="move at most this many")
    args = parser.parse_args(argv)

    if args.command == "healthcheck":
        from .health import probe

        # Only the port: the probe must not fail on settings that concern the worker, not the probe.
        port = int(os.environ.get("WORKER_HEALTH_PORT", "8000"))
        return probe(args.url or f"http://127.0.0.1:{port}/health")
    if args.command == "dlq":
        from . import logs
        from .app import sqs_client
        from .dlq import redrive as do_redrive

        settings = WorkerSettings()
        logs.configure(settings.log_level)
        sqs = sqs_client(settings)
        source = sqs.get_queue_url(QueueName=settings.queue_prefix + args.queue)["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=args.dlq)["QueueUrl"] if args.dlq else None
        report = do_redrive(sqs, source, dlq_url, args.limit)
        print(
            json.dumps(
                {"moved": report.moved, "failed": report.failed, "source": report.source, "dlq": report.dlq}
            )
        )
        return 0 if report.failed == 0 else 1

    from .app import run

    return run(WorkerSettings())


if __name__ == "__main__":
    sys.exit(main())
