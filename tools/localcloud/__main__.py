"""The local cloud's commands (the Makefile's `up`, `status` and `down` call them).

    python -m localcloud start   --endpoint URL   emulator (IAM enforced, principals made) + data plane
    python -m localcloud release --endpoint URL --env local --tag bootstrap
                                                  after site.yml: the working tree's images in the local ECR,
                                                  the operator's secrets, migrations, then wait for the API
    python -m localcloud status  --endpoint URL   processes, tasks, targets, load balancer, alarms
    python -m localcloud stop    --endpoint URL   data plane (tasks get SIGTERM), then the emulator

Run with ``tools/`` on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import emulator

from localcloud import images
from localcloud.state import REGION, LocalCloudState, port_of

PLACEHOLDER = "changethis"
# What the data plane needs to stop: every task's stopTimeout (120 s at most on Fargate) and more.
DATAPLANE_STOP_SECONDS = 150


def _dataplane_pidfile(state: LocalCloudState) -> Path:
    return state.path("dataplane", "pid")


# Data planes this process started (the tests start and stop them in one process), by pid. A
# child that exits stays a zombie, which os.kill(pid, 0) still finds, until it is reaped: polling
# its Popen reaps it, so a stop does not wait its whole deadline on a finished process; keeping
# the Popen also keeps it from being collected (with a ResourceWarning) while the child runs.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def _pid_alive(pid: int) -> bool:
    """Whether `pid` still runs."""
    if pid in _STARTED:
        return _STARTED[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def dataplane_pid(state: LocalCloudState) -> int | None:
    pidfile = _dataplane_pidfile(state)
    if not pidfile.exists():
        return None
    pid = int(pidfile.read_text())
    return pid if _pid_alive(pid) else None


def start_dataplane(endpoint: str) -> int:
    state = LocalCloudState(endpoint)
    running = dataplane_pid(state)
    if running:
        return running
    log = state.path("dataplane", "dataplane.log").open("ab")
    tools = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [tools, os.environ.get("PYTHONPATH", "")])),
    }
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(key, None)  # the data plane acts as AWS's own services, never as the caller
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud.dataplane", "--endpoint", endpoint],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    _STARTED[proc.pid] = proc
    _dataplane_pidfile(state).write_text(str(proc.pid))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the data plane exited with {proc.returncode}; see {state.directory}/dataplane/"
            )
        status = state.read_json("dataplane/status.json") or {}
        if status.get("pid") == proc.pid:
            return proc.pid
        time.sleep(0.2)
    raise RuntimeError("the data plane did not report within 30 s")


def stop_dataplane(endpoint: str) -> bool:
    state = LocalCloudState(endpoint)
    pid = dataplane_pid(state)
    _dataplane_pidfile(state).unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DATAPLANE_STOP_SECONDS
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    if pid in _STARTED:
        _STARTED.pop(pid).wait()
    return True


def start(endpoint: str) -> None:
    port = port_of(endpoint)
    pid = emulator.start(port)
    print(f"emulator     {endpoint} (pid {pid or 'not ours'})")
    try:
        from localcloud import identities  # enforced IAM and the bootstrapped principals
    except ImportError:
        identities = None  # type: ignore[assignment]
    if identities is not None:
        identities.bootstrap(endpoint)
        print(
            "IAM          enforced; operator credentials in",
            LocalCloudState(endpoint).directory / "credentials",
        )
    print(
        f"data plane   pid {start_dataplane(endpoint)} (log {LocalCloudState(endpoint).directory}/dataplane/)"
    )


def stop(endpoint: str) -> None:
    print(f"data plane   {'stopped' if stop_dataplane(endpoint) else 'was not running'}")
    print(f"emulator     {'stopped' if emulator.stop(port_of(endpoint)) else 'was not running (no pidfile)'}")


def _client(endpoint: str, service: str, principal: str = "operator") -> Any:
    keys = LocalCloudState(endpoint).credentials(principal) or {
        "AccessKeyId": "testing",
        "SecretAccessKey": "testing",
    }
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
    )


def _fcm_service_account(endpoint: str, project: str, env: str) -> dict[str, str]:
    """A Google service account key as the console downloads it, known to the FCM stand-in
    (localcloud/emulator/vendors/fcm.py), whose token endpoint is its token_uri."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    google_project = f"{project}-{env}"
    return {
        "type": "service_account",
        "project_id": google_project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": f"loopin-worker@{google_project}.iam.gserviceaccount.com",
        "client_id": str(secrets.randbelow(10**21)),
        "token_uri": f"{endpoint}/_localcloud/vendors/fcm/token",
    }


