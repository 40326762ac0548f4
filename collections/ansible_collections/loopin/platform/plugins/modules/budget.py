#!/usr/bin/python
# Copyright: Loopin platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: budget
short_description: Manage an AWS Budgets cost budget and its alert notifications
version_added: 0.1.0
description:
  - Creates, updates or deletes a monthly (or other period) cost budget of the calling account,
    optionally limited to resources carrying a cost-allocation tag, and keeps its notifications
    (percent thresholds, actual or forecasted, to e-mail and SNS subscribers) exactly as given.
author:
  - Loopin platform team (@loopin-platform)
options:
  state:
    description: Whether the budget should exist.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: The budget's name, unique in the account.
    type: str
    required: true
  limit_amount:
    description: The budget, in O(currency). Required with O(state=present).
    type: float
  currency:
    description: Currency of O(limit_amount).
    type: str
    default: USD
  time_unit:
    description: The budget's period.
    type: str
    choices: [MONTHLY, QUARTERLY, ANNUALLY]
    default: MONTHLY
  cost_filters:
    description: The API's C(CostFilters), for example C(TagKeyValue=[user:Environment$production]).
    type: dict
    default: {}
  notifications:
    description: Alerts; each fires when actual or forecasted spend passes a percentage of the budget.
    type: list
    elements: dict
    default: []
    suboptions:
      threshold:
        description: Percentage of O(limit_amount).
        type: float
        required: true
      notification_type:
        description: Compare actual or forecasted spend.
        type: str
        choices: [ACTUAL, FORECASTED]
        default: ACTUAL
      emails:
        description: E-mail subscribers.
        type: list
        elements: str
        default: []
      sns_topic_arns:
        description: SNS subscribers.
        type: list
        elements: str
        default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports C(check_mode) and C(diff).
"""

EXAMPLES = r"""
- name: The strategy's monthly ceiling for production
  loopin.platform.budget:
    name: loopin-production-monthly
    limit_amount: 250
    cost_filters:
      TagKeyValue: ["user:Environment$production"]
    notifications:
      - threshold: 80
      - threshold: 100
        notification_type: FORECASTED
        sns_topic_arns: ["{{ alerts_topic_arn }}"]
"""

RETURN = r"""
budget:
  description: The budget's limit, period and notifications after the run.
  returned: always
  type: dict
