"""Loopin background worker: SQS consumers, push delivery, outbox relay, DLQ redrive."""

__version__ = "0.1.0"
