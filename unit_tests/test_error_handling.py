"""How the connector answers Pipedrive's rate limits, outages and broken responses: wait, retry, or stop clearly."""

import pytest
import requests
import requests_mock

from builders import API, config, read, v2_page
from source_pipedrive.components import RateLimitAwareBackoff

PIPELINES = f"{API}/api/v2/pipelines"
OK = {"json": v2_page([{"id": 1, "name": "Sales", "update_time": "2024-01-01T00:00:00Z"}])}


def _response(status, headers=None):
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return response


@pytest.mark.parametrize(
    "status, headers, expected",
    [
        (429, {"x-ratelimit-reset": "1.5"}, 1.5),
        (429, {"Retry-After": "7", "x-ratelimit-reset": "1"}, 7.0),
        (429, {"x-ratelimit-reset": "0"}, 0.5),
        (429, {"x-ratelimit-reset": "3600"}, 60.0),
    ],
    ids=["burst reset", "retry-after wins", "never a zero wait", "capped"],
)
def test_a_429_waits_for_the_time_pipedrive_names(status, headers, expected):
    assert RateLimitAwareBackoff(parameters={}).backoff_time(_response(status, headers), 1) == expected


def test_a_5xx_ignores_the_rate_limit_reset_and_backs_off_exponentially_with_jitter():
    strategy = RateLimitAwareBackoff(parameters={})
    waits = [strategy.backoff_time(_response(503, {"x-ratelimit-reset": "0"}), attempt) for attempt in (1, 2, 3)]
    assert 1.5 <= waits[0] <= 2.5 and 3.0 <= waits[1] <= 5.0 and 6.0 <= waits[2] <= 10.0


@pytest.mark.real_clock
def test_a_burst_429_is_waited_out_and_the_read_completes():
    with requests_mock.Mocker() as http:
        http.get(PIPELINES, [{"status_code": 429, "headers": {"x-ratelimit-reset": "1"},
                              "json": {"success": False, "error": "Request over limit", "errorCode": 429}}, OK])
        output = read(config(), ["pipelines"])
    assert [r.record.data["id"] for r in output.records] == [1]
    assert len(http.request_history) == 2


def test_an_exhausted_daily_budget_stops_the_stream_with_a_message_saying_when_it_resets():
    exhausted = {"status_code": 429, "headers": {"x-daily-ratelimit-token-remaining": "0"},
                 "json": {"success": False, "error": "Daily limit reached", "errorCode": 429}}
    with requests_mock.Mocker() as http:
        http.get(PIPELINES, [exhausted, OK])
        output = read(config(), ["pipelines"], expect_errors=True)
    assert len(http.request_history) == 1  # no retry: the budget will not come back within this sync
    assert "daily API budget" in output.errors[0].trace.error.message
    assert "resets at midnight" in output.errors[0].trace.error.message


@pytest.mark.parametrize(
    "failure",
    [
        {"status_code": 500, "json": {"success": False, "error": "Internal error"}},
        {"status_code": 503, "text": "<html><body>Service unavailable</body></html>",
         "headers": {"content-type": "text/html"}},
        {"status_code": 403, "text": "<html>Attention Required! | Cloudflare</html>",
         "headers": {"content-type": "text/html; charset=UTF-8"}},
        {"exc": requests.exceptions.ConnectTimeout},
        {"exc": requests.exceptions.ConnectionError},
        {"status_code": 200, "text": '{"success": true, "data": [{"id": 1', "headers": {"content-type": "application/json"}},
    ],
    ids=["500", "html 503", "html 403 block", "timeout", "dropped connection", "200 cut short"],
)
def test_transient_failures_are_retried_and_nothing_is_lost(failure):
    with requests_mock.Mocker() as http:
        http.get(PIPELINES, [failure, failure, OK])
        output = read(config(), ["pipelines"])
    assert [r.record.data["id"] for r in output.records] == [1]
    assert len(http.request_history) == 3


def test_a_persistent_outage_ends_with_an_error_naming_the_stream():
    with requests_mock.Mocker() as http:
        http.get(PIPELINES, status_code=500, json={"success": False, "error": "Internal error"})
        output = read(config(), ["pipelines"], expect_errors=True)
    assert len(http.request_history) == 9  # the first try and 8 retries
    failed = [e.trace.error for e in output.errors if e.trace.error.stream_descriptor]
    assert [e.stream_descriptor.name for e in failed] == ["pipelines"]
    assert "HTTP Status Code: 500" in failed[0].message
