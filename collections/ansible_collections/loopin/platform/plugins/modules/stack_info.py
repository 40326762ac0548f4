#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: stack_info
short_description: Read back what exists in one Loopin environment, for the end-of-run summary
version_added: 0.1.0
description:
  - Describes the resources tagged with the environment's C(Project) and C(Environment) tags and
    returns them as structured RV(outputs) plus printable RV(lines).
  - Read-only; the same answer in check mode.
options:
  project:
    description: Value of the C(Project) tag.
    type: str
    required: true
  environment:
    description: Value of the C(Environment) tag.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - Loopin platform team (@loopin)
"""

EXAMPLES = r"""
- name: Summary of what exists
  loopin.platform.stack_info:
    project: loopin
    environment: dev
  register: stack

- name: Print it
  ansible.builtin.debug:
    msg: "{{ stack.lines }}"
"""

RETURN = r"""
outputs:
  description: Resources by section (network, data, edge, ...).
  returned: always
  type: dict
  sample: {"network": {"vpc_id": "vpc-0abc", "cidr": "10.0.0.0/16"}}
lines:
  description: The same, as lines for a person.
  returned: always
  type: list
  elements: str
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.bluegreen import live_side, web_sides
from ansible_collections.loopin.platform.plugins.module_utils.elb_rule import rule_weights


def _tag(resource, key):
    for tag in resource.get("Tags", []) or []:
        if tag["Key"] == key:
            return tag["Value"]
    return None


def _filters(project, environment, **extra):
    filters = [
        {"Name": "tag:Project", "Values": [project]},
        {"Name": "tag:Environment", "Values": [environment]},
    ]
    filters += [{"Name": name, "Values": values} for name, values in extra.items()]
    return filters


def network(module, project, environment):
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    name = f"{project}-{environment}"
    vpcs = ec2.describe_vpcs(aws_retry=True, Filters=_filters(project, environment, **{"tag:Name": [name]}))[
        "Vpcs"
    ]
    if not vpcs:
        return None
    vpc = vpcs[0]
    vpc_id = vpc["VpcId"]
    subnets = ec2.describe_subnets(aws_retry=True, Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "Subnets"
    ]
    nats = ec2.describe_nat_gateways(
        aws_retry=True,
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "state", "Values": ["available"]}],
    )["NatGateways"]
    flow_logs = ec2.describe_flow_logs(aws_retry=True, Filters=[{"Name": "resource-id", "Values": [vpc_id]}])[
        "FlowLogs"
    ]
    groups = ec2.describe_security_groups(
        aws_retry=True, Filters=_filters(project, environment, **{"vpc-id": [vpc_id]})
    )["SecurityGroups"]
    return {
        "vpc_id": vpc_id,
        "cidr": vpc["CidrBlock"],
        "subnets": sorted(
            (
                {
                    "tier": _tag(subnet, "Tier") or "untagged",
                    "zone": subnet["AvailabilityZone"],
                    "cidr": subnet["CidrBlock"],
                    "id": subnet["SubnetId"],
                }
                for subnet in subnets
            ),
            key=lambda s: (s["tier"], s["zone"]),
        ),
        "nat_gateways": sorted(
            (
                {
                    "id": nat["NatGatewayId"],
                    "subnet_id": nat["SubnetId"],
                    "public_ip": (nat.get("NatGatewayAddresses") or [{}])[0].get("PublicIp"),
                }
                for nat in nats
            ),
            key=lambda n: n["subnet_id"],
        ),
        "flow_logs": [{"id": log["FlowLogId"], "destination": log.get("LogGroupName")} for log in flow_logs],
        "security_groups": sorted(
            (
                {
                    "name": group["GroupName"],
                    "id": group["GroupId"],
                    "ingress": sum(
                        len(p.get("IpRanges", [])) + len(p.get("UserIdGroupPairs", []))
                        for p in group.get("IpPermissions", [])
                    ),
                    "egress": sum(
                        len(p.get("IpRanges", [])) + len(p.get("UserIdGroupPairs", []))
                        for p in group.get("IpPermissionsEgress", [])
                    ),
                }
                for group in groups
            ),
            key=lambda g: g["name"],
        ),
    }


