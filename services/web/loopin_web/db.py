"""Run Django ORM work from async endpoints, and turn a lost database into a 503.

Django connections are per thread; like Django's own request_started/finished signals, we drop
unusable or expired connections before and after each unit of work, so a restarted PostgreSQL is
survived without restarting the process.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

import anyio.to_thread
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections

P = ParamSpec("P")
T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """PostgreSQL did not answer or dropped the connection; answered as 503."""


def _call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseUnavailable from exc
    except DatabaseError as exc:
        # A connection killed mid-query can surface as a plain DatabaseError.
        if "connection" in str(exc).lower() or "server closed" in str(exc).lower():
            raise DatabaseUnavailable from exc
        raise
    finally:
        close_old_connections()


async def run_db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await anyio.to_thread.run_sync(partial(_call, fn, *args, **kwargs))
