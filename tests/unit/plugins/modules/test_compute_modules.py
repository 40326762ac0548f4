"""The compute and operations modules of loopin.platform against a real moto server: check mode,
idempotence, truthful change and diff, and the emulator quirks each one works around."""

from __future__ import annotations

from typing import Any

CLUSTER = "loopin-test"
TOPIC = "arn:aws:sns:ap-south-1:123456789012:loopin-test-alerts"


def _network(boto: Any) -> tuple[list[str], str]:
    ec2 = boto("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"ap-south-1{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    return subnets, group


def _definition(boto: Any, image: str) -> str:
    return boto("ecs").register_task_definition(
        family=f"{CLUSTER}-web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": image, "cpu": 256, "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_ecs_cluster_lifecycle(run_module: Any, boto: Any) -> None:
    args = {"name": CLUSTER, "container_insights": "enabled", "tags": {"Project": "loopin"}}
    assert run_module("ecs_cluster", args, check=True)["changed"] is True
    assert boto("ecs").describe_clusters(clusters=[CLUSTER])["clusters"] == [] or all(
        c["status"] == "INACTIVE" for c in boto("ecs").describe_clusters(clusters=[CLUSTER])["clusters"]
    )
    created = run_module("ecs_cluster", args)
    assert created["changed"] is True and created["cluster"]["tags"] == {"Project": "loopin"}
    assert run_module("ecs_cluster", args)["changed"] is False
    changed = run_module("ecs_cluster", {**args, "container_insights": "disabled"}, diff=True)
    assert changed["changed"] is True
    assert changed["diff"]["before"]["container_insights"] == "enabled"
    assert run_module("ecs_cluster", {"name": CLUSTER, "state": "absent"})["changed"] is True


def test_ecs_service_keeps_revision_and_count_it_does_not_own(run_module: Any, boto: Any) -> None:
    subnets, group = _network(boto)
    boto("ecs").create_cluster(clusterName=CLUSTER)
    first = _definition(boto, "web:bootstrap")
    args: dict[str, Any] = {
        "name": f"{CLUSTER}-web",
        "cluster": CLUSTER,
        "task_definition": f"{CLUSTER}-web:1",
        "desired_count": 1,
        "subnets": subnets,
        "security_groups": [group],
        "circuit_breaker": {"enable": True, "rollback": True},
        "tags": {"Project": "loopin"},
    }
    assert run_module("ecs_service", args, check=True)["changed"] is True
    assert run_module("ecs_service", args)["changed"] is True
    assert run_module("ecs_service", args)["changed"] is False

    # A deploy moves the service to a new revision; the autoscaler scales it out.
    deployed = _definition(boto, "web@sha256:" + "0" * 64)
    ecs = boto("ecs")
    ecs.update_service(cluster=CLUSTER, service=f"{CLUSTER}-web", taskDefinition=deployed, desiredCount=4)
    again = run_module("ecs_service", args)
    assert again["changed"] is False
    assert again["service"]["task_definition"] == deployed and again["service"]["desired_count"] == 4

    # An infrastructure change is reconciled, and only it.
    other = boto("ec2").create_security_group(
        GroupName="web2",
        Description="web2",
        VpcId=boto("ec2").describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"],
    )["GroupId"]
    moved = run_module("ecs_service", {**args, "security_groups": [other]}, diff=True)
    assert moved["changed"] is True and moved["updated_fields"] == ["networkConfiguration"]
    assert moved["service"]["task_definition"] == deployed and moved["service"]["desired_count"] == 4

    # The caller that registered a new revision itself asks for it explicitly.
    third = _definition(boto, "web@sha256:" + "1" * 64)
    bumped = run_module(
        "ecs_service",
        {**args, "security_groups": [other], "task_definition": third, "update_task_definition": True},
    )
    assert bumped["changed"] is True and bumped["service"]["task_definition"] == third
    assert first != third
    assert run_module("ecs_service", {**args, "state": "absent"})["changed"] is True
    assert run_module("ecs_service", {**args, "state": "absent"})["changed"] is False


def _scalable_service(boto: Any, name: str, count: int) -> str:
    """An ECS service of the web family to scale (Application Auto Scaling refuses a missing one);
    returns its scalable resource id."""
    subnets, group = _network(boto)
    boto("ecs").create_cluster(clusterName=CLUSTER)
    _definition(boto, "web:1")
    boto("ecs").create_service(
        cluster=CLUSTER,
        serviceName=name,
        taskDefinition=f"{CLUSTER}-web:1",
        desiredCount=count,
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group]}},
    )
    return f"service/{CLUSTER}/{name}"