"""

try:
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.loopin.platform.plugins.module_utils.aws_helpers import diff_result


def notification_key(notification):
    return (notification["notification_type"], float(notification["threshold"]))


def wanted_notifications(params):
    result = {}
    for n in params["notifications"]:
        subscribers = sorted(
            [("EMAIL", e) for e in n["emails"]] + [("SNS", arn) for arn in n["sns_topic_arns"]]
        )
        result[notification_key(n)] = subscribers
    return result


def read_notifications(module, client, account, name):
    """{(type, threshold): sorted subscribers}; subscribers None where the endpoint cannot list
    them (the moto emulator does not implement DescribeSubscribersForNotification)."""
    result = {}
    notifications = client.describe_notifications_for_budget(
        aws_retry=True, AccountId=account, BudgetName=name
    ).get("Notifications", [])
    for n in notifications:
        key = (n["NotificationType"], float(n["Threshold"]))
        try:
            subscribers = client.describe_subscribers_for_notification(
                AccountId=account, BudgetName=name, Notification=n
            ).get("Subscribers", [])
        except botocore.exceptions.ClientError as e:
            if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 500:
                raise
            module.warn("This endpoint cannot list a notification's subscribers; they are not compared")
            result[key] = None
            continue
        result[key] = sorted((s["SubscriptionType"], s["Address"]) for s in subscribers)
    return result


def api_notification(key):
    return {
        "NotificationType": key[0],
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": key[1],
        "ThresholdType": "PERCENTAGE",
    }


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        limit_amount=dict(type="float"),
        currency=dict(type="str", default="USD"),
        time_unit=dict(type="str", choices=["MONTHLY", "QUARTERLY", "ANNUALLY"], default="MONTHLY"),
        cost_filters=dict(type="dict", default={}),
        notifications=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                threshold=dict(type="float", required=True),
                notification_type=dict(type="str", choices=["ACTUAL", "FORECASTED"], default="ACTUAL"),
                emails=dict(type="list", elements="str", default=[]),
                sns_topic_arns=dict(type="list", elements="str", default=[]),
            ),
        ),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[["state", "present", ["limit_amount"]]],
    )
    params = module.params
    for n in params["notifications"]:
        if not n["emails"] and not n["sns_topic_arns"]:
            module.fail_json(msg=f"notification at {n['threshold']:g}% needs an e-mail or SNS subscriber")
    account = module.client("sts").get_caller_identity()["Account"]
    client = module.client("budgets", retry_decorator=AWSRetry.jittered_backoff())
    name = params["name"]
    try:
        budget = client.describe_budget(aws_retry=True, AccountId=account, BudgetName=name)["Budget"]
        notifications = read_notifications(module, client, account, name)
    except is_boto3_error_code("NotFoundException"):
        budget, notifications = None, {}
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to read budget {name}")

    def shown(b, n):
        if not b:
            return {}
        return {
            "limit_amount": float(b["BudgetLimit"]["Amount"]),
            "currency": b["BudgetLimit"]["Unit"],
            "time_unit": b["TimeUnit"],
            "cost_filters": b.get("CostFilters", {}),
            "notifications": sorted(f"{k[0]} > {k[1]:g}% -> {v}" for k, v in n.items()),
        }

    before = shown(budget, notifications)
    if params["state"] == "absent":
        if budget and not module.check_mode:
            try:
                client.delete_budget(aws_retry=True, AccountId=account, BudgetName=name)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete budget {name}")
        module.exit_json(changed=bool(budget), budget={}, **diff_result(module, before, {}))

    wanted_budget = {
        "BudgetName": name,
        "BudgetLimit": {"Amount": f"{params['limit_amount']:.2f}", "Unit": params["currency"]},
        "TimeUnit": params["time_unit"],
        "BudgetType": "COST",
        "CostFilters": params["cost_filters"],
    }
    wanted_n = wanted_notifications(params)
    after = shown(wanted_budget, wanted_n)
    budget_changed = not budget or {k: v for k, v in before.items() if k != "notifications"} != {
        k: v for k, v in after.items() if k != "notifications"
    }
    # Subscribers that could not be read (None) are taken as they are wanted.
    readable = {k: (wanted_n.get(k) if v is None else v) for k, v in notifications.items()}
    notifications_changed = readable != wanted_n
    changed = budget_changed or notifications_changed
    if changed and not module.check_mode:
        try:
            if not budget:
                client.create_budget(
                    aws_retry=True,
                    AccountId=account,
                    Budget=wanted_budget,
                    NotificationsWithSubscribers=[
                        {
                            "Notification": api_notification(k),
                            "Subscribers": [{"SubscriptionType": t, "Address": a} for t, a in subs],
                        }
                        for k, subs in wanted_n.items()
                    ],
                )
            else:
                if budget_changed:
                    client.update_budget(aws_retry=True, AccountId=account, NewBudget=wanted_budget)
                for key in set(notifications) - set(wanted_n):
                    client.delete_notification(
                        aws_retry=True, AccountId=account, BudgetName=name, Notification=api_notification(key)
                    )
                for key, subs in wanted_n.items():
                    if readable.get(key) == subs:
                        continue
                    if key in notifications:
                        client.delete_notification(
                            aws_retry=True,
                            AccountId=account,
                            BudgetName=name,
                            Notification=api_notification(key),
                        )
                    client.create_notification(
                        aws_retry=True,
                        AccountId=account,
                        BudgetName=name,
                        Notification=api_notification(key),
                        Subscribers=[{"SubscriptionType": t, "Address": a} for t, a in subs],
                    )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to put budget {name}")
    module.exit_json(changed=changed, budget=after, **(diff_result(module, before, after) if changed else {}))


if __name__ == "__main__":
    main()
