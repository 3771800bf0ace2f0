"""Pipedrive's daily API budget, shared by the whole company: what each request costs, when the sync stops asking.

pipedrive-api.md §6: a company has one token budget a day; once spent, every request is a 429 until midnight and an
API token that keeps calling gets blocked. The end-to-end behaviour (exit, state, days) is in
integration_tests/test_daily_budget.py; here each rule on its own.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from airbyte_cdk.models import FailureType, StreamDescriptor

from source_pipedrive.components import BudgetGate
from source_pipedrive.sync import BudgetSpent, Sync, token_cost

ROOT = Path(__file__).resolve().parents[1]


def _response(status=200, remaining=None, limit=30_000, url="https://api.pipedrive.com/api/v2/deals?limit=500"):
    response = requests.Response()
    response.status_code, response.url = status, url
    response.request = requests.Request("GET", url).prepare()
    if remaining is not None:
        response.headers.update({"x-daily-ratelimit-token-remaining": str(remaining),
                                 "x-daily-ratelimit-token-limit": str(limit)})
    return response


def test_the_cost_table_is_what_pipedrive_s_openapi_files_say():
    checked = subprocess.run([sys.executable, str(ROOT / "scripts" / "token_costs_from_openapi.py"), "--check"])
    assert checked.returncode == 0, "source_pipedrive/token_costs.json is stale: run scripts/token_costs_from_openapi.py"


@pytest.mark.parametrize(
    "url, cost",
    [("https://api.pipedrive.com/api/v2/deals?limit=500&cursor=x", 10), ("https://c.pipedrive.com/api/v2/deals/archived", 20),
     ("https://api.pipedrive.com/api/v2/pipelines", 5), ("https://api.pipedrive.com/v1/deals/42/flow?start=500", 40),
     ("https://api.pipedrive.com/v1/deals/42/changelog", 20), ("https://api.pipedrive.com/v1/deals/42/participants", 10),
     ("https://api.pipedrive.com/v1/leads/archived", 40), ("https://api.pipedrive.com/api/v2/deals/42/followers", 10),
     ("https://api.pipedrive.com/v1/permissionSets/5f2b9e4c-2d3a-4f4e-9c1b-1a2b3c4d5e6f/assignments", 20),
     ("https://api.pipedrive.com/v1/mailbox/mailThreads/7/mailMessages", 20)],
)
def test_each_request_costs_the_tokens_of_its_operation(url, cost):
    assert token_cost(url) == cost


def test_a_429_saying_no_daily_tokens_are_left_stops_the_sync_and_every_later_request():
    sync = Sync.start({})
    with pytest.raises(BudgetSpent) as raised:
        sync.account("deals", _response(429, remaining=0))
    assert "daily API budget" in raised.value.message and "next one continues" in raised.value.message
    with pytest.raises(BudgetSpent):
        sync.check_open()


def test_a_page_that_spends_the_last_tokens_is_kept_and_the_sync_stops_after_it():
    sync = Sync.start({})
    sync.account("deals", _response(200, remaining=0))  # this page's records are good
    assert sync.stop_reason and "used up" in sync.stop_reason


@pytest.mark.parametrize("reserve, remaining, stops", [(None, 3_000, True), (None, 3_208, False), (10, 3_207, True),
                                                       (0, 1, False), (50, 15_000, True), (50, 15_209, False)])
def test_the_sync_stops_when_what_is_left_falls_below_the_reserve_plus_what_requests_in_flight_may_cost(
        reserve, remaining, stops):
    # 30,000 tokens a day; 4 workers may each have a request of up to 40 tokens on its way (160 tokens), and the runs
    # the platform starts before the budget resets may probe once an hour (24 x 2 tokens).
    sync = Sync.start({} if reserve is None else {"daily_budget_reserve_percent": reserve})
    sync.account("deals", _response(200, remaining=remaining, limit=30_000))
    assert bool(sync.stop_reason) is stops
    if stops and reserve != 0:
        assert "daily_budget_reserve_percent" in sync.stop_reason


def test_without_budget_headers_nothing_stops():
    sync = Sync.start({})
    sync.account("deals", _response(200))
    sync.account("deals", _response(429))  # a burst 429: waited out by the error handler, not a budget stop
    assert sync.stop_reason is None


def test_each_stream_s_requests_and_tokens_are_counted_and_429s_cost_nothing():
    sync = Sync.start({"daily_budget_reserve_percent": 0})
    sync.account("deals", _response(200, remaining=900, limit=1_000))
    sync.account("deal_flow", _response(200, remaining=860, limit=1_000, url="https://x/v1/deals/1/flow"))
    sync.account("deal_flow", _response(429, remaining=5, limit=1_000, url="https://x/v1/deals/2/flow"))
    assert sync.cost_lines() == [
        "API cost of deal_flow: 2 requests, 40 tokens",
        "API cost of deals: 1 requests, 10 tokens",
        "API cost of this sync: 3 requests, 50 tokens; Pipedrive reports 5 of 1,000 daily tokens left",
    ]


def test_the_gate_signs_requests_until_the_sync_stops_and_none_after():
    class Token:
        def __call__(self, request):
            request.headers["x-api-token"] = "secret"
            return request

        def get_auth_header(self):
            return {"x-api-token": "secret"}

    sync = Sync.start({})
    gate = BudgetGate(inner=Token())
    request = requests.Request("GET", "https://api.pipedrive.com/api/v2/deals").prepare()
    assert gate(request).headers["x-api-token"] == "secret"
    sync.stop("spent")
    with pytest.raises(BudgetSpent):
        gate(request)
    with pytest.raises(BudgetSpent):
        gate.get_auth_header()


def test_a_refused_request_becomes_the_cdk_s_transient_trace_without_formatting_its_stack():
    # After a stop every queued partition fails with BudgetSpent and the CDK turns each into a trace message on its
    # main thread; formatting thousands of deep stacks kept a stopped sync of a big account busy for minutes.
    def deep(n):
        if n == 0:
            Sync.current().check_open()
        deep(n - 1)

    sync = Sync.start({})
    sync.stop("the daily budget is spent")
    with pytest.raises(BudgetSpent) as raised:
        deep(50)
    error = raised.value.as_airbyte_message(stream_descriptor=StreamDescriptor(name="deal_flow")).trace.error
    assert (error.message, error.failure_type, error.stream_descriptor.name, error.stack_trace) == \
        ("the daily budget is spent", FailureType.transient_error, "deal_flow", None)
