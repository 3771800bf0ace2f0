"""Runs the platform starts after a budget stop (retries, the next scheduled jobs): nothing sent until the budget can
have reset, one probe at most an hour while it may have, the streams reported rate-limited (budget.py, source.py).
"""

import datetime as dt
from pathlib import Path

import requests_mock
from airbyte_cdk.models import AirbyteStreamStatus, SyncMode, TraceType

from builders import API, config, data_requests, mock_no_custom_fields, read, stream_state, v2_page

ROOT = Path(__file__).resolve().parents[1]


def _ago(**delta) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _after_a_stop(minutes_ago: float, reset_window=None) -> list:
    budget = {"seen_at": _ago(minutes=minutes_ago), "remaining": 3_100, "limit": 30_000,
              "stopped_at": _ago(minutes=minutes_ago), "reason": "Pipedrive's daily API budget is used up."}
    if reset_window:
        budget.update(reset_after=reset_window[0], reset_by=reset_window[1])
    return stream_state("deals", {"update_time": "2024-01-01T00:00:00Z", "pipedrive_sync": {"budget": budget}})


def _headers(remaining: int) -> dict:
    return {"x-daily-ratelimit-token-remaining": str(remaining), "x-daily-ratelimit-token-limit": "30000"}


def _rate_limited(output) -> dict:
    out = {}
    for message in output.get_message_iterator():
        if message.type.value == "TRACE" and message.trace.type == TraceType.STREAM_STATUS:
            status = message.trace.stream_status
            if status.status == AirbyteStreamStatus.RUNNING and status.reasons:
                out[status.stream_descriptor.name] = status.reasons[0].rate_limited.quota_reset
    return out


def test_a_retry_minutes_after_a_stop_sends_nothing_and_reports_every_stream_rate_limited():
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        output = read(config(), ["deals", "persons"], SyncMode.incremental, state=_after_a_stop(minutes_ago=2))
    assert http.request_history == []
    assert set(_rate_limited(output)) == {"deals", "persons"}
    assert output.records == []


def test_an_hour_after_a_stop_one_probe_finds_the_budget_reset_and_the_sync_goes_on():
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/v1/users/me", json={"success": True, "data": {"id": 1}}, headers=_headers(29_000))
        http.get(f"{API}/api/v2/deals", json=v2_page([{"id": 1, "update_time": "2024-02-01T00:00:00Z",
                                                       "custom_fields": {}}]), headers=_headers(28_990))
        output = read(config(), ["deals"], SyncMode.incremental, state=_after_a_stop(minutes_ago=70))
    assert [r.path for r in data_requests(http)] == ["/v1/users/me", "/api/v2/deals"]
    assert [r.record.data["id"] for r in output.records] == [1] and _rate_limited(output) == {}
    budget = output.most_recent_state.stream_state.__dict__["pipedrive_sync"]["budget"]
    assert budget["stopped_at"] is None, "the stop is over"
    assert budget["reset_after"] and budget["reset_by"], "and when the budget reset is learnt from the rise"


def test_a_probe_that_finds_the_budget_still_low_sends_nothing_more_and_says_when_it_will_have_reset():
    window = (_ago(hours=24, minutes=30), _ago(hours=23, minutes=30))  # seen to reset yesterday, about now
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/users/me", json={"success": True, "data": {"id": 1}}, headers=_headers(3_000))
        output = read(config(), ["deals"], SyncMode.incremental, state=_after_a_stop(minutes_ago=240, reset_window=window))
    assert [r.path for r in http.request_history] == ["/v1/users/me"]
    quota_reset = _rate_limited(output)["deals"]
    assert abs(quota_reset / 1000 - (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=30)).timestamp()) < 120


def test_well_before_the_reset_learnt_yesterday_not_even_a_probe_is_sent():
    window = (_ago(hours=14), _ago(hours=13))  # it reset 13-14 hours ago: the next one is 10-11 hours away
    with requests_mock.Mocker() as http:
        read(config(), ["deals"], SyncMode.incremental, state=_after_a_stop(minutes_ago=180, reset_window=window))
    assert http.request_history == []


_RUN_AND_REPORT_CDK = ("import runpy, sys\n"
                       "sys.argv = ['source-pipedrive'] + sys.argv[1:]\n"
                       "try:\n    runpy.run_module('source_pipedrive.run', run_name='__main__')\n"
                       "finally:\n    print('CDK loaded' if 'airbyte_cdk' in sys.modules else 'CDK not loaded')\n")


def _command_line_read(tmp_path, sync_modes):
    import json
    import subprocess
    import sys

    from builders import TOKEN

    catalog = {"streams": [{"stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
                            "sync_mode": mode, "destination_sync_mode": "append"} for name, mode in sync_modes.items()]}
    state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "deals"}, "stream_state": _after_a_stop(2)[0].stream.stream_state.__dict__}}]
    files = {"config": config(api_domain="https://no-such-host.invalid"), "catalog": catalog, "state": state}
    args = []
    for name, content in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
        args += [f"--{name}", str(tmp_path / f"{name}.json")]
    done = subprocess.run([sys.executable, "-c", _RUN_AND_REPORT_CDK, "read", *args], capture_output=True, text=True,
                          cwd=str(tmp_path.parent), env={"PYTHONPATH": str(ROOT)})
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert TOKEN not in done.stdout + done.stderr
    return done, messages


def test_the_command_line_answers_a_retry_without_loading_the_connector_and_ends_successfully(tmp_path):
    done, messages = _command_line_read(tmp_path, {"deals": "incremental", "persons": "incremental"})
    assert done.returncode == 0 and done.stdout.rstrip().endswith("CDK not loaded"), done.stdout[-500:] + done.stderr
    limited = {m["trace"]["stream_status"]["stream_descriptor"]["name"] for m in messages if m["type"] == "TRACE"
               and (m["trace"]["stream_status"].get("reasons") or [{}])[0].get("type") == "RATE_LIMITED"}
    assert limited == {"deals", "persons"}
    assert not [m for m in messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert any("Ending this sync successfully" in m["log"]["message"] for m in messages if m["type"] == "LOG")


def test_the_command_line_fails_a_retry_that_would_leave_a_full_refresh_table_with_a_part_of_itself(tmp_path):
    done, messages = _command_line_read(tmp_path, {"deals": "incremental", "currencies": "full_refresh"})
    errors = [m["trace"]["error"] for m in messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert done.returncode == 1 and [e["failure_type"] for e in errors] == ["transient_error"]
    assert any("currencies" in m["log"]["message"] for m in messages if m["type"] == "LOG" and m["log"]["level"] == "WARN")