def test_two_scaling_policies_on_one_target_stay_idempotent(run_module: Any, boto: Any) -> None:
    resource = _scalable_service(boto, f"{CLUSTER}-web", count=1)

    def policy(name: str, metric: str, target: float) -> dict[str, Any]:
        return {
            "policy_name": name,
            "resource_id": resource,
            "min_capacity": 1,
            "max_capacity": 10,
            "target_tracking_configuration": {
                "TargetValue": target,
                "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
                "ScaleOutCooldown": 60,
                "ScaleInCooldown": 300,
            },
        }

    cpu = policy("cpu", "ECSServiceAverageCPUUtilization", 70)
    memory = policy("memory", "ECSServiceAverageMemoryUtilization", 80)
    assert run_module("app_autoscaling_policy", cpu, check=True)["changed"] is True
    assert run_module("app_autoscaling_policy", cpu)["changed"] is True
    assert run_module("app_autoscaling_policy", memory)["changed"] is True
    # The emulator ignores PolicyNames: reading "cpu" must not compare against "memory".
    assert run_module("app_autoscaling_policy", cpu)["changed"] is False
    assert run_module("app_autoscaling_policy", memory)["changed"] is False
    bounds = run_module("app_autoscaling_policy", {**cpu, "max_capacity": 5}, diff=True)
    assert bounds["changed"] is True and bounds["diff"]["after"]["scalable_target"]["MaxCapacity"] == 5
    assert run_module("app_autoscaling_policy", {**memory, "state": "absent"})["changed"] is True


def test_deregistering_the_target_takes_its_policies_with_it(run_module: Any, boto: Any) -> None:
    """The idle side of the web pair: no scalable target, so nothing raises its 0 tasks."""
    resource = _scalable_service(boto, f"{CLUSTER}-web-green", count=0)
    cpu = {
        "policy_name": f"{CLUSTER}-web-cpu",
        "resource_id": resource,
        "min_capacity": 2,
        "max_capacity": 4,
        "target_tracking_configuration": {
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        },
    }
    made = run_module("app_autoscaling_policy", cpu)
    assert made.get("changed") is True, made
    gone = {
        "policy_name": cpu["policy_name"],
        "resource_id": resource,
        "state": "absent",
        "deregister_target": True,
    }
    planned = run_module("app_autoscaling_policy", gone, check=True, diff=True)
    assert planned["changed"] is True
    assert planned["diff"]["before"]["scalable_target"] == {"MinCapacity": 2, "MaxCapacity": 4}
    scaling = boto("application-autoscaling")
    targets = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])[
        "ScalableTargets"
    ]
    assert len(targets) == 1, "check mode deregistered the target"
    assert run_module("app_autoscaling_policy", gone)["changed"] is True
    assert (
        scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"]
        == []
    )
    assert run_module("app_autoscaling_policy", gone)["changed"] is False


METRIC_MATH = [
    {
        "Id": "q1",
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": "jobs"}],
            },
            "Period": 60,
            "Stat": "Maximum",
        },
    },
    {"Id": "backlog", "Expression": "q1 / 2", "ReturnData": True, "Label": "per task"},
]