def network_lines(net):
    lines = [f"VPC             {net['vpc_id']}  {net['cidr']}"]
    for subnet in net["subnets"]:
        lines.append(
            f"  subnet        {subnet['tier']:<8} {subnet['zone']:<12} {subnet['cidr']:<15} {subnet['id']}"
        )
    for nat in net["nat_gateways"]:
        lines.append(f"  NAT gateway   {nat['id']}  in {nat['subnet_id']}  public IP {nat['public_ip']}")
    for log in net["flow_logs"] or [{"id": "off", "destination": "-"}]:
        lines.append(f"  flow logs     {log['id']}  -> {log['destination']}")
    lines.append("Security groups")
    for group in net["security_groups"]:
        lines.append(f"  {group['name']:<24} {group['id']}  {group['ingress']} in / {group['egress']} out")
    return lines


def compute(module, project, environment):
    ecs = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
    name = f"{project}-{environment}"
    clusters = [
        c
        for c in ecs.describe_clusters(aws_retry=True, clusters=[name], include=["SETTINGS"])["clusters"]
        if c.get("status") == "ACTIVE"
    ]
    if not clusters:
        return None
    cluster = clusters[0]
    services = [
        s
        for s in ecs.describe_services(
            aws_retry=True, cluster=name, services=[f"{name}-web", f"{name}-worker"]
        )["services"]
        if s.get("status") == "ACTIVE"
    ]
    scaling = module.client("application-autoscaling", retry_decorator=AWSRetry.jittered_backoff())
    targets = {
        t["ResourceId"]: t
        for t in scaling.describe_scalable_targets(aws_retry=True, ServiceNamespace="ecs")["ScalableTargets"]
    }
    settings = {s["name"]: s["value"] for s in cluster.get("settings", [])}
    result = {
        "cluster": name,
        "container_insights": settings.get("containerInsights", "disabled"),
        "services": [],
    }
    for service in sorted(services, key=lambda s: s["serviceName"]):
        target = targets.get(f"service/{name}/{service['serviceName']}", {})
        result["services"].append(
            {
                "name": service["serviceName"],
                "desired": service["desiredCount"],
                "running": service["runningCount"],
                "task_definition": service["taskDefinition"].rsplit("/", 1)[-1],
                "min": target.get("MinCapacity"),
                "max": target.get("MaxCapacity"),
            }
        )
    return result


def compute_lines(found):
    lines = [f"ECS cluster     {found['cluster']}  (Container Insights {found['container_insights']})"]
    for service in found["services"]:
        bounds = f"  scales {service['min']}..{service['max']}" if service["min"] is not None else ""
        lines.append(
            f"  service       {service['name']:<24} {service['task_definition']:<26} "
            f"desired {service['desired']} running {service['running']}{bounds}"
        )
    return lines


