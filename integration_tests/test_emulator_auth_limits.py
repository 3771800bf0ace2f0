"""Authentication, OAuth, rate limits and fault injection behave as pipedrive-api.md §5, §6 and §7 describe."""
from __future__ import annotations

import base64
import datetime as dt
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `integration_tests` has no __init__.py

from integration_tests.emulator import Emulator  # noqa: E402

UNAUTHORIZED = {"success": False, "error": "unauthorized access", "errorCode": 401,
                "error_info": "Please check developers.pipedrive.com"}


@pytest.fixture(scope="module")
def emu():
    narrow = {"secret": "narrow-secret", "scopes": ["base", "deals:read"]}
    with Emulator(seed=1, scale=100, oauth_clients={"client-id": "client-secret", "narrow-app": narrow}) as e:
        yield e


def _basic(cid, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}


def _refresh(emu, refresh_token, cid="client-id", secret="client-secret"):
    return requests.post(emu.base_url + "/oauth/token", headers=_basic(cid, secret),
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token})


@pytest.mark.parametrize("headers", [{}, {"x-api-token": "wrong"}, {"Authorization": "Bearer nope"},
                                     {"Authorization": "Bearer test-token"}])
def test_missing_or_invalid_credentials_get_the_gateway_401(emu, headers):
    resp = requests.get(emu.base_url + "/api/v2/deals", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["x-401-by-gw"] == "true"
    assert resp.json() == UNAUTHORIZED


def test_header_token_and_legacy_query_token_both_work_and_the_query_one_is_counted(emu):
    before = emu.stats()["api_token_in_query"]
    assert requests.get(emu.base_url + "/api/v2/deals", headers={"x-api-token": "test-token"}).status_code == 200
    assert emu.stats()["api_token_in_query"] == before
    assert requests.get(emu.base_url + "/api/v2/deals?api_token=test-token").status_code == 200
    assert requests.get(emu.base_url + "/v1/users?api_token=test-token").status_code == 200
    assert emu.stats()["api_token_in_query"] == before + 2


def test_oauth_refresh_returns_the_documented_fields_and_rotates_the_refresh_token(emu):
    first = emu.issue_oauth_refresh_token("client-id")
    resp = _refresh(emu, first)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "refresh_token", "scope", "expires_in", "api_domain"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["api_domain"] == emu.base_url
    assert body["refresh_token"] != first
    bearer = {"Authorization": "Bearer " + body["access_token"]}
    assert requests.get(body["api_domain"] + "/api/v2/deals", headers=bearer).status_code == 200
    assert requests.get(body["api_domain"] + "/api/v1/users/me", headers=bearer).status_code == 200
    reused = _refresh(emu, first)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert _refresh(emu, body["refresh_token"]).status_code == 200  # the rotated token works once


def test_oauth_client_authentication(emu):
    token = emu.issue_oauth_refresh_token("client-id")
    bad = _refresh(emu, token, secret="wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    body_creds = requests.post(emu.base_url + "/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": token, "client_id": "client-id",
        "client_secret": "client-secret"})
    assert body_creds.status_code == 200  # allowed, though discouraged (§5.3)


def test_authorization_code_grant_and_access_token_expiry(emu):
    code = emu.issue_oauth_code("client-id", "https://app.example/cb")
    resp = requests.post(emu.base_url + "/oauth/token", headers=_basic("client-id", "client-secret"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "https://app.example/cb"})
    assert resp.status_code == 200
    bearer = {"Authorization": "Bearer " + resp.json()["access_token"]}
    assert requests.get(emu.base_url + "/api/v2/persons", headers=bearer).status_code == 200
    emu.expire_oauth_access_tokens()
    expired = requests.get(emu.base_url + "/api/v2/persons", headers=bearer)
    assert expired.status_code == 401 and expired.json() == UNAUTHORIZED


def test_a_request_outside_the_granted_scopes_is_a_scope_mismatch_403(emu):
    token = emu.issue_oauth_refresh_token("narrow-app")
    access = _refresh(emu, token, "narrow-app", "narrow-secret").json()["access_token"]
    bearer = {"Authorization": "Bearer " + access}
    assert requests.get(emu.base_url + "/api/v2/deals", headers=bearer).status_code == 200
    for url in ("/api/v2/persons", "/api/v2/activityFields", "/v1/leads"):
        resp = requests.get(emu.base_url + url, headers=bearer)
        assert resp.status_code == 403
        assert resp.json() == {"success": False, "error": "Scope and URL mismatch", "errorCode": 403}


