"""The GitHub workflows keep the hardening of the delivery design: least privilege, pinned actions, OIDC only,
no persisted credentials, deploys that never cancel, one digest promoted, and every step a make
target or playbook that also runs locally."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github/workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# Targets other branches provide (none since the services merged: `make images` is theirs).
PROVIDED_ELSEWHERE: set[str] = set()


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); put it back.
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job.get("steps", [])]


def make_targets() -> set[str]:
    targets: set[str] = set()
    for path in [ROOT / "Makefile", *ROOT.glob("*.mk"), *ROOT.glob("services/**/*.mk")]:
        targets |= set(re.findall(r"^([a-zA-Z][\w-]*):", path.read_text(), re.MULTILINE))
    return targets


def test_the_four_workflows_exist() -> None:
    assert {p.name for p in FILES} == {"ci.yml", "deploy.yml", "drift.yml", "infra.yml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}, "top-level permissions must be {}"
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("permissions"), dict) and job["permissions"], f"{name}: no job permissions"
        assert set(job["permissions"].values()) <= {"read", "write"}
        assert not {"write-all", "read-all"} & set(map(str, job["permissions"].values()))
        if "id-token" in job["permissions"]:
            assert any("configure-aws-credentials" in s.get("uses", "") for s in job["steps"]), name
    # every permission line says why
    in_block = False
    for line in path.read_text().splitlines():
        if re.match(r"^\s+permissions:\s*$", line):
            in_block = True
            continue
        if in_block and re.match(r"^\s+[\w-]+: (read|write|none)", line):
            assert " # " in line, f"{path.name}: permission without a comment: {line.strip()}"
        elif in_block:
            in_block = False


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_actions_are_pinned_by_sha_with_a_version_comment(path: Path) -> None:
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*(?:- )?uses: (\S+)(.*)$", line)
        if not match:
            continue
        action, rest = match.groups()
        assert PINNED.match(action), f"{path.name}: {action} is not pinned by a full commit SHA"
        assert re.match(r"^ # v\d+(\.\d+)*$", rest), f"{path.name}: {action} lacks a '# vX.Y.Z' comment"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_checkout_never_persists_credentials(path: Path) -> None:
    for job, step in steps(load(path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, job


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_aws_only_through_oidc(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY|secrets\.AWS", text)
    for job, step in steps(load(path)):
        if "configure-aws-credentials" in step.get("uses", ""):
            role = step["with"]["role-to-assume"]
            assert re.search(r":role/loopin-(\$\{\{ ?[\w.]+ ?\}\}|\w+)-(deploy|drift|provision)$", role)
            assert set(step["with"]) <= {"role-to-assume", "aws-region", "role-session-name"}, job


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_run_step_is_a_make_target_or_playbook(path: Path) -> None:
    targets = make_targets() | PROVIDED_ELSEWHERE
    for job, step in steps(load(path)):
        if "run" not in step:
            assert "uses" in step, job
            continue
        command = step["run"].strip()
        assert "\n" not in command, f"{job}: one command per step"
        assert "${{" not in command, f"{job}: expressions go through env:, not into the shell"
        first = command.split()
        assert first[0] in {"make", "ansible-playbook"}, f"{job}: {command}"
        if first[0] == "make":
            assert first[1] in targets, f"{job}: make {first[1]} is not a target"


def test_ci_runs_lint_pytest_molecule_on_pull_requests_and_pushes() -> None:
    ci = load(WORKFLOWS / "ci.yml")
    assert {"pull_request", "push"} <= set(ci["on"])
    commands = {step["run"] for _, step in steps(ci) if "run" in step}
    assert {"make lint", "make test-infra", "make molecule", "make scan"} <= commands


TEST_JOBS = {"pytest": "make test-infra", "molecule": "make molecule", "test-web": "make test-web",
             "test-worker": "make test-worker", "test-images": "make lint-images test-images"}  # fmt: skip


def test_deploy_promotes_one_digest_through_the_environments() -> None:
    deploy = load(WORKFLOWS / "deploy.yml")
    assert deploy["on"]["push"] == {"branches": ["main"]} and "workflow_dispatch" in deploy["on"]
    jobs = deploy["jobs"]
    assert list(jobs) == [*TEST_JOBS, "build", "deploy-dev", "deploy-staging", "deploy-production"]
    build = [step.get("run", "") for step in jobs["build"]["steps"]]
    order = ["make images", "make push-images", "make check-images", "make scan-images"]
    assert [next(i for i, r in enumerate(build) if r.startswith(o)) for o in order] == sorted(
        next(i for i, r in enumerate(build) if r.startswith(o)) for o in order
    )
    assert (
        "deploy-dev" in jobs["deploy-staging"]["needs"]
        and "deploy-staging" in jobs["deploy-production"]["needs"]
    )
    for env in ("dev", "staging", "production"):
        job = jobs[f"deploy-{env}"]
        assert job["environment"] == env
        assert job["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
        runs = [step.get("run", "") for step in job["steps"]]
        assert not any("images" == r.split()[1] for r in runs if r.startswith("make ")), "never rebuild"
        assert any(r.startswith(f"make deploy ENV={env} ") and "@$WEB_DIGEST" in r for r in runs)
        assert job["env"]["WEB_DIGEST"] == "${{ needs.build.outputs.web_digest }}"
    # no workflow-wide group: a run waiting for the production approval would hold it
    assert "concurrency" not in deploy


def test_every_deploy_waits_for_every_test_job() -> None:
    jobs = load(WORKFLOWS / "deploy.yml")["jobs"]
    for name, command in TEST_JOBS.items():
        assert [s["run"] for s in jobs[name]["steps"] if "run" in s] == [command]
        assert "id-token" not in jobs[name]["permissions"], f"{name} needs no AWS"
    for name in ("build", "deploy-dev", "deploy-staging", "deploy-production"):
        assert set(TEST_JOBS) <= set(jobs[name]["needs"]), name
    # the services' suites get their real PostgreSQL and Redis as service containers
    for name in ("test-web", "test-worker"):
        services = jobs[name]["services"]
        assert services["postgres"]["ports"] == ["5432:5432"] and services["redis"]["ports"] == ["6379:6379"]


def test_staging_daily_production_weekly_behind_the_approval() -> None:
    deploy = load(WORKFLOWS / "deploy.yml")
    crons = [entry["cron"] for entry in deploy["on"]["schedule"]]
    daily = [c for c in crons if c.split()[2:] == ["*", "*", "*"]]
    weekly = [c for c in crons if c.split()[4] != "*"]
    assert len(daily) == 1 and len(weekly) == 1, crons
    production = deploy["jobs"]["deploy-production"]
    assert production["environment"] == "production"
    # the daily schedule stops at staging; the weekly one (or a run on demand) goes on to production
    assert f"github.event.schedule == '{weekly[0]}'" in production["if"]
    assert "github.event_name != 'schedule'" in production["if"]
    assert "if" not in deploy["jobs"]["deploy-staging"]
    # the weekly cron (UTC) falls inside the production window, Tue-Thu 14:00-16:00 IST
    minute, hour, _, _, day = weekly[0].split()
    ist = int(hour) * 60 + int(minute) + 330
    assert day in {"2", "3", "4"} and 14 * 60 <= ist < 16 * 60


def test_drift_runs_nightly_per_environment_in_check_mode() -> None:
    drift = load(WORKFLOWS / "drift.yml")
    assert "schedule" in drift["on"]
    job = drift["jobs"]["drift"]
    assert job["strategy"]["matrix"]["environment"] == ["dev", "staging", "production"]
    assert [s["run"] for s in job["steps"] if "run" in s] == ['make drift ENV="$DRIFT_ENV"']
    assert "--check --diff" in (ROOT / "delivery.mk").read_text()


PLATFORM = {
    "roles/**",
    "playbooks/**",
    "inventories/**",
    "collections/**",
    "ansible.cfg",
    "requirements/infra.txt",
}
ENVIRONMENTS = ("dev", "staging", "production")


def test_infra_plans_pull_requests_that_touch_the_platform_and_applies_them_on_merge() -> None:
    infra = load(WORKFLOWS / "infra.yml")
    triggers = infra["on"]
    assert PLATFORM <= set(triggers["pull_request"]["paths"])
    assert triggers["push"]["branches"] == ["main"]
    assert triggers["push"]["paths"] == triggers["pull_request"]["paths"]
    emergency = triggers["workflow_dispatch"]["inputs"]["emergency"]
    assert emergency["type"] == "boolean" and emergency["default"] is False
    jobs = infra["jobs"]
    assert list(jobs) == ["plan", *(f"apply-{env}" for env in ENVIRONMENTS)]
    # a plan of every environment on a pull request, with the read-only role, into the summary
    plan = jobs["plan"]
    assert plan["if"] == "github.event_name == 'pull_request'"
    assert plan["strategy"]["matrix"]["environment"] == list(ENVIRONMENTS)
    assert plan["environment"] == "${{ matrix.environment }}-readonly"
    (credentials,) = [s for s in plan["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert credentials["with"]["role-to-assume"].endswith(":role/loopin-${{ matrix.environment }}-drift")
    runs = [s for s in plan["steps"] if "run" in s]
    assert [s["run"] for s in runs] == ['make plan ENV="$PLAN_ENV"', 'make plan-summary ENV="$PLAN_ENV"']
    assert runs[1]["if"] == "always()", "a failed plan is shown too"
    assert "GITHUB_STEP_SUMMARY" in (ROOT / "tools/plan_report.py").read_text()
    # on merge (or on demand): dev, then staging, then production
    assert (
        "needs" not in jobs["apply-dev"] and jobs["apply-dev"]["if"] == "github.event_name != 'pull_request'"
    )
    assert jobs["apply-staging"]["needs"] == ["apply-dev"]
    assert jobs["apply-production"]["needs"] == ["apply-staging"]
    deploy = load(WORKFLOWS / "deploy.yml")["jobs"]
    for env in ENVIRONMENTS:
        job = jobs[f"apply-{env}"]
        assert job["environment"] == f"{env}-infra"
        (credentials,) = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
        assert credentials["with"]["role-to-assume"].endswith(f":role/loopin-{env}-provision")
        # the deploy's group of that environment: a deploy and an apply never run at once there,
        # and neither cancels the other
        assert job["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
        assert job["concurrency"] == deploy[f"deploy-{env}"]["concurrency"]
        (run,) = [s["run"] for s in job["steps"] if "run" in s]
        assert run.startswith(f"make up ENV={env}")
    production = jobs["apply-production"]
    assert production["steps"][-1]["run"] == 'make up ENV=production EMERGENCY="$EMERGENCY"'
    assert production["steps"][-1]["env"]["EMERGENCY"] == (
        "${{ github.event_name == 'workflow_dispatch' && inputs.emergency }}"
    )
    # no workflow-wide group: an apply waiting for the CTO would hold it
    assert "concurrency" not in infra


def test_the_infra_environments_are_documented() -> None:
    delivery = (ROOT / "docs/delivery.md").read_text()
    for env in ENVIRONMENTS:
        assert f"`{env}-infra`" in delivery
    assert "loopin-<env>-provision" in delivery


def test_zizmor_auditor_reports_nothing() -> None:
    result = subprocess.run(
        [
            str(ROOT / ".venv/bin/zizmor"),
            "--offline",
            "--persona",
            "auditor",
            "--format",
            "plain",
            str(WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "No findings" in result.stdout + result.stderr, (
        result.stdout + result.stderr
    )


def test_workflows_match_githubs_schema() -> None:
    result = subprocess.run(
        [
            str(ROOT / ".venv/bin/check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, FILES),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_plan_summary_shows_what_changes_trimmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import plan_report

    diff = "\n".join(f"-line {i}\n+line {i}!" for i in range(60))
    log = tmp_path / "plan-dev.log"
    log.write_text(
        "TASK [waf : Web ACL] ****\nFriday 04 December 2026  20:53:13 +0000 (0:00:00.03)  0:00:55.389 ****\n"
        f"--- before\n+++ after\n{diff}\nchanged: [loopin-dev]\n\n"
        "TASK [sqs : Queues] ****\nok: [loopin-dev]\n\n"
        "PLAY RECAP ****\nloopin-dev : ok=3 changed=1 unreachable=0 failed=0 skipped=0\n\n"
        "SUMMARY: 1 resource(s) would change, in the order applied:\n  loopin-dev  web ACL loopin-dev\n"
        "      rules[rate].limit: 1000 -> 2000\n"
    )
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert plan_report.main([str(log), "--env", "dev"]) == 0
    text = summary.read_text()
    assert "### Plan of dev: **1 change(s)** would be applied on merge" in text
    assert "rules[rate].limit: 1000 -> 2000" in text and "<summary>waf : Web ACL</summary>" in text
    assert "sqs : Queues" not in text, "unchanged tasks are left out"
    assert "more line(s) in the job's log" in text and "+line 59!" not in text
    assert plan_report.main([str(tmp_path / "missing.log"), "--env", "staging"]) == 0
    assert "No plan: `make plan ENV=staging` did not run" in summary.read_text()
