"""Which resource an API call acts on, as IAM names it (the Service Authorization Reference's
resource types), for the services the Loopin stack's actors call.

moto authorizes against ``"*"``; the least-privilege check needs the ARN AWS would evaluate.
``accesses(call)`` answers, for one call, every (action, resource ARN, context) IAM evaluates:
the call's own action and the ones it implies (``iam:PassRole`` for the roles a task definition
or service names). An action missing here is recorded with ``resource=None``; the check then
accepts it only when IAM has no resource types for it (wildcard-only actions such as the
Describe*/List* reads), and otherwise fails and names it, so the table grows with the stack.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ECS_TASKS = "ecs-tasks.amazonaws.com"


@dataclass(frozen=True)
class Access:
    action: str
    resource: str | None
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """What the table reads: the IAM action, the request's parameters and where it was made."""

    action: str
    params: Callable[[str], Any]
    region: str
    account: str
    partition: str = "aws"

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource}"


Rule = Callable[[Call], Iterable[Access]]
_RULES: dict[str, Rule] = {}


def rule(*actions: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for action in actions:
            _RULES[action.lower()] = fn
        return fn

    return register


def accesses(call: Call) -> list[Access]:
    found = _RULES.get(call.action.lower())
    if found is None:
        return [Access(call.action, None)]
    return list(found(call)) or [Access(call.action, None)]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- SQS: QueueUrl (or QueueName) -> arn:aws:sqs:<region>:<account>:<name> ----------------------


@rule(
    "sqs:SendMessage",
    "sqs:SendMessageBatch",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:DeleteMessageBatch",
    "sqs:ChangeMessageVisibility",
    "sqs:ChangeMessageVisibilityBatch",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:PurgeQueue",
    "sqs:DeleteQueue",
    "sqs:CreateQueue",
    "sqs:TagQueue",
    "sqs:UntagQueue",
    "sqs:ListQueueTags",
    "sqs:ListDeadLetterSourceQueues",
)
def _sqs(call: Call) -> Iterable[Access]:
    url = call.params("QueueUrl") or call.params("QueueName")
    if url:
        yield Access(
            _SQS_BATCH.get(call.action, call.action), call.arn("sqs", str(url).rstrip("/").split("/")[-1])
        )


# IAM has no action of its own for SQS's batch APIs: AWS authorizes each as its single action
# ("The permission for SendMessageBatch is the same as for SendMessage"), so a policy that grants
# sqs:SendMessage lets a task call SendMessageBatch, and no policy can name sqs:SendMessageBatch.
_SQS_BATCH = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


# --- Secrets Manager: SecretId (name, partial or full ARN) -> the secret's ARN -----------------


@rule(
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:RestoreSecret",
)
def _secret(call: Call) -> Iterable[Access]:
    secret_id = call.params("SecretId")
    if not secret_id:
        return
    secret_id = str(secret_id)
    if secret_id.startswith("arn:"):
        yield Access(call.action, secret_id)
        return
    from moto.secretsmanager.models import secretsmanager_backends

    store = secretsmanager_backends[call.account][call.region].secrets
    secret = store.get(secret_id) if secret_id in store else None
    yield Access(
        call.action, secret.arn if secret is not None else call.arn("secretsmanager", f"secret:{secret_id}")
    )


@rule("secretsmanager:CreateSecret")
def _create_secret(call: Call) -> Iterable[Access]:
    name = call.params("Name")
    if name:
        yield Access(call.action, call.arn("secretsmanager", f"secret:{name}-??????"))


# --- ECS: clusters, services, task definitions, tasks -----------------------------------------


def _cluster_name(call: Call) -> str:
    cluster = str(call.params("cluster") or "default")
    return cluster.rsplit("/", 1)[-1] if cluster.startswith("arn:") else cluster


def _service_arn(call: Call, service: str) -> str:
    if service.startswith("arn:"):
        return service
    return call.arn("ecs", f"service/{_cluster_name(call)}/{service}")


def _pass_roles(call: Call, *roles: Any) -> Iterable[Access]:
    for role in roles:
        if role:
            yield Access("iam:PassRole", str(role), {"iam:PassedToService": ECS_TASKS})


@rule("ecs:DescribeServices")
def _describe_services(call: Call) -> Iterable[Access]:
    for service in _list(call.params("services")):
        yield Access(call.action, _service_arn(call, str(service)))


@rule("ecs:UpdateService", "ecs:DeleteService")
def _update_service(call: Call) -> Iterable[Access]:
    yield Access(call.action, _service_arn(call, str(call.params("service"))))
    # A new revision passes the roles again only through RegisterTaskDefinition.


@rule("ecs:CreateService")
def _create_service(call: Call) -> Iterable[Access]:
    yield Access(call.action, _service_arn(call, str(call.params("serviceName"))))
    if call.params("tags"):
        yield Access("ecs:TagResource", _service_arn(call, str(call.params("serviceName"))))
    yield from _pass_roles(call, call.params("role"))


@rule("ecs:RegisterTaskDefinition")
def _register_task_definition(call: Call) -> Iterable[Access]:
    from moto.ecs.models import ecs_backends

    family = str(call.params("family"))
    revisions = ecs_backends[call.account][call.region].task_definitions.get(family, {})
    arn = call.arn("ecs", f"task-definition/{family}:{len(revisions) + 1}")
    yield Access(call.action, arn)
    if call.params("tags"):
        yield Access("ecs:TagResource", arn)
    yield from _pass_roles(call, call.params("taskRoleArn"), call.params("executionRoleArn"))


@rule("ecs:RunTask", "ecs:StartTask")
def _run_task(call: Call) -> Iterable[Access]:
    definition = str(call.params("taskDefinition"))
    if not definition.startswith("arn:"):
        definition = call.arn("ecs", f"task-definition/{definition}")
    yield Access(call.action, definition, {"ecs:cluster": call.arn("ecs", f"cluster/{_cluster_name(call)}")})
    overrides = call.params("overrides") or {}
    yield from _pass_roles(call, overrides.get("taskRoleArn"), overrides.get("executionRoleArn"))


@rule("ecs:DescribeTasks", "ecs:StopTask")
def _tasks(call: Call) -> Iterable[Access]:
    for task in _list(call.params("tasks")) or _list(call.params("task")):
        task = str(task)
        yield Access(
            call.action,
            task if task.startswith("arn:") else call.arn("ecs", f"task/{_cluster_name(call)}/{task}"),
        )


@rule("ecs:DescribeClusters")
def _clusters(call: Call) -> Iterable[Access]:
    for cluster in _list(call.params("clusters")) or ["default"]:
        cluster = str(cluster)
        yield Access(
            call.action, cluster if cluster.startswith("arn:") else call.arn("ecs", f"cluster/{cluster}")
        )


@rule("ecs:ListTasks", "ecs:ListServices")
def _in_cluster(call: Call) -> Iterable[Access]:
    yield Access(call.action, call.arn("ecs", f"cluster/{_cluster_name(call)}"))


@rule("ecs:TagResource", "ecs:UntagResource", "ecs:ListTagsForResource")
def _ecs_tagging(call: Call) -> Iterable[Access]:
    yield Access(call.action, str(call.params("resourceArn")))


# --- Elastic Load Balancing v2: the ARNs are the parameters ------------------------------------


@rule("elasticloadbalancing:ModifyRule", "elasticloadbalancing:DeleteRule")
def _rule(call: Call) -> Iterable[Access]:
    yield Access(call.action, str(call.params("RuleArn")))


@rule("elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags")
def _elb_tags(call: Call) -> Iterable[Access]:
    for arn in _list(call.params("ResourceArns")):
        yield Access(call.action, str(arn))


@rule("elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets")
def _targets(call: Call) -> Iterable[Access]:
    yield Access(call.action, str(call.params("TargetGroupArn")))


@rule("elasticloadbalancing:ModifyListener")
def _listener(call: Call) -> Iterable[Access]:
    yield Access(call.action, str(call.params("ListenerArn")))


# --- CloudWatch: alarm names -> arn:aws:cloudwatch:<region>:<account>:alarm:<name> -------------


def _alarm(call: Call, name: str) -> str:
    return call.arn("cloudwatch", f"alarm:{name}")


@rule("cloudwatch:DescribeAlarms")
def _describe_alarms(call: Call) -> Iterable[Access]:
    names = _list(call.params("AlarmNames"))
    prefix = call.params("AlarmNamePrefix")
    if names:
        for name in names:
            yield Access(call.action, _alarm(call, str(name)))
    else:
        yield Access(call.action, _alarm(call, f"{prefix or ''}*"))


@rule("cloudwatch:PutMetricAlarm", "cloudwatch:SetAlarmState", "cloudwatch:DescribeAlarmHistory")
def _one_alarm(call: Call) -> Iterable[Access]:
    yield Access(call.action, _alarm(call, str(call.params("AlarmName"))))


@rule("cloudwatch:DeleteAlarms", "cloudwatch:EnableAlarmActions", "cloudwatch:DisableAlarmActions")
def _alarms(call: Call) -> Iterable[Access]:
    for name in _list(call.params("AlarmNames")):
        yield Access(call.action, _alarm(call, str(name)))


# --- Application Auto Scaling: scalable targets, and what scaling an ECS service implies ----------
# A scalable target's ARN ends in an opaque id AWS assigns (scalable-target/<id>), so a policy
# can only name scalable-target/*; the id here is a stable stand-in derived from the resource id.
# AWS's guide to these permissions also requires, of the caller, the target service's actions
# (ECS: DescribeServices, UpdateService on the scaled service) and the CloudWatch alarm actions
# on the alarms a target-tracking policy creates (TargetTracking-<resource id>-AlarmHigh-...).


def _scalable_target(call: Call) -> str:
    resource = str(call.params("ResourceId"))
    digest = hashlib.sha256(f"{call.params('ServiceNamespace')}/{resource}".encode()).hexdigest()[:36]
    return call.arn("application-autoscaling", f"scalable-target/{digest}")


def _scaling(call: Call) -> Access:
    """The call's own action on its scalable target, with the condition keys AWS sets."""
    context = {
        "application-autoscaling:service-namespace": str(call.params("ServiceNamespace")),
        "application-autoscaling:scalable-dimension": str(call.params("ScalableDimension")),
    }
    return Access(call.action, _scalable_target(call), context)


def _scaled_service(call: Call) -> Iterable[Access]:
    resource = str(call.params("ResourceId") or "")
    if call.params("ServiceNamespace") == "ecs" and resource.startswith("service/"):
        for action in ("ecs:DescribeServices", "ecs:UpdateService"):
            yield Access(action, call.arn("ecs", resource))


def _tracking_alarms(call: Call, *actions: str) -> Iterable[Access]:
    alarms = _alarm(call, f"TargetTracking-{call.params('ResourceId')}-*")
    for action in actions:
        yield Access(action, alarms)


@rule("application-autoscaling:RegisterScalableTarget")
def _register_scalable_target(call: Call) -> Iterable[Access]:
    yield _scaling(call)
    yield from _scaled_service(call)


@rule("application-autoscaling:PutScalingPolicy")
def _put_scaling_policy(call: Call) -> Iterable[Access]:
    yield _scaling(call)
    if call.params("PolicyType") in (None, "TargetTrackingScaling"):
        yield from _tracking_alarms(call, "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm")


@rule("application-autoscaling:DeleteScalingPolicy", "application-autoscaling:DeregisterScalableTarget")
def _remove_scaling(call: Call) -> Iterable[Access]:
    yield _scaling(call)
    yield from _tracking_alarms(call, "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms")


# --- CloudWatch Logs: log group (and stream) names ---------------------------------------------


@rule("logs:CreateLogStream", "logs:PutLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams")
def _log_stream(call: Call) -> Iterable[Access]:
    group = call.params("logGroupName")
    stream = call.params("logStreamName")
    resource = f"log-group:{group}:log-stream:{stream}" if stream else f"log-group:{group}:*"
    yield Access(call.action, call.arn("logs", resource))


@rule("logs:FilterLogEvents", "logs:PutRetentionPolicy", "logs:DeleteLogGroup", "logs:CreateLogGroup")
def _log_group(call: Call) -> Iterable[Access]:
    yield Access(call.action, call.arn("logs", f"log-group:{call.params('logGroupName')}:*"))


# --- ECR: repository names (in the registry of the request, by default the caller's) -----------


@rule(
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "ecr:PutImage",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:ListImages",
    "ecr:GetLifecyclePolicy",
    "ecr:PutLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:SetRepositoryPolicy",
    "ecr:DeleteRepository",
    "ecr:CreateRepository",
    "ecr:PutImageScanningConfiguration",
    "ecr:PutImageTagMutability",
    "ecr:BatchDeleteImage",
)
def _repository(call: Call) -> Iterable[Access]:
    name = call.params("repositoryName")
    if name:
        registry = str(call.params("registryId") or call.account)
        yield Access(call.action, f"arn:{call.partition}:ecr:{call.region}:{registry}:repository/{name}")


@rule("ecr:DescribeRepositories")
def _repositories(call: Call) -> Iterable[Access]:
    registry = str(call.params("registryId") or call.account)
    for name in _list(call.params("repositoryNames")) or ["*"]:
        yield Access(call.action, f"arn:{call.partition}:ecr:{call.region}:{registry}:repository/{name}")


# --- IAM and STS: roles by name or ARN -----------------------------------------------------------


def _role_arn(call: Call, name: str) -> str:
    from moto.iam.models import iam_backends

    role = next(
        (r for r in iam_backends[call.account][call.partition].roles.values() if r.name == name), None
    )
    return role.arn if role is not None else f"arn:{call.partition}:iam::{call.account}:role/{name}"


@rule(
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListRoleTags",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:DeleteRole",
    "iam:CreateRole",
    "iam:ListInstanceProfilesForRole",
)
def _role(call: Call) -> Iterable[Access]:
    name = call.params("RoleName")
    if name:
        yield Access(call.action, _role_arn(call, str(name)))


@rule(
    "iam:GetOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
)
def _oidc_provider(call: Call) -> Iterable[Access]:
    yield Access(call.action, str(call.params("OpenIDConnectProviderArn")))


@rule("sts:AssumeRole", "sts:TagSession")
def _assume_role(call: Call) -> Iterable[Access]:
    yield Access(call.action, str(call.params("RoleArn")))


# --- AWS Budgets: IAM has two actions for the whole API, on the budget's ARN ---------------------
# (the Service Authorization Reference: budgets:ModifyBudget and budgets:ViewBudget), so a policy
# naming budgets:CreateBudget or budgets:DescribeBudget grants nothing on AWS.
_BUDGETS = {
    **dict.fromkeys(
        ("budgets:CreateBudget", "budgets:UpdateBudget", "budgets:DeleteBudget", "budgets:CreateNotification",
         "budgets:UpdateNotification", "budgets:DeleteNotification", "budgets:CreateSubscriber",
         "budgets:UpdateSubscriber", "budgets:DeleteSubscriber"),
        "budgets:ModifyBudget",
    ),
    **dict.fromkeys(
        ("budgets:DescribeBudget", "budgets:DescribeBudgets", "budgets:DescribeNotificationsForBudget",
         "budgets:DescribeSubscribersForNotification"),
        "budgets:ViewBudget",
    ),
}  # fmt: skip


@rule(*_BUDGETS)
def _budget(call: Call) -> Iterable[Access]:
    budget = call.params("Budget")
    name = budget.get("BudgetName") if isinstance(budget, dict) else call.params("BudgetName")
    yield Access(_BUDGETS[call.action], call.arn("budgets", f"budget/{name or '*'}", region=False))


# --- the roles other services are handed: PassRole to the service that takes each ----------------


@rule("ec2:CreateFlowLogs")
def _flow_logs(call: Call) -> Iterable[Access]:
    yield Access(call.action, None)
    role = call.params("DeliverLogsPermissionArn")
    if role:
        yield Access("iam:PassRole", str(role), {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"})


@rule("scheduler:CreateSchedule", "scheduler:UpdateSchedule")
def _schedule(call: Call) -> Iterable[Access]:
    yield Access(call.action, None)
    target = call.params("Target")
    if isinstance(target, dict) and target.get("RoleArn"):
        yield Access(
            "iam:PassRole", str(target["RoleArn"]), {"iam:PassedToService": "scheduler.amazonaws.com"}
        )


# S3 authorizes HeadBucket as s3:ListBucket (IAM has no s3:HeadBucket).
@rule("s3:HeadBucket")
def _head_bucket(call: Call) -> Iterable[Access]:
    yield Access("s3:ListBucket", None)