def test_burst_limit_headers_429_and_the_cloudflare_403_for_api_tokens_that_keep_hammering():
    with Emulator(seed=1, scale=50, burst_limit=5, block_after=3, block_seconds=60) as emu:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        remaining = []
        for _ in range(5):
            resp = s.get(emu.base_url + "/api/v2/pipelines")
            assert resp.status_code == 200
            assert resp.headers["x-ratelimit-limit"] == "5"
            remaining.append(int(resp.headers["x-ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        over = s.get(emu.base_url + "/api/v2/pipelines")
        assert over.status_code == 429
        assert over.json()["errorCode"] == 429 and over.json()["success"] is False
        assert 1 <= int(over.headers["x-ratelimit-reset"]) <= 2 and over.headers["x-ratelimit-remaining"] == "0"
        statuses = [s.get(emu.base_url + "/api/v2/pipelines").status_code for _ in range(5)]
        assert statuses[:3] == [429, 429, 429] and statuses[-1] == 403
        blocked = s.get(emu.base_url + "/api/v2/pipelines")
        assert blocked.status_code == 403 and blocked.headers["Content-Type"].startswith("text/html")
        assert "Cloudflare" in blocked.text
        stats = emu.stats()
        assert stats["rate_limited_429"] >= 4 and stats["blocked_403_html"] >= 2
        assert stats["rate_limited_429_burst"] == stats["rate_limited_429"] and stats["rate_limited_429_daily"] == 0


def test_oauth_traffic_gets_429s_but_is_never_blocked_with_html():
    with Emulator(seed=1, scale=50, burst_limit=2, block_after=1, block_seconds=60) as emu:
        access = _refresh(emu, emu.issue_oauth_refresh_token("client-id")).json()["access_token"]
        s = requests.Session()
        s.headers["Authorization"] = "Bearer " + access
        statuses = {s.get(emu.base_url + "/api/v2/stages").status_code for _ in range(12)}
        assert statuses == {200, 429}


def test_the_burst_window_frees_after_two_seconds():
    with Emulator(seed=1, scale=50, burst_limit=2) as emu:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        assert [s.get(emu.base_url + "/api/v2/stages").status_code for _ in range(3)] == [200, 200, 429]
        time.sleep(2.05)
        assert s.get(emu.base_url + "/api/v2/stages").status_code == 200


def test_daily_budget_counts_token_costs_and_stays_exhausted_until_reset():
    with Emulator(seed=1, scale=50, daily_budget=25) as emu:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        first = s.get(emu.base_url + "/api/v2/deals")  # cost 10
        assert first.headers["x-daily-ratelimit-token-limit"] == "25"
        assert first.headers["x-daily-ratelimit-token-remaining"] == "15"
        assert s.get(emu.base_url + "/api/v2/deals/1").headers["x-daily-ratelimit-token-remaining"] == "14"
        s.get(emu.base_url + "/v1/leads")  # cost 20: admitted, balance floors at 0
        for _ in range(3):
            resp = s.get(emu.base_url + "/api/v2/deals/1")
            assert resp.status_code == 429 and resp.headers["x-daily-ratelimit-token-remaining"] == "0"
        time.sleep(2.1)  # unlike burst 429s, budget 429s do not clear with time
        assert s.get(emu.base_url + "/api/v2/deals/1").status_code == 429
        requests.post(emu.base_url + "/_emulator/budget/reset")
        assert s.get(emu.base_url + "/api/v2/deals/1").status_code == 200


class Clock:
    """Injectable wall clock (Emulator(clock=...)): the budget day follows it, the 2-second burst window does not."""

    def __init__(self, when: dt.datetime):
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: dt.datetime) -> None:
        self.now = when.timestamp()


def _oauth_headers(emu, client="client-id", secret="client-secret"):
    access = _refresh(emu, emu.issue_oauth_refresh_token(client), client, secret).json()["access_token"]
    return {"Authorization": "Bearer " + access}


def _remaining(resp) -> int:
    return int(resp.headers["x-daily-ratelimit-token-remaining"])


def test_the_daily_budget_is_one_company_balance_shared_by_every_api_token_and_oauth_grant():
    with Emulator(seed=1, scale=50, api_tokens=("token-a", "token-b"), daily_budget=45) as emu:
        principals = [{"x-api-token": "token-a"}, {"x-api-token": "token-b"}, _oauth_headers(emu), _oauth_headers(emu)]
        seen = []
        for headers in principals:
            resp = requests.get(emu.base_url + "/api/v2/deals", headers=headers)  # x-token-cost 10
            assert resp.status_code == 200 and resp.headers["x-daily-ratelimit-token-limit"] == "45"
            seen.append(_remaining(resp))
        assert seen == [35, 25, 15, 5]
        assert _remaining(requests.get(emu.base_url + "/v1/leads", headers=principals[1])) == 0  # 20 > 5: floors
        for headers in principals:  # one spent it, all are refused
            resp = requests.get(emu.base_url + "/api/v2/deals/1", headers=headers)
            assert resp.status_code == 429 and _remaining(resp) == 0
        stats = emu.stats()
        # tokens = the x-token-cost of every admitted request: the last one (20) overshot the 5 that were left
        assert stats["tokens_total"] == 60 and stats["today"]["tokens"] == 60
        assert stats["today"]["rate_limited_429_daily"] == 4 and stats["today"]["rate_limited_429_burst"] == 0


def test_once_the_budget_is_spent_every_authenticated_request_is_a_429_whatever_it_asks():
    narrow = {"secret": "narrow-secret", "scopes": ["base"]}
    with Emulator(seed=1, scale=50, daily_budget=10, oauth_clients={"client-id": "client-secret",
                                                                      "narrow-app": narrow}) as emu:
        token = {"x-api-token": "test-token"}
        assert requests.get(emu.base_url + "/api/v2/persons", headers=token).status_code == 200  # 10: all of it
        narrow_headers = _oauth_headers(emu, "narrow-app", "narrow-secret")
        attempts = [
            ("GET", "/api/v2/deals", token), ("GET", "/api/v2/deals/1", token), ("GET", "/v1/users/me", token),
            ("GET", "/v1/mailbox/mailThreads?folder=inbox", token), ("GET", "/api/v2/deals?limit=501", token),
            ("GET", "/api/v2/deals/999999", token), ("GET", "/api/v2/no-such-path", token),
            ("POST", "/api/v2/deals", token), ("GET", "/api/v2/deals", narrow_headers),  # scope mismatch otherwise
            ("GET", "/v1/leads", _oauth_headers(emu)),
        ]
        for method, path, headers in attempts:
            resp = requests.request(method, emu.base_url + path, headers=headers)
            assert resp.status_code == 429, (method, path, resp.status_code)
            assert resp.headers["x-daily-ratelimit-token-limit"] == "10" and _remaining(resp) == 0
            assert resp.json()["errorCode"] == 429 and resp.json()["success"] is False
        # no credentials: the gateway cannot tell the company, so its 401 comes first (and carries no budget)
        anonymous = requests.get(emu.base_url + "/api/v2/deals")
        assert anonymous.status_code == 401 and "x-daily-ratelimit-token-remaining" not in anonymous.headers
        today = emu.stats()["today"]
        assert today["rate_limited_429_daily"] == len(attempts) == today["rate_limited_429"]
        assert today["tokens"] == 10 and today["requests"] == len(attempts) + 2


def test_every_answer_to_an_authenticated_request_carries_the_daily_headers_and_only_documented_calls_cost():
    narrow = {"secret": "narrow-secret", "scopes": ["base"]}
    with Emulator(seed=1, scale=50, daily_budget=1000, oauth_clients={"client-id": "client-secret",
                                                                        "narrow-app": narrow}) as emu:
        token = {"x-api-token": "test-token"}
        expected = [  # (method, path, headers, status, cost)
            ("GET", "/api/v2/deals", token, 200, 10), ("GET", "/api/v2/deals/1", token, 200, 1),
            ("GET", "/api/v2/deals?limit=501", token, 400, 10), ("GET", "/api/v2/deals/999999", token, 404, 1),
            ("GET", "/api/v2/no-such-path", token, 404, 0), ("DELETE", "/api/v2/deals/1", token, 405, 0),
            ("GET", "/api/v2/deals", _oauth_headers(emu, "narrow-app", "narrow-secret"), 403, 0),
            ("GET", "/v1/recents?since_timestamp=2026-01-01 00:00:00", _oauth_headers(emu), 200, 20),
        ]
        left = 1000
        for method, path, headers, status, cost in expected:
            resp = requests.request(method, emu.base_url + path, headers=headers)
            left -= cost
            assert (resp.status_code, _remaining(resp)) == (status, left), (method, path)
            assert resp.headers["x-daily-ratelimit-token-limit"] == "1000"
    with Emulator(seed=1, scale=50) as emu:  # no budget configured: no daily headers
        resp = requests.get(emu.base_url + "/api/v2/deals", headers={"x-api-token": "test-token"})
        assert resp.status_code == 200 and "x-daily-ratelimit-token-limit" not in resp.headers


def test_the_budget_resets_at_midnight_in_the_servers_time_zone_not_at_utc_midnight():
    zone = ZoneInfo("America/New_York")
    clock = Clock(dt.datetime(2026, 11, 20, 18, 30, tzinfo=zone))  # 23:30 UTC
    with Emulator(seed=1, scale=50, daily_budget=20, timezone="America/New_York", clock=clock) as emu:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        url = emu.base_url + "/api/v2/deals"
        assert [s.get(url).status_code for _ in range(3)] == [200, 200, 429]
        clock.set(dt.datetime(2026, 11, 21, 0, 30, tzinfo=dt.timezone.utc))  # UTC midnight passed, 19:30 in NY
        assert s.get(url).status_code == 429
        clock.set(dt.datetime(2026, 11, 20, 23, 59, 59, tzinfo=zone))
        assert s.get(url).status_code == 429
        clock.set(dt.datetime(2026, 11, 21, 0, 0, 1, tzinfo=zone))  # the server's midnight
        resp = s.get(url)
        assert resp.status_code == 200 and _remaining(resp) == 10
        stats = emu.stats()
        assert stats["day"] == 1 and stats["today"] == {
            "day": 1, "date": "2026-11-21", "requests": 1, "tokens": 10, "rate_limited_429": 0,
            "rate_limited_429_burst": 0, "rate_limited_429_daily": 0, "blocked_403_html": 0, "first_daily_429_at": None}
        first_429 = stats["days"][0].pop("first_daily_429_at")
        assert isinstance(first_429, float) and abs(first_429 - time.time()) < 60  # wall clock: how fast a read stops
        assert stats["days"] == [{"day": 0, "date": "2026-11-20", "requests": 5, "tokens": 20, "rate_limited_429": 3,
                                  "rate_limited_429_burst": 0, "rate_limited_429_daily": 3, "blocked_403_html": 0}]
        clock.set(dt.datetime(2026, 11, 24, 9, 0, tzinfo=zone))  # three midnights later, no traffic in between
        assert emu.stats()["day"] == 4 and emu.stats()["today"]["date"] == "2026-11-24"


def test_the_new_day_hook_stands_in_for_midnight_and_the_reset_hook_still_works():
    clock = Clock(dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc))
    with Emulator(seed=1, scale=50, daily_budget=10, clock=clock) as emu:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        url = emu.base_url + "/api/v2/deals"
        for hook in ("/_emulator/budget/new_day", "/_emulator/budget/reset"):
            assert [s.get(url).status_code for _ in range(2)] == [200, 429]
            answer = requests.post(emu.base_url + hook)
            assert answer.status_code == 200 and answer.json()["ok"] is True
        assert [s.get(url).status_code for _ in range(2)] == [200, 429]
        emu.new_day()
        assert _remaining(s.get(url)) == 0
        stats = requests.get(emu.base_url + "/_emulator/stats").json()
        assert stats["day"] == 3 and stats["today"]["date"] == "2026-11-20"  # the clock did not move
        assert [d["rate_limited_429_daily"] for d in stats["days"]] == [1, 1, 1]
        requests.post(emu.base_url + "/_emulator/stats/reset")
        assert emu.stats()["today"]["requests"] == 0 and emu.stats()["days"] == [] and emu.stats()["day"] == 3


def test_daily_429s_count_as_hammering_for_api_tokens_but_oauth_is_never_blocked():
    with Emulator(seed=1, scale=50, daily_budget=10, block_after=3, block_seconds=60) as emu:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        url = emu.base_url + "/api/v2/stages"  # cost 5
        statuses = [s.get(url).status_code for _ in range(8)]
        assert statuses[:2] == [200, 200] and statuses[2:6] == [429] * 4 and statuses[6:] == [403, 403]
        blocked = s.get(url)
        assert blocked.headers["Content-Type"].startswith("text/html") and "Cloudflare" in blocked.text
        oauth = _oauth_headers(emu)
        assert {requests.get(url, headers=oauth).status_code for _ in range(10)} == {429}
        today = emu.stats()["today"]
        assert today["blocked_403_html"] == 3 and today["rate_limited_429_daily"] == 14


def test_default_thresholds_leave_a_client_alone_that_sends_a_handful_of_requests_after_its_first_daily_429():
    with Emulator(seed=1, scale=50, daily_budget=10) as emu:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        url = emu.base_url + "/api/v2/deals"
        assert s.get(url).status_code == 200
        assert [s.get(url).status_code for _ in range(8)] == [429] * 8
        assert emu.stats()["today"]["blocked_403_html"] == 0


def test_faults_error_html_drop_truncate_latency_and_reset():
    with Emulator(seed=1, scale=50) as emu:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        url = emu.base_url + "/api/v2/pipelines"
        requests.post(emu.base_url + "/_emulator/faults", json={"error_every": 2})
        codes = [s.get(url).status_code for _ in range(4)]
        assert codes == [200, 500, 200, 500]
        err = emu.set_faults(reset=True)
        assert err["error_every"] is None
        emu.set_faults(error_every=1, error_status=502)
        resp = s.get(url)
        assert resp.status_code == 502 and resp.headers["Content-Type"].startswith("text/html")
        emu.set_faults(reset=True, html_every=1)
        assert s.get(url).status_code == 503
        emu.set_faults(reset=True, drop_every=1)
        with pytest.raises(requests.ConnectionError):
            requests.get(url, headers={"x-api-token": "test-token"})
        emu.set_faults(reset=True, truncate_every=1)
        resp = requests.get(url, headers={"x-api-token": "test-token"})
        assert resp.status_code == 200
        with pytest.raises(ValueError):
            json.loads(resp.text)
        emu.set_faults(reset=True, latency_ms=300)
        t = time.monotonic()
        assert s.get(url).status_code == 200 and time.monotonic() - t >= 0.3
        requests.post(emu.base_url + "/_emulator/faults", json={})
        assert s.get(url).status_code == 200
        assert emu.stats()["faults_injected"] == {"error": 3, "html": 1, "drop": 1, "truncate": 1}


def test_stats_count_requests_statuses_and_reset():
    with Emulator(seed=1, scale=50) as emu:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        s.get(emu.base_url + "/api/v2/deals?limit=5")
        s.get(emu.base_url + "/api/v2/deals?limit=500")
        s.get(emu.base_url + "/api/v2/deals/1")
        s.get(emu.base_url + "/api/v2/deals?limit=501")
        stats = requests.get(emu.base_url + "/_emulator/stats").json()
        assert stats["requests"]["GET /api/v2/deals"] == 3 and stats["requests"]["GET /api/v2/deals/{id}"] == 1
        assert stats["statuses"] == {"200": 3, "400": 1}
        assert stats["tokens_by_path"] == {"GET /api/v2/deals": 30, "GET /api/v2/deals/{id}": 1}
        assert stats["tokens_total"] == 31
        requests.post(emu.base_url + "/_emulator/stats/reset")
        assert emu.stats()["requests"] == {}


def test_same_seed_gives_the_same_account_and_another_seed_does_not():
    a, b, c = Emulator(seed=21, scale=150), Emulator(seed=21, scale=150), Emulator(seed=22, scale=150)
    for entity in ("deals", "persons", "leads", "notes", "activities", "products", "organizations"):
        assert a.truth(entity) == b.truth(entity)
    assert a.truth("deals") != c.truth("deals")
    assert [f.key for f in a.ds.custom["deals"]] == [f.key for f in b.ds.custom["deals"]]


def test_cli_prints_the_url_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "integration_tests.emulator", "--port", "0", "--scale", "50"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("EMULATOR_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        assert requests.get(url + "/api/v2/stages", headers={"x-api-token": "test-token"}).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
