"""The whole stack, converged once per test session and shared by every test that only reads it.

A test asks for the `stack` fixture (tests/conftest.py) and reads what AWS holds:

    def test_alb_is_internet_facing(stack: Stack) -> None:
        alb = stack.client("elbv2").describe_load_balancers(Names=[stack.name])["LoadBalancers"][0]
        assert alb["Scheme"] == "internet-facing"

One owner: `open_stack` builds what `make up` builds, with the same functions of tools/localcloud:
on an empty emulator it bootstraps IAM enforcement (the operator and the principal AWS's own
services act as), starts the data plane (ECS agent, local load balancer, ElastiCache nodes),
converges site.yml once as the operator (with -v, so tests can search its output), makes the
release (images, the operator's secrets, migrations, the API answering through the local load
balancer), then plans once (--check --diff -v) with the tasks running, and yields a `Stack`. The
emulator is its own (started and stopped here), or the one named by LOOPIN_STACK_EMULATOR, which
`make test` starts so that molecule runs its idempotence, check and verify steps on the same
converged stack afterwards (as the operator, whose keys stay in the stack's state directory)
instead of converging another.

Rules for its users:
  - read only. A test that changes what AWS holds takes `aws_env` (the session's other emulator,
    reset for it) or its own emulator, never this one: molecule's idempotence step after pytest
    fails on anything a test left changed.
  - a new long-lived part of the stack is started in `open_stack`, registered on
    `stack.resources` so that it stops with the session, and described on `Stack`.
  - the stack's files (keys, CA, task logs) live in `stack.state`; `Stack.pinned()` points
    tools/localcloud at them for a call (another fixture may move LOOPIN_STATE_DIR meanwhile).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import budget

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT / "tools"))

import emulator  # noqa: E402
from stages import STACK_EMULATOR, STACK_STATE  # noqa: E402  # set by `make test`: converge there

REGION = "ap-south-1"
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass(frozen=True)
class Run:
    """One ansible-playbook run: its command, exit code, output and wall time."""

    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def recap(self, host: str = "loopin-local") -> dict[str, int]:
        """ok/changed/unreachable/failed of `host` in the last PLAY RECAP."""
        found = [m for m in RECAP.finditer(self.stdout) if m.group("host") == host]
        assert found, self.tail()
        values = map(int, found[-1].groups()[1:])
        return dict(zip(("ok", "changed", "unreachable", "failed"), values, strict=True))

    def tail(self, chars: int = 6000) -> str:
        """The command, every failed task with what led to it, and the end of the output."""
        lines = self.stdout.splitlines()
        failures = [
            "\n".join(lines[max(0, i - 8) : i + 20])
            for i, line in enumerate(lines)
            if line.startswith(("fatal:", "failed:"))
        ]
        excerpts = "".join(f"--- failed task ---\n{failure}\n" for failure in failures[:3])
        end = self.stdout[-chars:] + self.stderr[-chars // 2 :]
        return f"$ {' '.join(self.command)}\n{excerpts}--- end ---\n{end}"


def ansible_playbook(
    playbook: str,
    endpoint: str,
    *args: str,
    work: str = "playbook",
    inventory: Path | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """Run playbooks/<playbook> (or a playbook by absolute path) on `endpoint` within the budget
    of `work` (tests/budget.py).

    The inventory supplies the region; the AWS_* variables of the test process are removed, so
    that a module left out of module_defaults fails instead of finding the emulator through the
    environment, and replaced by throw-away keys: these emulators do not enforce IAM (`env`
    passes an actor's credentials for one that does).
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{base['PATH']}")
    base.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    command = (
        str(BIN / "ansible-playbook"),
        "-i",
        str(inventory or ROOT / "inventories" / "local"),
        "-e",
        f"aws_endpoint_url={endpoint}",
        str(ROOT / "playbooks" / playbook),
        *args,
    )
    start = time.perf_counter()
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**base, **(env or {})},
        check=False,
        timeout=budget.timeout(work),
    )
    return Run(command, result.returncode, result.stdout, result.stderr, time.perf_counter() - start)


