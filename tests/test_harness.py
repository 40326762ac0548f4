"""The test harness itself: budgets that follow the machine, the stage runner of `make test`, the
Ansible settings every run uses, and the provisioning benchmark's floor and ratios."""

from __future__ import annotations

import configparser
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import budget
import pytest
from stack import ROOT, Stack

sys.path.insert(0, str(ROOT / "tools"))

import bench_provision
import emulator
import stages


@pytest.fixture
def slowdown(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Re-measure the slowdown within one test as LOOPIN_SLOWDOWN says; the session's comes back after."""

    def set_to(value: str) -> None:
        monkeypatch.setenv("LOOPIN_SLOWDOWN", value)
        monkeypatch.setattr(budget, "_slowdown", None)

    return set_to


def test_budgets_scale_with_the_machine(slowdown: Callable[[str], None]) -> None:
    slowdown("1")
    quiet = budget.timeout("site_cold")
    assert quiet == budget.MULTIPLE * budget.REFERENCE_SECONDS["site_cold"]
    slowdown("2.5")
    assert budget.timeout("site_cold") == pytest.approx(2.5 * quiet)
    slowdown("0.5")  # a faster machine keeps the reference budget
    assert budget.timeout("site_cold") == quiet


def test_calibration_measures_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPIN_SLOWDOWN", raising=False)
    monkeypatch.setattr(budget, "_slowdown", None)
    monkeypatch.setitem(budget.REFERENCE_SECONDS, "probe", 0.01)  # a machine 10x+ faster than this one
    assert budget.slowdown() > 5
    monkeypatch.setattr(budget, "_slowdown", None)
    monkeypatch.setitem(budget.REFERENCE_SECONDS, "probe", 1e6)  # the probe says "fast", the load does not
    monkeypatch.setattr(budget.os, "getloadavg", lambda: (8.0, 8.0, 8.0))
    monkeypatch.setattr(budget.os, "cpu_count", lambda: 2)
    assert budget.slowdown() == 4.0


def test_every_test_gets_the_scaled_timeout(request: pytest.FixtureRequest) -> None:
    mark = request.node.get_closest_marker("timeout")
    assert mark is not None
    assert mark.args[0] == pytest.approx(float(request.config.getini("timeout")) * budget.slowdown())


def _ansible_config() -> dict[str, str]:
    dump = subprocess.run(
        [str(ROOT / ".venv/bin/ansible-config"), "dump", "--only-changed"],
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": "/usr/bin:/bin"},
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("(", 1)[0]: line for line in dump.splitlines() if "(" in line}


def test_ansible_runs_under_mitogen_with_facts_off_and_pipelining() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    plugins = ROOT / cfg["defaults"]["strategy_plugins"]
    assert (plugins / f"{cfg['defaults']['strategy']}.py").is_file(), (
        "mitogen is not installed where ansible.cfg says"
    )
    dump = _ansible_config()
    assert "mitogen_linear" in dump["DEFAULT_STRATEGY"]
    assert "explicit" in dump["DEFAULT_GATHERING"]
    assert "True" in dump["ANSIBLE_PIPELINING"]
    requirements = (ROOT / "requirements/infra.txt").read_text().splitlines()
    assert any(line.startswith("mitogen==") for line in requirements), "mitogen is not pinned"


def test_molecule_uses_the_project_ansible_cfg() -> None:
    config = (ROOT / ".config/molecule/config.yml").read_text()
    assert "ANSIBLE_CONFIG: ${MOLECULE_PROJECT_DIRECTORY}/ansible.cfg" in config


# --- make test's stage runner ------------------------------------------------------------------


def test_stages_run_in_order_and_stop_at_the_first_failure(capsys: pytest.CaptureFixture[str]) -> None:
    ok = [sys.executable, "-c", "pass"]
    fail = [sys.executable, "-c", "raise SystemExit(3)"]
    results = stages.run_stages([("lint", ok), ("pytest", fail), ("molecule", ok)], env={})
    assert [(r.name, r.returncode) for r in results] == [("lint", 0), ("pytest", 3)]
    text = stages.report(results, total=12.0, skipped=["molecule"])
    lines = text.splitlines()
    assert any(line.split()[:1] == ["lint"] and line.endswith("PASS") for line in lines), text
    assert any(line.split()[:1] == ["pytest"] and "FAIL (exit 3)" in line for line in lines), text
    assert any(line.split() == ["molecule", "not", "run"] for line in lines), text
    assert lines[-1].split()[:3] == ["total", "12", "s"]
    assert "=== stage pytest: FAIL in" in capsys.readouterr().out


def test_pytest_and_molecule_share_one_emulator_that_stops_after() -> None:
    with stages.shared_emulator({}) as env:
        port = int(env["MOLECULE_EMULATOR_PORT"])
        assert env[stages.STACK_EMULATOR] == emulator.url_for(port)
        assert emulator.is_up(port)
        # molecule's site scenario confirms pytest's converge instead of converging again
        assert Path(env["MOLECULE_SITE_PLAYBOOK"]).is_file()
        # the stack's keys go where molecule looks for them, whatever pytest's fixtures do
        assert Path(env[stages.STACK_STATE]).is_dir()
    assert not emulator.is_up(port)
    assert not Path(env[stages.STACK_STATE]).exists()


def test_stage_names_are_checked() -> None:
    with pytest.raises(SystemExit):
        stages.main(["lint", "typo"])


# --- the provisioning benchmark ----------------------------------------------------------------


def test_floor_reads_every_family_of_the_stack(stack: Stack) -> None:
    calls, seconds = bench_provision.read_floor(stack.client)
    assert set(seconds) == set(calls)
    services = {name.split(".")[0] for name in calls}
    assert services >= {
        "ec2", "iam", "logs", "secretsmanager", "sqs", "ecr", "elasticache", "acm", "route53", "elbv2",
        "s3", "wafv2", "ecs", "application-autoscaling", "cloudwatch", "sns", "scheduler", "cloudtrail",
        "budgets",
    }  # fmt: skip
    operations = {name.split(".")[1] for name in calls}
    assert all(op.startswith(("describe_", "get_", "list_")) for op in operations), operations
    assert calls["sqs.get_queue_attributes"] == 6  # three queues and their DLQs
    assert calls["ecs.describe_task_definition"] == 2  # web and worker


def test_ratios_are_printed_on_lines_of_their_own() -> None:
    def measured(wall: float) -> bench_provision.Measurement:
        return bench_provision.Measurement("x", wall, 0.0, None, None, 0)

    met = bench_provision.ratios(measured(100.0), measured(38.0), measured(1.9))
    assert met == ["no-op/cold   0.38   (target <= 0.40: met)", "no-op/floor  20x"]
    assert bench_provision.ratios(measured(100.0), measured(41.0), measured(1.0))[0].endswith("NOT met)")


def test_request_log_counts_the_emulator_requests(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    log.write_bytes(b'x werkzeug INFO 127.0.0.1 - - [d] "POST / HTTP/1.1" 200 -\n')
    requests = bench_provision.RequestLog(log)
    with log.open("ab") as out:
        out.write(b'x werkzeug INFO 127.0.0.1 - - [d] "GET /schedules/a HTTP/1.1" 200 -\n')
        out.write(b"x localcloud.emulator INFO patches: none\n")
        out.write(b'x werkzeug INFO 127.0.0.1 - - [d] "POST / HTTP/1.1" 200 -\n')
    assert requests.since_last() == 2
    assert requests.since_last() == 0
