#!/usr/bin/python
# Copyright: CloudPyPI contributors
# Apache-2.0
"""Manage an AWS Budgets cost budget and its notifications."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: budget
short_description: Manage an AWS Budgets cost budget with e-mail notifications
version_added: 0.1.0
description:
  - Creates, updates or deletes a budget, and keeps its notifications (threshold alerts) and their
    e-mail/SNS subscribers equal to I(notifications).
  - Idempotent, supports check mode and diff.
  - No module of amazon.aws or community.aws manages AWS Budgets.
  - moto 5.2.5 implements create/describe/delete of budgets and notifications, not UpdateBudget nor the
    subscriber calls; with I(compare_subscribers=false) the module does not read subscribers back
    (for moto), and UpdateBudget is tested with botocore's Stubber.
options:
  name:
    description: Budget name, unique in the account.
    type: str
    required: true
  amount:
    description: Budget limit per period.
    type: str
    default: "500"
  currency:
    description: Currency of I(amount).
    type: str
    default: USD
  time_unit:
    description: Budget period.
    type: str
    choices: [MONTHLY, QUARTERLY, ANNUALLY]
    default: MONTHLY
  budget_type:
    description: What the budget tracks.
    type: str
    choices: [COST, USAGE]
    default: COST
  notifications:
    description: Alerts; each is sent to I(emails) and I(sns_topic_arns).
    type: list
    elements: dict
    default: []
    suboptions:
      type:
        description: Alert on actual spend or on the forecast.
        type: str
        choices: [ACTUAL, FORECASTED]
        required: true
      threshold:
        description: Percentage of the budget.
        type: float
        required: true
  emails:
    description: E-mail addresses subscribed to every notification.
    type: list
    elements: str
    default: []
  sns_topic_arns:
    description: SNS topics subscribed to every notification.
    type: list
    elements: str
    default: []
  compare_subscribers:
    description: Read each notification's subscribers back and fix them; false only for endpoints lacking
      DescribeSubscribersForNotification (moto).
    type: bool
    default: true
  state:
    description: Whether the budget exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - CloudPyPI contributors
"""

EXAMPLES = r"""
- name: Monthly cost budget of 500 USD
  cloudpypi.aws.budget:
    name: cloudpypi-monthly
    amount: "500"
    notifications:
      - {type: ACTUAL, threshold: 50}
      - {type: ACTUAL, threshold: 80}
      - {type: ACTUAL, threshold: 100}
      - {type: FORECASTED, threshold: 100}
    emails: [ops@example.com]
"""

RETURN = r"""
account_id:
  description: The account the budget belongs to.
  returned: always
  type: str
budget:
  description: The budget as AWS describes it (absent in check mode before creation).
  returned: when state is present
  type: dict
notifications_created:
  description: Notifications this run created, as (type, threshold) pairs.
  returned: always
  type: list
  elements: list
notifications_deleted:
  description: Notifications this run deleted, as (type, threshold) pairs.
  returned: always
  type: list
  elements: list
"""

from decimal import Decimal

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import diff_of, unsupported_hint


def _code(error):
    return error.response.get("Error", {}).get("Code", "")


def current_budget(client, account_id, name):
    try:
        return client.describe_budget(AccountId=account_id, BudgetName=name)["Budget"]
    except botocore.exceptions.ClientError as error:
        if _code(error) == "NotFoundException":
            return None
        raise


def notification_doc(item):
    return {
        "NotificationType": item["type"],
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": float(item["threshold"]),
        "ThresholdType": "PERCENTAGE",
    }


def _key(notification):
    return (notification["NotificationType"], float(notification["Threshold"]))


def subscribers_of(emails, topics):
    return [{"SubscriptionType": "EMAIL", "Address": a} for a in emails] + [
        {"SubscriptionType": "SNS", "Address": a} for a in topics
    ]


def _budget_view(budget):
    if not budget:
        return {}
    limit = budget.get("BudgetLimit", {})
    return {
        "amount": format(Decimal(str(limit.get("Amount", "0"))).normalize(), "f"),
        "currency": limit.get("Unit"),
        "time_unit": budget.get("TimeUnit"),
        "budget_type": budget.get("BudgetType"),
    }