def fill_operator_secrets(endpoint: str, env: str, project: str = "loopin") -> dict[str, str]:
    """Play the operator's part for the local environment: the values that come from outside AWS.

    Only a placeholder is replaced; a value someone set is kept. Supabase's database is the
    machine's PostgreSQL (a database per environment); OneSignal's app and FCM's service account
    belong to the emulator's stand-ins (localcloud/emulator/vendors), which know them by what is
    stored here.

    The database belongs to this local cloud (`<project>_<env>_<emulator port>`) and is made
    anew with its first release: two stacks on one machine (a developer's `make up` and the
    tests' own) must not share an outbox, or each relays the other's notifications, and a new
    emulator must not inherit the rows of the last one on its port."""
    sm = _client(endpoint, "secretsmanager")
    database = f"{project}_{env}_{port_of(endpoint)}"
    filled: dict[str, str] = {}  # secret -> what it now holds
    name = f"{project}/{env}/onesignal"
    held = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    if PLACEHOLDER in (held.get("app_id"), held.get("api_key")):
        app = {"app_id": str(uuid.uuid4()), "api_key": f"os_v2_app_local_{secrets.token_urlsafe(24)}"}
        sm.put_secret_value(SecretId=name, SecretString=json.dumps(app))
        filled[name] = "the app of the emulator's OneSignal stand-in"
    name = f"{project}/{env}/fcm"
    if sm.get_secret_value(SecretId=name)["SecretString"] == PLACEHOLDER:
        sm.put_secret_value(
            SecretId=name, SecretString=json.dumps(_fcm_service_account(endpoint, project, env))
        )
        filled[name] = "a service account of the emulator's FCM stand-in"
    name = f"{project}/{env}/database-url"
    if sm.get_secret_value(SecretId=name)["SecretString"] == PLACEHOLDER:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
        sm.put_secret_value(SecretId=name, SecretString=f"postgresql://postgres@127.0.0.1:5432/{database}")
        filled[name] = "the local PostgreSQL"
    return filled