def operations(module, project, environment):
    name = f"{project}-{environment}"
    cloudwatch = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    alarms = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{name}-"):
        alarms += page["MetricAlarms"] + page.get("CompositeAlarms", [])
    sns = module.client("sns", retry_decorator=AWSRetry.jittered_backoff())
    topic = next(
        (
            t["TopicArn"]
            for page in sns.get_paginator("list_topics").paginate()
            for t in page["Topics"]
            if t["TopicArn"].endswith(f":{name}-alerts")
        ),
        None,
    )
    scheduler = module.client("scheduler", retry_decorator=AWSRetry.jittered_backoff())
    try:
        schedules = scheduler.list_schedules(aws_retry=True, GroupName=name)["Schedules"]
    except is_boto3_error_code("ResourceNotFoundException"):
        schedules = []
    if not alarms and not topic and not schedules:
        return None
    return {
        "alerts_topic": topic,
        "alarms": len(alarms),
        "in_alarm": sorted(a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM"),
        "schedules": sorted(s["Name"] for s in schedules),
    }


def operations_lines(found):
    return [
        f"Alerts topic    {found['alerts_topic']}",
        f"Alarms          {found['alarms']} ({len(found['in_alarm'])} in ALARM"
        + (f": {', '.join(found['in_alarm'])})" if found["in_alarm"] else ")"),
        f"Schedules       {', '.join(found['schedules']) or 'none'}",
    ]


QUEUES = ("push-notifications", "webhook-events", "background-jobs")
REPOSITORIES = ("web", "worker")


def _queue_url(sqs, name):
    try:
        return sqs.get_queue_url(aws_retry=True, QueueName=name)["QueueUrl"]
    except is_boto3_error_code("AWS.SimpleQueueService.NonExistentQueue"):
        return None
    except is_boto3_error_code("QueueDoesNotExist"):  # pylint: disable=duplicate-except
        return None


def data(module, project, environment):
    prefix = f"{project}-{environment}"
    sqs = module.client("sqs", retry_decorator=AWSRetry.jittered_backoff())
    queues = []
    for queue in QUEUES:
        url, dlq_url = _queue_url(sqs, f"{prefix}-{queue}"), _queue_url(sqs, f"{prefix}-{queue}-dlq")
        if url or dlq_url:
            queues.append({"name": queue, "url": url, "dlq_url": dlq_url})

    ecr = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    repositories = []
    for repository in REPOSITORIES:
        try:
            found = ecr.describe_repositories(
                aws_retry=True, repositoryNames=[f"{project}/{environment}/{repository}"]
            )
        except is_boto3_error_code("RepositoryNotFoundException"):
            continue
        repositories.append({"name": repository, "uri": found["repositories"][0]["repositoryUri"]})

    elasticache = module.client("elasticache", retry_decorator=AWSRetry.jittered_backoff())
    redis = None
    try:
        groups = elasticache.describe_replication_groups(aws_retry=True, ReplicationGroupId=prefix)[
            "ReplicationGroups"
        ]
    except is_boto3_error_code("ReplicationGroupNotFoundFault"):
        groups = []
    for group in groups:
        if group.get("Status") == "deleting":
            continue
        endpoint = ((group.get("NodeGroups") or [{}])[0].get("PrimaryEndpoint")) or {}
        redis = {
            "id": group["ReplicationGroupId"],
            "status": group.get("Status"),
            "primary_endpoint": f"{endpoint.get('Address')}:{endpoint.get('Port')}" if endpoint else None,
            "node_type": group.get("CacheNodeType"),
            "nodes": len(group.get("MemberClusters") or []),
            "multi_az": group.get("MultiAZ"),
            "transit_encryption": group.get("TransitEncryptionEnabled", False),
            "at_rest_encryption": group.get("AtRestEncryptionEnabled", False),
            "auth_token": group.get("AuthTokenEnabled", False),
        }

    secretsmanager = module.client("secretsmanager", retry_decorator=AWSRetry.jittered_backoff())
    secrets = sorted(
        secret["Name"]
        for page in secretsmanager.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [f"{project}/{environment}/"]}]
        )
        for secret in page["SecretList"]
        if secret["Name"].startswith(f"{project}/{environment}/") and not secret.get("DeletedDate")
    )
    if not (queues or repositories or redis or secrets):
        return None
    return {"queues": queues, "repositories": repositories, "redis": redis, "secrets": secrets}


def data_lines(found):
    lines = ["Data"]
    redis = found["redis"]
    if redis:
        lines.append(
            f"  Redis         {redis['primary_endpoint']}  {redis['node_type']} x{redis['nodes']}  "
            f"multi-AZ {redis['multi_az']}  TLS {redis['transit_encryption']}  AUTH {redis['auth_token']}"
        )
    for queue in found["queues"]:
        lines.append(f"  queue         {queue['url']}")
        lines.append(f"    DLQ         {queue['dlq_url']}")
    for repository in found["repositories"]:
        lines.append(f"  ECR           {repository['uri']}")
    lines.append(f"  secrets       {', '.join(found['secrets']) or '-'}")
    return lines


def _acm_tags(acm, arn):
    return {
        tag["Key"]: tag["Value"]
        for tag in acm.list_tags_for_certificate(aws_retry=True, CertificateArn=arn)["Tags"]
    }


def edge(module, project, environment):
    name = f"{project}-{environment}"
    elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        alb = elbv2.describe_load_balancers(aws_retry=True, Names=[name])["LoadBalancers"][0]
    except is_boto3_error_code("LoadBalancerNotFound"):
        alb = None

    acm = module.client("acm", retry_decorator=AWSRetry.jittered_backoff())
    certificate = None
    for page in acm.get_paginator("list_certificates").paginate():
        for summary in page["CertificateSummaryList"]:
            tags = _acm_tags(acm, summary["CertificateArn"])
            if tags.get("Project") == project and tags.get("Environment") == environment:
                certificate = {
                    "arn": summary["CertificateArn"],
                    "domain": summary["DomainName"],
                    "status": summary.get("Status"),
                }

    wafv2 = module.client("wafv2", retry_decorator=AWSRetry.jittered_backoff())
    web_acl = None
    for acl in wafv2.list_web_acls(aws_retry=True, Scope="REGIONAL").get("WebACLs", []):
        if acl["Name"] == name:
            web_acl = {"name": acl["Name"], "arn": acl["ARN"], "protects_alb": False}
    if web_acl and alb:
        found = wafv2.get_web_acl_for_resource(aws_retry=True, ResourceArn=alb["LoadBalancerArn"]).get(
            "WebACL"
        )
        web_acl["protects_alb"] = bool(found and found["ARN"] == web_acl["arn"])

    if not (alb or certificate or web_acl):
        return None
    target_groups = []
    if alb:
        groups = elbv2.describe_target_groups(aws_retry=True, LoadBalancerArn=alb["LoadBalancerArn"])
        target_groups = sorted(group["TargetGroupName"] for group in groups["TargetGroups"])
    return {
        "alb": {"name": alb["LoadBalancerName"], "dns_name": alb["DNSName"], "arn": alb["LoadBalancerArn"]}
        if alb
        else None,
        "api_url": f"https://{certificate['domain']}" if certificate else None,
        "certificate": certificate,
        "target_groups": target_groups,
        "web_acl": web_acl,
    }


