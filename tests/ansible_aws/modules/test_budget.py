"""cloudpypi.aws.budget against botocore's Stubber (UpdateBudget and subscribers)."""

from __future__ import annotations

import pytest
from ansible_collections.cloudpypi.aws.plugins.modules import budget as budget_module
from botocore.exceptions import ClientError

from ansible_aws.modules.stubbed import (
    ACCOUNT,
)


def budget_params(**overrides):
    params = {
        "name": "cloudpypi-monthly",
        "amount": "500",
        "currency": "USD",
        "time_unit": "MONTHLY",
        "budget_type": "COST",
        "notifications": [{"type": "ACTUAL", "threshold": 80.0}],
        "emails": ["ops@example.com"],
        "sns_topic_arns": [],
        "compare_subscribers": True,
        "state": "present",
    }
    params.update(overrides)
    return params


def aws_budget(amount="500.0"):
    return {
        "BudgetName": "cloudpypi-monthly",
        "BudgetLimit": {"Amount": amount, "Unit": "USD"},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
    }


NOTE = {
    "NotificationType": "ACTUAL",
    "ComparisonOperator": "GREATER_THAN",
    "Threshold": 80.0,
    "ThresholdType": "PERCENTAGE",
}


def stub_budget_state(stubber, amount="500.0", subscribers=("ops@example.com",)):
    stubber.add_response(
        "describe_budget", {"Budget": aws_budget(amount)}, {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"}
    )
    return lambda: (
        stubber.add_response(
            "describe_notifications_for_budget",
            {"Notifications": [NOTE]},
            {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"},
        ),
        stubber.add_response(
            "describe_subscribers_for_notification",
            {"Subscribers": [{"SubscriptionType": "EMAIL", "Address": a} for a in subscribers]},
            {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly", "Notification": NOTE},
        ),
    )


def test_budget_second_run_changes_nothing(budgets):
    client, stubber = budgets
    stub_budget_state(stubber)()
    stubber.add_response(
        "describe_budget", {"Budget": aws_budget()}, {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"}
    )
    result = budget_module.ensure_budget(client, ACCOUNT, budget_params(), False)
    assert result["changed"] is False, f"expected no change, got {result}"


def test_budget_amount_change_calls_update_budget(budgets):
    client, stubber = budgets
    stub_budget_state(stubber, amount="300.0")
    stubber.add_response("update_budget", {}, {"AccountId": ACCOUNT, "NewBudget": aws_budget("500")})
    stubber.add_response(
        "describe_notifications_for_budget",
        {"Notifications": [NOTE]},
        {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"},
    )
    stubber.add_response(
        "describe_subscribers_for_notification",
        {"Subscribers": [{"SubscriptionType": "EMAIL", "Address": "ops@example.com"}]},
        {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly", "Notification": NOTE},
    )
    stubber.add_response(
        "describe_budget", {"Budget": aws_budget()}, {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"}
    )
    result = budget_module.ensure_budget(client, ACCOUNT, budget_params(), False)
    assert result["changed"] is True, "expected the amount change to update the budget"
    assert (result["diff"]["before"]["budget"]["amount"], result["diff"]["after"]["budget"]["amount"]) == ("300", "500")


def test_budget_subscribers_follow_the_email_list(budgets):
    client, stubber = budgets
    stub_budget_state(stubber, subscribers=("old@example.com",))()
    for verb, address in (("create_subscriber", "ops@example.com"), ("delete_subscriber", "old@example.com")):
        stubber.add_response(
            verb,
            {},
            {
                "AccountId": ACCOUNT,
                "BudgetName": "cloudpypi-monthly",
                "Notification": NOTE,
                "Subscriber": {"SubscriptionType": "EMAIL", "Address": address},
            },
        )
    stubber.add_response(
        "describe_budget", {"Budget": aws_budget()}, {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"}
    )
    result = budget_module.ensure_budget(client, ACCOUNT, budget_params(), False)
    assert result["changed"] is True and result["diff"]["after"]["subscribers"] == {"ACTUAL 80%": ["ops@example.com"]}


def test_budget_check_mode_adds_no_notification(budgets):
    client, stubber = budgets
    stub_budget_state(stubber)()
    params = budget_params(
        notifications=[{"type": "ACTUAL", "threshold": 80.0}, {"type": "FORECASTED", "threshold": 100.0}]
    )
    result = budget_module.ensure_budget(client, ACCOUNT, params, True)
    assert (result["changed"], result["notifications_created"]) == (True, [["FORECASTED", 100.0]]), f"got {result}"


def test_budget_missing_is_reported_as_none_not_an_error(budgets):
    client, stubber = budgets
    stubber.add_client_error("describe_budget", "NotFoundException", http_status_code=404)
    assert budget_module.current_budget(client, ACCOUNT, "cloudpypi-monthly") is None
    stubber.add_client_error("describe_budget", "AccessDeniedException", http_status_code=403)
    with pytest.raises(ClientError):
        budget_module.current_budget(client, ACCOUNT, "cloudpypi-monthly")