def ensure_budget(client, account_id, params, check_mode):
    """Bring the budget and its notifications to the wanted state; returns the module result."""
    name = params["name"]
    label = f"budget {name}"
    existing = current_budget(client, account_id, name)
    result = {"account_id": account_id, "changed": False, "notifications_created": [], "notifications_deleted": []}

    if params["state"] == "absent":
        if existing is not None:
            result["changed"] = True
            if not check_mode:
                client.delete_budget(AccountId=account_id, BudgetName=name)
        result["diff"] = diff_of(_budget_view(existing), {}, label)
        return result

    wanted_budget = {
        "BudgetName": name,
        "BudgetLimit": {"Amount": str(params["amount"]), "Unit": params["currency"]},
        "TimeUnit": params["time_unit"],
        "BudgetType": params["budget_type"],
    }
    wanted_view = _budget_view(wanted_budget)
    subscribers = subscribers_of(params["emails"], params["sns_topic_arns"])
    wanted_notes = {_key(notification_doc(n)): notification_doc(n) for n in params["notifications"]}
    before = {"budget": _budget_view(existing), "notifications": [], "subscribers": {}}
    after = {
        "budget": wanted_view,
        "notifications": sorted(f"{k[0]} {k[1]:g}%" for k in wanted_notes),
        "subscribers": {},
    }

    if existing is None:
        result["changed"] = True
        result["notifications_created"] = [list(k) for k in wanted_notes]
        if not check_mode:
            client.create_budget(
                AccountId=account_id,
                Budget=wanted_budget,
                NotificationsWithSubscribers=[
                    {"Notification": doc, "Subscribers": subscribers} for doc in wanted_notes.values()
                ],
            )
            result["budget"] = current_budget(client, account_id, name)
        result["diff"] = diff_of({}, after, label)
        return result

    if _budget_view(existing) != wanted_view:
        result["changed"] = True
        if not check_mode:
            client.update_budget(AccountId=account_id, NewBudget=dict(existing, **wanted_budget))

    listed = client.describe_notifications_for_budget(AccountId=account_id, BudgetName=name).get("Notifications", [])
    have_notes = {_key(n): n for n in listed}
    before["notifications"] = sorted(f"{k[0]} {k[1]:g}%" for k in have_notes)
    for key, doc in wanted_notes.items():
        if key not in have_notes:
            result["changed"] = True
            result["notifications_created"].append(list(key))
            if not check_mode:
                client.create_notification(
                    AccountId=account_id, BudgetName=name, Notification=doc, Subscribers=subscribers
                )
        elif params["compare_subscribers"]:
            _sync_subscribers(client, account_id, name, have_notes[key], subscribers, check_mode, result, before, after)
    for key, note in have_notes.items():
        if key not in wanted_notes:
            result["changed"] = True
            result["notifications_deleted"].append(list(key))
            if not check_mode:
                client.delete_notification(AccountId=account_id, BudgetName=name, Notification=note)

    if not check_mode:
        result["budget"] = current_budget(client, account_id, name)
    result["diff"] = diff_of(before, after, label)
    return result


def _sync_subscribers(client, account_id, name, note, wanted, check_mode, result, before, after):
    have = client.describe_subscribers_for_notification(AccountId=account_id, BudgetName=name, Notification=note).get(
        "Subscribers", []
    )
    have_set = {(s["SubscriptionType"], s["Address"]) for s in have}
    want_set = {(s["SubscriptionType"], s["Address"]) for s in wanted}
    label = f"{note['NotificationType']} {float(note['Threshold']):g}%"
    before["subscribers"][label] = sorted(a for _, a in have_set)
    after["subscribers"][label] = sorted(a for _, a in want_set)
    for kind, address in sorted(want_set - have_set):
        result["changed"] = True
        if not check_mode:
            client.create_subscriber(
                AccountId=account_id,
                BudgetName=name,
                Notification=note,
                Subscriber={"SubscriptionType": kind, "Address": address},
            )
    for kind, address in sorted(have_set - want_set):
        result["changed"] = True
        if not check_mode:
            client.delete_subscriber(
                AccountId=account_id,
                BudgetName=name,
                Notification=note,
                Subscriber={"SubscriptionType": kind, "Address": address},
            )


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        amount=dict(type="str", default="500"),
        currency=dict(type="str", default="USD"),
        time_unit=dict(type="str", default="MONTHLY", choices=["MONTHLY", "QUARTERLY", "ANNUALLY"]),
        budget_type=dict(type="str", default="COST", choices=["COST", "USAGE"]),
        notifications=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                type=dict(type="str", required=True, choices=["ACTUAL", "FORECASTED"]),
                threshold=dict(type="float", required=True),
            ),
        ),
        emails=dict(type="list", elements="str", default=[]),
        sns_topic_arns=dict(type="list", elements="str", default=[]),
        compare_subscribers=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if params["state"] == "present" and params["notifications"] and not (params["emails"] or params["sns_topic_arns"]):
        module.fail_json(msg=f"budget {params['name']}: notifications need at least one of emails or sns_topic_arns")
    try:
        Decimal(params["amount"])
    except ArithmeticError:
        module.fail_json(msg=f"budget {params['name']}: amount must be a number, got {params['amount']!r}")
    try:
        account_id = module.client("sts").get_caller_identity()["Account"]
        # Budgets is a global service served from us-east-1.
        client = module.client("budgets", region="us-east-1")
        result = ensure_budget(client, account_id, params, module.check_mode)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(error, msg=f"Could not manage budget {params['name']}" + unsupported_hint(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
