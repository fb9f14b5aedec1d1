"""Cost Explorer reading details that moto cannot show: pagination, and error lines without HTML."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloudpypi.costs.aws import CostDataUnavailable, describe_error, read_month_to_date


class PagedCostExplorer:
    """Answers GetCostAndUsage from a list of pages, following NextPageToken; records the requests."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages, self.requests = pages, []

    def get_cost_and_usage(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return self.pages[len(self.requests) - 1]


def group(service: str, amount: str) -> dict[str, Any]:
    return {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}


def test_pages_are_followed_and_a_day_split_across_pages_is_summed() -> None:
    day = {"Start": "2026-11-01", "End": "2026-11-02"}
    ce = PagedCostExplorer([
        {"ResultsByTime": [{"TimePeriod": day, "Total": {}, "Groups": [group("S3", "1.25")]}],
         "NextPageToken": "t1"},
        {"ResultsByTime": [{"TimePeriod": day, "Total": {}, "Groups": [group("EC2", "2.00")]},
                           {"TimePeriod": {"Start": "2026-11-02"}, "Total": {}, "Groups": [group("S3", "1")]}]},
    ])
    spend = read_month_to_date(ce, date(2026, 11, 2))
    assert ce.requests[1].get("NextPageToken") == "t1", "the second request must carry the token"
    assert ce.requests[0]["TimePeriod"] == {"Start": "2026-11-01", "End": "2026-11-03"}, ce.requests[0]
    assert spend.total == Decimal("4.25") and spend.requests == 2, spend
    assert spend.daily == ((date(2026, 11, 1), Decimal("3.25")), (date(2026, 11, 2), Decimal("1"))), spend.daily
    assert spend.by_service == (("S3", Decimal("2.25")), ("EC2", Decimal("2.00"))), "largest first"


def test_access_denied_becomes_one_line_naming_the_api_and_the_reason() -> None:
    class Denied:
        def get_cost_and_usage(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
                              "GetCostAndUsage")

    with pytest.raises(CostDataUnavailable, match="GetCostAndUsage failed: AccessDeniedException: not authorized"):
        read_month_to_date(Denied(), date(2026, 11, 2))


def test_an_html_error_page_is_reduced_to_its_status() -> None:
    exc = ClientError({"Error": {"Code": "500", "Message": "<!doctype html><title>500</title>"},
                       "ResponseMetadata": {"HTTPStatusCode": 500}}, "GetCostForecast")
    assert describe_error(exc, "GetCostForecast") == "GetCostForecast failed: HTTP 500"
