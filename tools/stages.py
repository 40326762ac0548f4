"""`make test`: every check CI runs, stage by stage, with each stage's wall time and the load.

    python tools/stages.py                    # lint, pytest, services, images, molecule
    python tools/stages.py pytest molecule    # some of them, in that same order

When pytest and molecule both run, they share one emulator: this script starts it, pytest's
session stack (tests/stack.py) converges the whole stack on it once, and molecule's scenarios
then re-run, plan and verify that stack instead of converging another one. The script stops it
at the end, whatever happened. The first failing stage stops the run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import emulator  # noqa: E402

# Stage -> the make target that runs it (Makefile).
STAGES: dict[str, str] = {
    "lint": "lint",
    "pytest": "test-infra",
    "services": "stage-services",
    "images": "stage-images",
    "molecule": "molecule",
}
# The variable tests/stack.py reads to converge on the shared emulator instead of its own.
STACK_EMULATOR = "LOOPIN_STACK_EMULATOR"
# ... and the local cloud's state directory it keeps that stack's files in (the operator's keys,
# which molecule then runs with). Named here, not taken from LOOPIN_STATE_DIR, because pytest's
# fixtures move LOOPIN_STATE_DIR to directories of their own while the session runs.
STACK_STATE = "LOOPIN_STACK_STATE_DIR"


@dataclass(frozen=True)
class Result:
    name: str
    returncode: int
    seconds: float
    load_before: float
    load_after: float

    @property
    def line(self) -> str:
        verdict = "PASS" if self.returncode == 0 else f"FAIL (exit {self.returncode})"
        return (
            f"  {self.name:<10}{self.seconds:>7.0f} s   "
            f"load {self.load_before:4.1f} -> {self.load_after:4.1f}   {verdict}"
        )


def _load() -> float:
    return os.getloadavg()[0]


def run_stages(stages: Sequence[tuple[str, list[str]]], env: dict[str, str]) -> list[Result]:
    """Run each (name, command) in order until one fails; print and return what ran."""
    results: list[Result] = []
    for name, command in stages:
        print(f"\n=== stage {name}: {' '.join(command)}   (load average {_load():.1f})", flush=True)
        load, start = _load(), time.perf_counter()
        returncode = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        result = Result(name, returncode, time.perf_counter() - start, load, _load())
        results.append(result)
        print(
            f"=== stage {name}: {'PASS' if returncode == 0 else 'FAIL'} in {result.seconds:.0f} s", flush=True
        )
        if returncode != 0:
            break
    return results


def report(results: Sequence[Result], total: float, skipped: Sequence[str]) -> str:
    lines = ["", "=== make test: stage times (wall clock; load average at start -> end of each)"]
    lines += [result.line for result in results]
    lines += [f"  {name:<10}{'':>7}     not run" for name in skipped]
    lines.append(f"  {'total':<10}{total:>7.0f} s   ({total / 60:.1f} min)")
    return "\n".join(lines)


@contextlib.contextmanager
def shared_emulator(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """An emulator for pytest's stack and molecule, named in the environment both see."""
    with emulator.running() as url:
        port = url.rsplit(":", 1)[1]
        state = ROOT / ".state" / f"make-test-{port}"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        # molecule/site/molecule.yml: pytest converges and plans site.yml, molecule takes over.
        converged = str(ROOT / "molecule" / "site" / "converged.yml")
        try:
            yield {
                **env,
                STACK_EMULATOR: url,
                STACK_STATE: str(state),
                "MOLECULE_EMULATOR_PORT": port,
                "MOLECULE_SITE_PLAYBOOK": converged,
            }
        finally:
            shutil.rmtree(state, ignore_errors=True)  # the stack's keys die with its emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("stages", nargs="*", help=f"some of {', '.join(STAGES)} (default: all)")
    names = parser.parse_args(argv).stages or list(STAGES)
    if unknown := sorted(set(names) - set(STAGES)):
        parser.error(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(STAGES)}")
    selected = [name for name in STAGES if name in names]
    make = os.environ.get("MAKE", "make")
    stages = [(name, [make, "--no-print-directory", STAGES[name]]) for name in selected]
    strategy = os.environ.get("ANSIBLE_STRATEGY", "mitogen_linear (ansible.cfg)")
    print(f"make test: {', '.join(selected)}; Ansible strategy {strategy}", flush=True)

    start = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        env = dict(os.environ)
        if {"pytest", "molecule"} <= set(selected):
            env = cleanup.enter_context(shared_emulator(env))
        results = run_stages(stages, env)
    print(report(results, time.perf_counter() - start, selected[len(results) :]), flush=True)
    return 0 if results and results[-1].returncode == 0 and len(results) == len(selected) else 1


if __name__ == "__main__":
    sys.exit(main())