@contextlib.contextmanager
def environ(**values: str | None) -> Iterator[None]:
    """os.environ with `values` set (None: unset) for the block, as it was afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Stack:
    """The running local environment: where it is, who may call it, and its converge and plan."""

    endpoint: str
    up: Run
    plan: Run
    state: Path  # LOOPIN_STATE_DIR of the stack (keys, CA, data plane, task logs)
    api: str  # the API through the local load balancer, https://127.0.0.1:<port>
    environment: str = "local"
    # Parts started after the converge that must stop with the session (see the module docstring).
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return f"loopin-{self.environment}"

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    @property
    def directory(self) -> Path:
        """The local cloud's directory of this emulator (tools/localcloud/state.py)."""
        return self.state / f"localcloud-{self.port}"

    @property
    def ca(self) -> Path:
        """The local CA that issued the load balancer's certificate."""
        return self.directory / "pki" / "ca.pem"

    def pinned(self) -> contextlib.AbstractContextManager[None]:
        return environ(LOOPIN_STATE_DIR=str(self.state))

    def credentials(self, role: str) -> dict[str, str]:
        """Keys of an actor (operator, deploy, drift, web, worker), as that actor obtains them."""
        from localcloud import identities

        with self.pinned():
            return identities.credentials(
                role, self.endpoint, identities.Environment.load(self.environment), f"tests-{role}"
            )

    def client(self, service: str, role: str = "operator") -> Any:
        """A boto3 client on the stack's emulator as `role` (one per service and role)."""
        key = f"{role}/{service}"
        if key not in self._clients:
            keys = self.credentials(role)
            session = boto3.session.Session(
                region_name=REGION,
                aws_access_key_id=keys["AccessKeyId"],
                aws_secret_access_key=keys["SecretAccessKey"],
                aws_session_token=keys.get("SessionToken"),
            )
            self._clients[key] = session.client(service, endpoint_url=self.endpoint)
        return self._clients[key]


def operator_env(keys: dict[str, str]) -> dict[str, str]:
    """What ansible-playbook needs to run as the operator (static keys, no session token)."""
    return {"AWS_ACCESS_KEY_ID": keys["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"]}


def converge(endpoint: str, state: Path, cleanup: contextlib.ExitStack) -> Stack:
    """What `make up` does on an empty emulator (see the module docstring), with the local
    cloud's files in `state`; fails with the output of the step that fails. The data plane is
    registered on `cleanup`."""
    from localcloud import __main__ as localcloud
    from localcloud import identities

    # The load balancer's listeners on free ports: the fixed ones belong to a developer's `make up`.
    with environ(LOOPIN_STATE_DIR=str(state), LOCALCLOUD_LB_PORTS=None):
        identities.bootstrap(endpoint)
        keys = identities.credentials("operator", endpoint, identities.Environment.load("local"))
        localcloud.start_dataplane(endpoint)
    cleanup.callback(_stop_dataplane, endpoint, state)
    as_operator = operator_env(keys)
    up = ansible_playbook("site.yml", endpoint, "-v", work="site_cold", env=as_operator)
    assert up.returncode == 0, up.tail()
    with environ(LOOPIN_STATE_DIR=str(state)), contextlib.redirect_stdout(io.StringIO()) as said:
        start = time.perf_counter()
        try:
            localcloud.release(endpoint, "local", "bootstrap")
        except (SystemExit, RuntimeError, TimeoutError) as exc:
            log = state / f"localcloud-{port_of(endpoint)}" / "dataplane" / "dataplane.log"
            tail = log.read_text()[-4000:] if log.exists() else ""
            raise AssertionError(f"release: {exc}\n{said.getvalue()}\n--- {log} ---\n{tail}") from exc
        release_seconds = time.perf_counter() - start
        api = localcloud.api_address(endpoint)
    assert api, said.getvalue()
    assert release_seconds < budget.timeout("release"), f"release took {release_seconds:.0f} s"
    plan = ansible_playbook(
        "site.yml", endpoint, "--check", "--diff", "-v", work="site_plan", env=as_operator
    )
    assert plan.returncode == 0, plan.tail()
    return Stack(endpoint=endpoint, up=up, plan=plan, state=state, api=api)


def port_of(endpoint: str) -> int:
    return int(endpoint.rstrip("/").rsplit(":", 1)[1])


def _stop_dataplane(endpoint: str, state: Path) -> None:
    from localcloud import __main__ as localcloud

    with environ(LOOPIN_STATE_DIR=str(state)):
        localcloud.stop_dataplane(endpoint)


@contextlib.contextmanager
def open_stack() -> Iterator[Stack]:
    """The session's running stack: on the handed-over emulator or on one started here."""
    with contextlib.ExitStack() as cleanup:
        endpoint = os.environ.get(STACK_EMULATOR)
        if endpoint:
            emulator.reset(port_of(endpoint))  # its owner keeps it running after us
            # molecule reads the operator's keys from there afterwards (the Makefile's molecule)
            state = Path(os.environ[STACK_STATE])
        else:
            endpoint = cleanup.enter_context(emulator.running(wait=budget.timeout("emulator_start")))
            state = Path(os.environ.get("LOOPIN_STATE_DIR", ROOT / ".state"))
        stack = converge(endpoint, state, cleanup)
        with stack.resources:
            yield stack
