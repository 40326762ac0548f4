"""The session's running stack end to end, as a mobile client uses it.

A request crosses what `make up` built, with nothing stubbed between the parts: the local load
balancer (TLS with the local CA) -> a web task -> PostgreSQL (the notification and its outbox row)
-> SQS -> a worker task -> OneSignal, here the emulator's stand-in (the local inventory sets
`ecs_worker_vendor_stand_ins`), which accepts only the app keys the release stored in Secrets
Manager. The client's X-Request-ID must reach both tasks' log groups, and the load balancer's
metrics for the traffic must reach CloudWatch under AWS's dimensions.

The fallback drill takes OneSignal's stand-in down and checks that the worker delivers through
the FCM stand-in (the release stored a service account it knows in the `fcm` secret; the local
inventory falls back after 5 s) exactly once per notification, and back through OneSignal once
it answers again.

Read-only in the sense of tests/stack.py: the tests add users and notifications to the
application's data and switch a stand-in's outage on and off, never a change to what the roles
manage.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import budget
from localcloud.mobile_client import MobileClient
from stack import Stack


def _control(stack: Stack, vendor: str, what: str, method: str = "GET", body: Any = None) -> Any:
    """The control side of a vendor's stand-in on the emulator (localcloud/emulator/vendors)."""
    request = urllib.request.Request(  # noqa: S310 - the loopback emulator
        f"{stack.endpoint}/_localcloud/vendors/{vendor}/_control/{what}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the loopback emulator
        return json.loads(response.read())


def _stand_in_notifications(stack: Stack, app_id: str) -> list[dict[str, Any]]:
    return _control(stack, "onesignal", f"notifications?app_id={app_id}")


def _app_id(stack: Stack) -> str:
    secret = stack.client("secretsmanager").get_secret_value(SecretId="loopin/local/onesignal")
    return json.loads(secret["SecretString"])["app_id"]


def _signed_up_with_a_device(stack: Stack) -> tuple[MobileClient, str, str]:
    """A client with an account and one Android device: (client, subscription id, FCM token)."""
    client = MobileClient(stack.api, stack.ca)  # through the local load balancer
    client.sign_up()
    return client, client.subscription_id, client.push_token


def _sent(client: MobileClient, notification: str, seconds: float = 90) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        _, seen = client.call("GET", f"/v1/notifications/{notification}")
        return seen if seen and seen.get("status") not in ("pending", "queued") else None

    return budget.until(final, seconds, f"the worker to deliver {notification}", every=1.0)


def _log_lines_with(stack: Stack, group: str, needle: str, since: dt.datetime) -> list[str]:
    logs = stack.client("logs")
    found, token = [], None
    while True:
        page = logs.filter_log_events(
            logGroupName=group,
            startTime=int(since.timestamp() * 1000),
            **({"nextToken": token} if token else {}),
        )
        found += [e["message"] for e in page["events"] if needle in e["message"]]
        token = page.get("nextToken")
        if not token:
            return found


def _request_count(stack: Stack, since: dt.datetime) -> dict[str, float]:
    """RequestCount per target group of the stack's load balancer, as the alarms query it."""
    elbv2, cloudwatch = stack.client("elbv2"), stack.client("cloudwatch")
    lb = elbv2.describe_load_balancers(Names=[stack.name])["LoadBalancers"][0]
    lb_dim = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    counts = {}
    for group in elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName="RequestCount",
            Dimensions=[
                {"Name": "LoadBalancer", "Value": lb_dim},
                {"Name": "TargetGroup", "Value": group["TargetGroupArn"].rsplit(":", 1)[1]},
            ],
            StartTime=since - dt.timedelta(minutes=1),
            EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        counts[group["TargetGroupName"]] = sum(p["Sum"] for p in points)
    return counts


def test_a_push_request_crosses_the_whole_stack(stack: Stack) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    client, subscription, _ = _signed_up_with_a_device(stack)
    request_id = str(uuid.uuid4())
    status, accepted = client.call(
        "POST", "/v1/notifications", {"title": "e2e", "body": f"through the stack {request_id}"}, request_id
    )
    assert status == 202, accepted
    assert _sent(client, accepted["id"])["status"] == "sent"

    pushed = [
        n
        for n in _stand_in_notifications(stack, _app_id(stack))
        if n["include_subscription_ids"] == [subscription]
    ]
    assert len(pushed) == 1, pushed  # exactly once, to the device the client registered
    assert pushed[0]["contents"] == {"en": f"through the stack {request_id}"}

    # The client's request ID in both tasks' log groups (awslogs from the running tasks).
    for service in ("web", "worker"):
        group = f"/ecs/{stack.name}-{service}"
        lines = budget.until(
            lambda group=group: _log_lines_with(stack, group, request_id, since),
            30,
            f"{request_id} in {group}",
            every=1.0,
        )
        assert all(json.loads(line)["request_id"] == request_id for line in lines), lines[:3]

    # The load balancer counted the traffic on a web target group, with AWS's dimensions.
    counts = budget.until(
        lambda: {g: n for g, n in _request_count(stack, since).items() if n >= 4} or None,
        30,
        "RequestCount of this test's requests",
        every=1.0,
    )
    assert all(name.startswith(f"{stack.name}-web") for name in counts), counts


def test_the_onesignal_stand_in_refuses_keys_that_are_not_the_apps(stack: Stack) -> None:
    """The worker's key check is real: a wrong key is refused as OneSignal refuses it (403)."""
    body = json.dumps({"app_id": _app_id(stack), "include_subscription_ids": [str(uuid.uuid4())]}).encode()
    request = urllib.request.Request(  # noqa: S310 - the loopback emulator
        f"{stack.endpoint}/_localcloud/vendors/onesignal/notifications",
        data=body,
        method="POST",
        headers={"Authorization": "Key not-the-apps-key", "Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - the loopback emulator
        raise AssertionError("a wrong key was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403
        assert "Access denied" in json.loads(exc.read())["errors"][0]


def test_with_onesignal_down_pushes_go_through_fcm_once_each_then_back(stack: Stack) -> None:
    client, subscription, fcm_token = _signed_up_with_a_device(stack)
    drill = uuid.uuid4().hex[:8]
    _control(stack, "onesignal", "outage", "PUT", {"status": 503})
    try:
        bodies = [f"fallback {drill} {n}" for n in range(3)]
        notifications = [client.push(body) for body in bodies]
        assert [_sent(client, n)["status"] for n in notifications] == ["sent"] * 3
    finally:
        _control(stack, "onesignal", "outage", "DELETE")
    by_fcm = [m for m in _control(stack, "fcm", "messages") if m["token"] == fcm_token]
    # exactly once each, with its own idempotency key (the app drops a duplicate by it)
    assert sorted(m["notification"]["body"] for m in by_fcm) == bodies, by_fcm
    assert len({m["data"]["idempotency_key"] for m in by_fcm}) == 3
    assert not [
        n
        for n in _stand_in_notifications(stack, _app_id(stack))
        if subscription in n["include_subscription_ids"]
    ]

    # OneSignal answers again: within a few probes (every 5 s here) pushes go back through it.
    def back_through_onesignal() -> bool:
        _sent(client, client.push(f"recovered {drill}"))
        return any(
            subscription in n["include_subscription_ids"]
            for n in _stand_in_notifications(stack, _app_id(stack))
        )

    budget.until(back_through_onesignal, 60, "a push through OneSignal after its outage", every=2.0)
