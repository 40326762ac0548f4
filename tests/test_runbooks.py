"""Every alarm the roles create has a runbook, and every runbook is one an on-call engineer can follow.

The convention (docs/runbooks/onesignal-outage.md was the first): `docs/runbooks/<name>.md`, where
<name> is the alarm's name without its `loopin-<env>-` prefix; its level-2 sections are, in this
order, What it means / First three commands / Mitigate / Verify / Escalate; the alarm's
description ends with `Runbook: docs/runbooks/<name>.md`. The alarms are the converged session
stack's (every role, as site.yml creates them), read only.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
from stack import Stack

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT / "docs" / "runbooks"
SECTIONS = ["What it means", "First three commands", "Mitigate", "Verify", "Escalate"]
# `make <target>` inside a code span or a console block (a `$ make ...` line).
MAKE = re.compile(r"(?:`|^\$ )make (?:-s )?([a-z][a-z0-9-]*)", re.M)
# Repository paths a runbook points at (`services/worker/...`, `roles/...`, `tools/...`, docs).
PATH = re.compile(r"`((?:services|roles|tools|docs|playbooks|inventories|tests)/[A-Za-z0-9_./<>-]+)`")
# Alarms Application Auto Scaling creates for a target-tracking policy: AWS owns them (they follow
# the policy), no role creates them, and their name has no environment prefix.
AWS_OWNED = re.compile(r"^TargetTracking-")


@cache
def make_targets() -> frozenset[str]:
    """Every target of the Makefile and what it includes (make's own database, nothing run)."""
    database = subprocess.run(
        ["make", "-pRrq", ":"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    return frozenset(re.findall(r"^([a-z][a-z0-9-]*):", database, re.M))


def runbook_files() -> list[Path]:
    return sorted(RUNBOOKS.glob("*.md"))


def alarms(stack: Stack) -> dict[str, str]:
    """Name (without the prefix) -> description of every alarm of the environment's roles."""
    found: dict[str, str] = {}
    for page in stack.client("cloudwatch").get_paginator("describe_alarms").paginate():
        for alarm in page["MetricAlarms"] + page.get("CompositeAlarms", []):
            name = alarm["AlarmName"]
            if AWS_OWNED.match(name):
                continue
            assert name.startswith(f"{stack.name}-"), f"alarm {name} has no {stack.name}- prefix"
            found[name.removeprefix(f"{stack.name}-")] = alarm.get("AlarmDescription", "")
    return found


def test_every_alarm_has_a_runbook_named_in_its_description(stack: Stack) -> None:
    found = alarms(stack)
    assert len(found) > 20, f"the stack has only {sorted(found)}"
    missing = sorted(name for name in found if not (RUNBOOKS / f"{name}.md").is_file())
    assert not missing, f"alarms without docs/runbooks/<name>.md: {missing}"
    unnamed = sorted(
        name
        for name, text in found.items()
        if not text.rstrip().endswith(f"Runbook: docs/runbooks/{name}.md")
    )
    assert not unnamed, f"alarm descriptions not ending with their runbook's path: {unnamed}"


def test_every_runbook_belongs_to_an_alarm(stack: Stack) -> None:
    found = alarms(stack)
    orphans = sorted(path.name for path in runbook_files() if path.stem not in found)
    assert not orphans, f"runbooks of alarms no role creates: {orphans}"


@pytest.mark.parametrize("path", runbook_files(), ids=lambda path: path.stem)
def test_runbook_sections_and_commands(path: Path) -> None:
    text = path.read_text()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == SECTIONS, f"{path.name}: sections {headings}, expected {SECTIONS} in this order"
    bodies = dict(zip(headings, re.split(r"^## .+$", text, flags=re.M)[1:], strict=True))
    for heading, body in bodies.items():
        assert body.strip(), f"{path.name}: section {heading!r} is empty"
    first = bodies["First three commands"]
    commands = re.findall(r"^\$ \S+", first, re.M)
    assert len(commands) >= 3, f"{path.name}: 'First three commands' has {len(commands)} console commands"
    assert MAKE.search(first), f"{path.name}: 'First three commands' names no make target"
    unknown = sorted(set(MAKE.findall(text)) - make_targets())
    assert not unknown, f"{path.name}: make targets that do not exist: {unknown}"
    absent = sorted(
        ref for ref in PATH.findall(text) if "<" not in ref and not (ROOT / ref.rstrip(".")).exists()
    )
    assert not absent, f"{path.name}: paths that do not exist in the repository: {absent}"


def test_the_make_target_check_sees_every_target() -> None:
    """The database parse finds the targets of the Makefile and of its includes (and no typo)."""
    targets = make_targets()
    assert {"up", "status", "drift", "rollback", "push-status", "test-worker"} <= targets
    assert "no-such-target" not in targets