def test_metric_math_alarm_is_idempotent(run_module: Any, boto: Any) -> None:
    args = {
        "name": "loopin-test-backlog",
        "metrics": METRIC_MATH,
        "comparison": "GreaterThanThreshold",
        "threshold": 100,
        "evaluation_periods": 1,
        "tags": {"Project": "loopin"},
    }
    assert run_module("cloudwatch_alarm", args, check=True)["changed"] is True
    assert boto("cloudwatch").describe_alarms(AlarmNames=["loopin-test-backlog"])["MetricAlarms"] == []
    assert run_module("cloudwatch_alarm", args)["changed"] is True
    assert run_module("cloudwatch_alarm", args)["changed"] is False
    raised = run_module("cloudwatch_alarm", {**args, "threshold": 200}, diff=True)
    assert raised["changed"] is True and raised["diff"]["after"]["Threshold"] == 200
    single = {
        "name": "loopin-test-dlq",
        "namespace": "AWS/SQS",
        "metric_name": "ApproximateNumberOfMessagesVisible",
        "dimensions": {"QueueName": "jobs-dlq"},
        "statistic": "Maximum",
        "period": 60,
        "comparison": "GreaterThanThreshold",
        "threshold": 0,
    }
    assert run_module("cloudwatch_alarm", single)["changed"] is True
    assert run_module("cloudwatch_alarm", single)["changed"] is False


def test_dashboard_budget_group_and_oidc_provider(run_module: Any, boto: Any) -> None:
    body = {
        "widgets": [
            {"type": "text", "x": 0, "y": 0, "width": 6, "height": 2, "properties": {"markdown": "hi"}}
        ]
    }
    assert run_module("cloudwatch_dashboard", {"name": "loopin-test", "body": body})["changed"] is True
    assert run_module("cloudwatch_dashboard", {"name": "loopin-test", "body": body})["changed"] is False

    budget = {
        "name": "loopin-test-monthly",
        "limit_amount": 250,
        "notifications": [
            {"threshold": 80, "emails": ["cto@example.com"]},
            {"threshold": 100, "notification_type": "FORECASTED", "sns_topic_arns": [TOPIC]},
        ],
    }
    assert run_module("budget", budget, check=True)["changed"] is True
    assert run_module("budget", budget)["changed"] is True
    assert run_module("budget", budget)["changed"] is False
    # A new limit would be UpdateBudget, which the emulator lacks: check mode shows the change.
    lower = run_module("budget", {**budget, "limit_amount": 200}, check=True, diff=True)
    assert lower["changed"] is True and lower["diff"]["after"]["limit_amount"] == 200

    group = {"name": "loopin-test", "tags": {"Project": "loopin"}}
    assert run_module("scheduler_schedule_group", group)["changed"] is True
    assert run_module("scheduler_schedule_group", group)["changed"] is False
    assert (
        run_module("scheduler_schedule_group", {"name": "loopin-test", "state": "absent"})["changed"] is True
    )

    oidc = {"url": "https://token.actions.githubusercontent.com", "thumbprints": ["a" * 40]}
    created = run_module("iam_openid_connect_provider", oidc)
    assert created["changed"] is True and created["arn"].endswith(
        ":oidc-provider/token.actions.githubusercontent.com"
    )
    assert run_module("iam_openid_connect_provider", oidc)["changed"] is False
    # Adding an audience is AddClientIDToOpenIDConnectProvider, which the emulator lacks: check mode.
    audience = run_module(
        "iam_openid_connect_provider",
        {**oidc, "client_ids": ["sts.amazonaws.com", "x"]},
        check=True,
        diff=True,
    )
    assert audience["changed"] is True and audience["diff"]["after"]["client_ids"] == [
        "sts.amazonaws.com",
        "x",
    ]


def test_lookups_name_what_is_missing(run_module: Any, boto: Any) -> None:
    boto("sqs").create_queue(QueueName="loopin-test-jobs")
    boto("secretsmanager").create_secret(Name="loopin/test/key", SecretString="x" * 40)
    queues = run_module("sqs_queue_info", {"names": ["loopin-test-jobs", "loopin-test-nope"]})
    assert queues["missing"] == ["loopin-test-nope"]
    assert queues["queues"]["loopin-test-jobs"]["arn"].endswith(":loopin-test-jobs")
    secrets = run_module("secretsmanager_secret_info", {"names": ["loopin/test/key", "loopin/test/nope"]})
    assert secrets["missing"] == ["loopin/test/nope"]
    assert secrets["secrets"]["loopin/test/key"]["arn"].startswith("arn:aws:secretsmanager:")
    assert "x" * 40 not in str(secrets)