def run_one_off(endpoint: str, cluster: str, service: str, command: list[str], timeout: float = 300) -> int:
    """RunTask with the service's task definition and network, a command override; its exit code."""
    ecs = _client(endpoint, "ecs")
    found = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=found["taskDefinition"])["taskDefinition"]
    container = definition["containerDefinitions"][0]["name"]
    task = ecs.run_task(
        cluster=cluster,
        taskDefinition=found["taskDefinition"],
        launchType="FARGATE",
        networkConfiguration=found["networkConfiguration"],
        overrides={"containerOverrides": [{"name": container, "command": command}]},
        startedBy="localcloud-release",
    )["tasks"][0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
        if described["lastStatus"] == "STOPPED":
            code = described["containers"][0].get("exitCode")
            if code is None:
                raise RuntimeError(f"one-off task {command} did not run: {described.get('stoppedReason')}")
            return int(code)
        time.sleep(1)
    raise TimeoutError(f"one-off task {command} still running after {timeout:.0f} s")


def restart_failed_deployments(endpoint: str, cluster: str) -> None:
    """A service created before its first image existed has a FAILED first deployment (the
    circuit breaker saw its tasks fail to pull): start it again now that the image is there, as
    an operator would on AWS."""
    ecs = _client(endpoint, "ecs")
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    for service in ecs.describe_services(cluster=cluster, services=arns)["services"] if arns else []:
        primary = next((d for d in service["deployments"] if d["status"] == "PRIMARY"), {})
        if primary.get("rolloutState") == "FAILED":
            ecs.update_service(cluster=cluster, service=service["serviceName"], forceNewDeployment=True)
            name = service["serviceName"]
            print(f"service      {name}: its first deployment failed before the image existed; redeployed")


def _status(endpoint: str) -> dict[str, Any]:
    return LocalCloudState(endpoint).read_json("dataplane/status.json") or {}


def api_address(endpoint: str) -> str | None:
    listeners = (_status(endpoint).get("loadbalancer") or {}).get("listeners") or []
    https = [entry for entry in listeners if entry.get("protocol") == "HTTPS"]
    return f"https://127.0.0.1:{https[0]['port']}" if https else None


def wait_for_api(endpoint: str, timeout: float = 300) -> str:
    state = LocalCloudState(endpoint)
    import ssl

    context = ssl.create_default_context(cafile=str(state.directory / "pki" / "ca.pem"))
    deadline = time.monotonic() + timeout
    last = "no load balancer listener yet"
    while time.monotonic() < deadline:
        address = api_address(endpoint)
        if address:
            try:
                with urllib.request.urlopen(f"{address}/v1/health", timeout=5, context=context) as resp:  # noqa: S310
                    if resp.status == 200:
                        return address
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
        time.sleep(1)
    raise TimeoutError(f"the API did not answer through the load balancer within {timeout:.0f} s: {last}")


def release(endpoint: str, env: str, tag: str, project: str = "loopin") -> None:
    # The operator's secrets first: ECS resolves a task's secrets when it starts it, and the first
    # task can start as soon as its image is in ECR; a worker started on the placeholders would
    # keep them for its whole life.
    for name, what in fill_operator_secrets(endpoint, env, project).items():
        print(f"secret       {name} set to {what}")
    ecr = _client(endpoint, "ecr")
    for service in images.SERVICES:
        try:
            uri = images.push(images.build(service), ecr, f"{project}/{env}/{service}", tag)
            print(f"image        {uri} (tag {tag})")
        except images.TagTaken as exc:
            # The task definitions' first image is made once; later code arrives with `make deploy`.
            print(f"image        {exc}: kept (make release, then make deploy, to run this tree's code)")
    prefix = f"{project}-{env}"
    code = run_one_off(endpoint, prefix, f"{prefix}-web", ["loopin-web-manage", "migrate", "--noinput"])
    print(f"migrations   one-off task exited {code}")
    if code != 0:
        raise SystemExit(f"migrations failed (exit {code}); see the task's log group /ecs/{prefix}-web")
    restart_failed_deployments(endpoint, prefix)
    address = wait_for_api(endpoint)
    ca = LocalCloudState(endpoint).directory / "pki" / "ca.pem"
    print(f"API (local)  {address}   (curl --cacert {ca} {address}/v1/health)")


def status(endpoint: str) -> int:
    state = LocalCloudState(endpoint)
    up = emulator.is_up(port_of(endpoint))
    print(f"emulator     {endpoint} {'up' if up else 'down'}")
    pid = dataplane_pid(state)
    print(f"data plane   {'pid ' + str(pid) if pid else 'not running'}")
    if not up:
        return 1
    ecs = _client(endpoint, "ecs")
    for cluster in ecs.list_clusters()["clusterArns"]:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for service in ecs.describe_services(cluster=cluster, services=arns)["services"] if arns else []:
            deployments = ", ".join(
                f"{d['taskDefinition'].rsplit('/', 1)[-1]} {d.get('rolloutState', '')}"
                for d in service["deployments"]
            )
            print(
                f"  service    {service['serviceName']:28} desired {service['desiredCount']} running "
                f"{service['runningCount']} pending {service['pendingCount']}  [{deployments}]"
            )
    info = _status(endpoint)
    for task in info.get("tasks", []):
        where = f"pid {task['pid']} port {task['port']}"
        print(f"  task       {task['task'][:12]} {task['group']:32} {where} {task['health']}")
    for node in info.get("elasticache", []):
        state_word = "up" if node["up"] else "down"
        print(f"  redis      {node['group']} 127.0.0.1:{node['port']} TLS {node['tls']} {state_word}")
    address = api_address(endpoint)
    print(f"API (local)  {address or 'no load balancer listener'}")
    cw = _client(endpoint, "cloudwatch")
    alarming = [a["AlarmName"] for a in cw.describe_alarms(StateValue="ALARM")["MetricAlarms"]]
    print(f"alarms       {len(alarming)} in ALARM{': ' + ', '.join(alarming) if alarming else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "release", "status", "stop"])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--env", default="local")
    parser.add_argument("--tag", default="bootstrap")
    args = parser.parse_args(argv)
    if args.action == "start":
        start(args.endpoint)
    elif args.action == "release":
        release(args.endpoint, args.env, args.tag)
    elif args.action == "status":
        return status(args.endpoint)
    else:
        stop(args.endpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