def edge_lines(found):
    lines = ["Edge"]
    if found["alb"]:
        lines.append(f"  ALB           {found['alb']['dns_name']}")
        lines.append(f"  targets       {', '.join(found['target_groups'])}")
    if found["certificate"]:
        lines.append(f"  API           {found['api_url']}  (certificate {found['certificate']['status']})")
        lines.append(f"  certificate   {found['certificate']['arn']}")
    if found["web_acl"]:
        protects = "protects the ALB" if found["web_acl"]["protects_alb"] else "NOT associated with the ALB"
        lines.append(f"  WAF           {found['web_acl']['name']}  {protects}")
    return lines


# (section, collector, formatter). Later tiers add their own entries here.
SECTIONS = (
    ("network", network, network_lines),
    ("data", data, data_lines),
    ("edge", edge, edge_lines),
    ("compute", compute, compute_lines),
    ("operations", operations, operations_lines),
)


def deploy(module, project, environment):
    """Which web side is live, the rule's weights, and what each side runs."""
    prefix = f"{project}-{environment}"
    elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        lb = elbv2.describe_load_balancers(aws_retry=True, Names=[prefix])["LoadBalancers"][0]
    except is_boto3_error_code("LoadBalancerNotFound"):
        return None
    sides = {group["target_group"]: side for side, group in web_sides(prefix).items()}
    for listener in elbv2.describe_listeners(aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"])[
        "Listeners"
    ]:
        for rule in elbv2.describe_rules(aws_retry=True, ListenerArn=listener["ListenerArn"])["Rules"]:
            try:
                weights, _ = rule_weights(elbv2, rule)
            except ValueError:
                continue
            if set(sides) <= set(weights):
                tags = elbv2.describe_tags(aws_retry=True, ResourceArns=[rule["RuleArn"]])["TagDescriptions"]
                live = live_side(weights, {t["Key"]: t["Value"] for t in tags[0]["Tags"]})
                ecs = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
                names = {side: group["service"] for side, group in web_sides(prefix).items()}
                services = ecs.describe_services(
                    aws_retry=True, cluster=prefix, services=list(names.values())
                )
                running = {
                    s["serviceName"]: s for s in services.get("services", []) if s.get("status") == "ACTIVE"
                }
                return {
                    "live_side": live,
                    "weights": {sides[name]: weight for name, weight in weights.items() if name in sides},
                    "services": {
                        side: {
                            "name": name,
                            "task_definition": running[name]["taskDefinition"].rsplit("/", 1)[-1],
                            "desired_count": running[name]["desiredCount"],
                        }
                        for side, name in names.items()
                        if name in running
                    },
                }
    return None


def deploy_lines(found):
    weights = found["weights"]
    lines = [
        f"Web traffic     live side {found['live_side']}  (blue {weights['blue']} / green {weights['green']})"
    ]
    for side, service in sorted(found["services"].items()):
        name, revision, desired = service["name"], service["task_definition"], service["desired_count"]
        lines.append(f"  {side:<13} {name:<24} {revision}  desired {desired}")
    return lines


SECTIONS += (("deploy", deploy, deploy_lines),)


def main():
    argument_spec = dict(
        project=dict(type="str", required=True),
        environment=dict(type="str", required=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    project, environment = module.params["project"], module.params["environment"]

    outputs, lines = {}, [f"Environment {environment} ({module.region})"]
    for name, collect, describe in SECTIONS:
        try:
            found = collect(module, project, environment)
        except is_boto3_error_code("AccessDenied") as e:  # pylint: disable=duplicate-except
            module.warn(f"{name}: not allowed to read ({e})")
            found = None
        except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f"Could not describe the {name} section")
        outputs[name] = found
        lines += describe(found) if found else [f"{name}: nothing yet"]
    module.exit_json(changed=False, outputs=outputs, lines=lines)


if __name__ == "__main__":
    main()
