"""`make drill [DRILL=name,...]`: the release drills on the running local stack (`make up` first).

One line per drill, PASS or FAIL with its figures (and, for a failure, why and where its logs
are), then `N passed, M failed`; the exit code is the number of failures (capped at 100).

    PYTHONPATH=tools .venv/bin/python -m drills [--drill bad-web] [--endpoint http://127.0.0.1:5000]

The order matters and is fixed: the fast rollback undoes the last successive deploy, and the bad
releases run on what the good ones left live. Each drill leaves the stack as a finished deploy
would (one side live at 100%, nothing half shifted), so any subset can run after another.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from drills.drills import Drills, Outcome
from drills.stack import LocalStack, logs

ORDER = (
    "production-window",
    "failing-migration",
    "successive-deploys",
    "fast-rollback",
    "bad-worker",
    "bad-web",
)


def plan(drills: Drills) -> dict[str, Callable[[], Outcome]]:
    return {
        "production-window": drills.production_window,
        "failing-migration": drills.failing_migration,
        "successive-deploys": drills.successive_deploys,
        "fast-rollback": drills.fast_rollback,
        "bad-worker": drills.bad_worker,
        "bad-web": drills.bad_web,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drills", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL") or "http://127.0.0.1:5000")
    parser.add_argument("--env", default="local")
    parser.add_argument("--drill", action="append", choices=ORDER, help="run only these (repeatable)")
    parser.add_argument(
        "--alarm-bake-seconds",
        type=int,
        default=75,
        help="bake per step where the gate must see an alarm evaluation (a 60 s period and a margin)",
    )
    args = parser.parse_args(argv)
    drills = Drills(LocalStack(args.endpoint, args.env), alarm_bake_seconds=args.alarm_bake_seconds)
    try:
        print(f"drills on {drills.stack.api} (emulator {args.endpoint}); logs in {logs()}", flush=True)
    except RuntimeError as exc:
        print(f"drill: {exc}", file=sys.stderr)
        return 2
    chosen = [name for name in ORDER if not args.drill or name in args.drill]
    table = plan(drills)
    passed = failed = 0
    for name in chosen:
        started = time.monotonic()
        try:
            outcome = table[name]()
        except Exception as exc:  # noqa: BLE001 - one broken drill must not hide the others' results
            outcome = Outcome(problems=[f"{type(exc).__name__}: {exc}"])
        seconds = time.monotonic() - started
        figures = ", ".join(f"{k} {v}" for k, v in outcome.figures.items())
        verdict = "PASS" if outcome.passed else "FAIL"
        print(f"{verdict} {name:<19} {seconds:5.0f}s  {figures}", flush=True)
        for problem in outcome.problems:
            print(f"     - {problem}", flush=True)
        passed, failed = passed + outcome.passed, failed + (not outcome.passed)
    print(f"{passed} passed, {failed} failed")
    return min(failed, 100)


if __name__ == "__main__":
    sys.exit(main())
