"""The plan of one environment as Markdown, for a pull request's job summary (make plan-summary).

    python tools/plan_report.py .state/plan-dev.log --env dev

Reads the output `make plan` left (site.yml --check --diff) and writes, in this order: the
recap line, the plan_summary callback's list of what would change (one resource per line with
its attributes), then each changed or failed task with its diff, trimmed. It appends to
$GITHUB_STEP_SUMMARY when that is set, else prints. A missing log (the plan failed before it
started) is reported as such, never as "nothing would change".
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

TASK = re.compile(r"^TASK \[(?P<name>.+?)\] \*+$")
HEADER = re.compile(r"^(PLAY|TASK|RUNNING HANDLER) \[|^PLAY RECAP \*+$")
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=\d+\s+changed=(?P<changed>\d+).*failed=(?P<failed>\d+)")
TIMING = re.compile(r"^\w+day \d\d \w+ \d{4} .*\*+ ?$")  # profile_tasks' line after each header
# What a task block keeps: the diff (before/after of the default callback) and its outcome.
KEPT = re.compile(r"^(--- |\+\+\+ |@@ |[-+ ]|changed: |fatal: |failed: )")
# Lines per task, and tasks, beyond which the summary says how many more there were.
MAX_TASK_LINES = 40
MAX_TASKS = 30


@dataclass
class Plan:
    recap: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    tasks: list[tuple[str, list[str]]] = field(default_factory=list)  # name, kept lines

    @property
    def changed(self) -> int:
        return sum(int(m["changed"]) for line in self.recap if (m := RECAP.match(line)))

    @property
    def failed(self) -> int:
        return sum(int(m["failed"]) for line in self.recap if (m := RECAP.match(line)))


def parse(text: str) -> Plan:
    plan = Plan()
    lines = text.splitlines()
    task: str | None = None
    block: list[str] = []
    in_recap = in_summary = False

    def close() -> None:
        if task and any(line.startswith(("changed: ", "fatal: ", "failed: ")) for line in block):
            plan.tasks.append((task, [line for line in block if KEPT.match(line) and line.strip()]))

    for line in lines:
        if line.startswith("SUMMARY: "):
            close()
            task, in_recap, in_summary = None, False, True
            plan.summary.append(line)
            continue
        if in_summary:
            if line.startswith("  "):
                plan.summary.append(line)
                continue
            in_summary = False
        if HEADER.match(line):
            close()
            block = []
            match = TASK.match(line)
            task = match["name"] if match else None
            in_recap = line.startswith("PLAY RECAP")
            continue
        if in_recap:
            if RECAP.match(line):
                plan.recap.append(" ".join(line.split()))
            continue
        if task and not TIMING.match(line):
            block.append(line)
    close()
    return plan


def markdown(plan: Plan | None, env: str) -> str:
    if plan is None:
        return f"### Plan of {env}\n\nNo plan: `make plan ENV={env}` did not run (see the job's log).\n"
    if not plan.recap:
        verdict = "did not finish (see the job's log)"
    elif plan.failed:
        verdict = f"**failed** ({plan.failed} task(s)); what it planned before that is below"
    elif plan.changed:
        verdict = f"**{plan.changed} change(s)** would be applied on merge"
    else:
        verdict = "nothing would change"
    out = [f"### Plan of {env}: {verdict}", ""]
    if plan.recap:
        out += ["```", *plan.recap, "```", ""]
    if plan.summary:
        out += ["```", *plan.summary, "```", ""]
    for name, kept in plan.tasks[:MAX_TASKS]:
        shown = kept[:MAX_TASK_LINES]
        if len(kept) > MAX_TASK_LINES:
            shown.append(f"... {len(kept) - MAX_TASK_LINES} more line(s) in the job's log")
        out += [f"<details><summary>{name}</summary>", "", "```diff", *shown, "```", "", "</details>", ""]
    if len(plan.tasks) > MAX_TASKS:
        out.append(f"... and {len(plan.tasks) - MAX_TASKS} more changed task(s) in the job's log")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="plan_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--env", required=True)
    args = parser.parse_args(argv)
    plan = parse(args.log.read_text(errors="replace")) if args.log.exists() else None
    text = markdown(plan, args.env)
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as summary:
            summary.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
