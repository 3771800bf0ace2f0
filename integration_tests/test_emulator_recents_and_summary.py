"""/v1/recents fidelity (openapi v1 getRecents, pipedrive-api.md §4.2) and /v1/deals/summary[/archived] (openapi v1
getDealsSummary / getArchivedDealsSummary): parameters, windows, shapes, costs, scopes and the daily budget.
"""
from __future__ import annotations

import base64
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `integration_tests` has no __init__.py

from integration_tests.emulator import Emulator  # noqa: E402
from integration_tests.emulator.data import ARCHIVED, DELETED  # noqa: E402
from integration_tests.test_emulator_fidelity import _resolve, to_json_schema  # noqa: E402

TOKEN = {"x-api-token": "test-token"}


def v1(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


class Clock:
    def __init__(self):
        self.now = int(time.time()) + 2 * 86400

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def clock():
    return Clock()


@pytest.fixture(scope="module")
def emu(clock):
    narrow = {"secret": "narrow-secret", "scopes": ["base", "deals:read"]}
    base_only = {"secret": "base-secret", "scopes": ["base"]}
    with Emulator(seed=9, scale=400, clock=clock, oauth_clients={"client-id": "client-secret",
                                                                  "narrow-app": narrow, "base-app": base_only}) as e:
        yield e


@pytest.fixture(scope="module")
def http():
    s = requests.Session()
    s.headers.update(TOKEN)
    return s


def recents(http, emu, since, expect=200, **params):
    resp = http.get(emu.base_url + "/v1/recents", params={"since_timestamp": since, **params})
    assert resp.status_code == expect, resp.text[:300]
    return resp.json()


# ---- /v1/recents ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("since", ["", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01 00:00",
                                   "2026-01-01 00:00:00.000", "2026-13-01 00:00:00", "1767225600"])
def test_since_timestamp_is_required_in_its_one_documented_form(emu, http, since):
    body = recents(http, emu, since, expect=400)
    assert body["success"] is False
    assert http.get(emu.base_url + "/v1/recents").status_code == 400


def test_changes_strictly_after_since_timestamp_and_data_null_when_none(emu, http, clock):
    clock.now += 60
    ids = emu.mutate(update_fraction=0.02, entities=["persons"])["persons"]["updated"]
    before = recents(http, emu, v1(clock.now - 1), items="person", limit=500)
    assert {r["id"] for r in before["data"]} == set(ids)
    assert before["additional_data"]["last_timestamp_on_page"] == v1(clock.now)
    empty = recents(http, emu, v1(clock.now))
    assert empty["data"] is None  # like the other legacy v1 feeds when nothing matches (§4.1)
    assert empty["additional_data"] == {"since_timestamp": v1(clock.now), "last_timestamp_on_page": v1(clock.now),
                                        "pagination": {"start": 0, "limit": 100, "more_items_in_collection": False}}


def test_limit_defaults_to_100_and_is_clamped_to_500(emu, http, clock):
    clock.now += 60
    emu.mutate(update_fraction=1.0, entities=["deals", "persons"])  # 800 changed records
    since = v1(clock.now - 1)
    page = recents(http, emu, since)
    assert len(page["data"]) == 100 and page["additional_data"]["pagination"]["next_start"] == 100
    big = recents(http, emu, since, limit=10000)
    assert len(big["data"]) == 500 and big["additional_data"]["pagination"]["limit"] == 500
    rest = recents(http, emu, since, limit=500, start=500)
    assert rest["additional_data"]["pagination"]["more_items_in_collection"] is False
    assert big["data"] + rest["data"] == emu.catalogue_truth("recents", since_timestamp=clock.now - 1)
    assert recents(http, emu, since, expect=400, limit=0)["success"] is False


def test_items_filter_and_leads_never_appear(emu, http, clock):
    clock.now += 60
    emu.mutate(update_fraction=0.1, entities=["leads", "products", "activities"])
    since = v1(clock.now - 1)
    everything = recents(http, emu, since, limit=500)["data"]
    assert {r["item"] for r in everything} == {"product", "activity"}  # leads are not a recents item type
    both = recents(http, emu, since, limit=500, items="product,activity")["data"]
    assert both == everything
    assert {r["item"] for r in recents(http, emu, since, limit=500, items="product")["data"]} == {"product"}
    recents(http, emu, since, expect=400, items="lead")
    recents(http, emu, since, expect=400, items="deal,leads")


def test_deleted_and_archived_deals_appear_as_deal_items(emu, http, clock):
    flags = emu.ds.tables["deals"].flags
    archived = next(k + 1 for k in range(len(flags)) if flags[k] == ARCHIVED)
    person = next(k + 1 for k in range(emu.ds.tables["persons"].n) if not emu.ds.tables["persons"].flags[k])
    clock.now += 60
    emu.delete_records("deals", [archived])
    emu.delete_records("persons", [person])
    got = {(r["item"], r["id"]): r["data"] for r in recents(http, emu, v1(clock.now - 1), limit=500)["data"]}
    deal = got["deal", archived]
    assert deal["is_archived"] is True and deal["deleted"] is True and deal["status"] == "deleted"
    assert deal["update_time"] == v1(clock.now)
    assert got["person", person]["active_flag"] is False
    assert flags[archived - 1] == ARCHIVED | DELETED


def test_recents_charges_20_tokens(emu, http):
    before = emu.stats()["tokens_by_path"].get("GET /v1/recents", 0)
    recents(http, emu, "2026-01-01 00:00:00")
    assert emu.stats()["tokens_by_path"]["GET /v1/recents"] - before == 20


# ---- /v1/deals/summary ------------------------------------------------------------------------------------------------

def expected_summary(emu, archived=False, statuses=("open", "won", "lost"), owner=None, pipeline=None, stage=None):
    """Recomputed from the deal truth: counts and value sums per currency (values rounded per group)."""
    stages = {s["id"]: s for s in emu.ds.stages}
    groups = {}
    for d in emu.truth("deals").values():
        if d["is_deleted"] or d["is_archived"] != archived or d["status"] not in statuses:
            continue
        if (owner and d["owner_id"] != owner) or (pipeline and d["pipeline_id"] != pipeline) or (
                stage and d["stage_id"] != stage):
            continue
        prob = d["probability"] if d["probability"] is not None else stages[d["stage_id"]]["deal_probability"]
        g = groups.setdefault(d["currency"], [0.0, 0, 0.0])
        g[0] += d["value"]
        g[1] += 1
        g[2] += round(d["value"] * prob / 100, 2)
    return {(cur, i): x for cur, (v, n, w) in groups.items() for i, x in enumerate((round(v, 2), n, round(w, 2)))}


def summary(http, emu, archived=False, expect=200, **params):
    path = "/v1/deals/summary/archived" if archived else "/v1/deals/summary"
    resp = http.get(emu.base_url + path, params=params)
    assert resp.status_code == expect, resp.text[:300]
    return resp.json()


def _got(body):
    d = body["data"]
    return {(cur, i): v for cur, x in d["values_total"].items()
            for i, v in enumerate((x["value"], x["count"], d["weighted_values_total"][cur]["value"]))}


@pytest.mark.parametrize("archived", [False, True])
def test_summary_matches_the_deals_and_the_openapi_schema(specs, emu, http, archived):
    body = summary(http, emu, archived)
    path = "/deals/summary/archived" if archived else "/deals/summary"
    spec = specs["v1"]
    schema = _resolve(spec, spec["paths"][path]["get"]["responses"]["200"])["content"]["application/json"]["schema"]
    jsonschema.validate(body, to_json_schema(spec, schema))
    want = expected_summary(emu, archived)
    assert _got(body) == pytest.approx(want)
    data = body["data"]
    assert data["total_count"] == sum(v for (_, i), v in want.items() if i == 1) > 0
    assert set(data) == {"values_total", "weighted_values_total", "total_count", "total_currency_converted_value",
                         "total_weighted_currency_converted_value", "total_currency_converted_value_formatted",
                         "total_weighted_currency_converted_value_formatted"}
    assert data["total_currency_converted_value"] == pytest.approx(
        sum(x["value_converted"] for x in data["values_total"].values()), abs=0.01)
    eur = data["values_total"].get("EUR")
    if eur:
        assert eur["value_converted"] == eur["value"] and eur["value_formatted"].startswith("€")
    assert data["total_currency_converted_value_formatted"].startswith("€")


def test_summary_filters(emu, http):
    for status in ("open", "won", "lost"):
        assert _got(summary(http, emu, status=status)) == pytest.approx(expected_summary(emu, statuses=(status,)))
    assert _got(summary(http, emu, user_id=2)) == pytest.approx(expected_summary(emu, owner=2))
    assert _got(summary(http, emu, pipeline_id=2)) == pytest.approx(expected_summary(emu, pipeline=2))
    assert _got(summary(http, emu, stage_id=3)) == pytest.approx(expected_summary(emu, stage=3))
    assert _got(summary(http, emu, True, status="won", pipeline_id=1)) == pytest.approx(
        expected_summary(emu, True, ("won",), pipeline=1))
    # filter_id: user_id is not considered; filter 1 = open deals, filter 2 = deals of user 1 (emulated filters)
    assert _got(summary(http, emu, filter_id=1, user_id=2)) == pytest.approx(expected_summary(emu, statuses=("open",)))
    assert _got(summary(http, emu, filter_id=2, user_id=2)) == pytest.approx(expected_summary(emu, owner=1))
    assert summary(http, emu, filter_id=1, status="won")["data"]["total_count"] == 0
    summary(http, emu, expect=400, filter_id=4)  # an organization filter
    summary(http, emu, expect=400, filter_id=999)
    summary(http, emu, expect=400, status="deleted")
    summary(http, emu, expect=400, user_id="me")


def test_summary_follows_deletes_and_edits(emu, http, clock):
    before = summary(http, emu)["data"]["total_count"]
    flags = emu.ds.tables["deals"].flags
    live = next(k + 1 for k in range(len(flags)) if not flags[k])
    clock.now += 60
    emu.delete_records("deals", [live])
    assert summary(http, emu)["data"]["total_count"] == before - 1
    emu.mutate(update_fraction=0.2, entities=["deals"])
    assert _got(summary(http, emu)) == pytest.approx(expected_summary(emu))


def _bearer(emu, client, secret):
    auth = base64.b64encode(f"{client}:{secret}".encode()).decode()
    token = requests.post(emu.base_url + "/oauth/token", headers={"Authorization": "Basic " + auth},
                          data={"grant_type": "refresh_token",
                                "refresh_token": emu.issue_oauth_refresh_token(client)}).json()["access_token"]
    return {"Authorization": "Bearer " + token}


def test_summary_costs_and_scopes(emu, http):
    for path, cost in (("/v1/deals/summary", 40), ("/v1/deals/summary/archived", 80)):
        key = f"GET {path}"
        before = emu.stats()["tokens_by_path"].get(key, 0)
        assert http.get(emu.base_url + path).status_code == 200
        assert http.get(emu.base_url + "/api" + path).status_code == 200  # /api/v1 as well
        assert emu.stats()["tokens_by_path"][key] - before == 2 * cost
        assert requests.get(emu.base_url + path, headers=_bearer(emu, "narrow-app", "narrow-secret")).status_code == 200
        denied = requests.get(emu.base_url + path, headers=_bearer(emu, "base-app", "base-secret"))
        assert denied.status_code == 403 and denied.json()["error"] == "Scope and URL mismatch"


def test_summary_draws_on_the_daily_budget():
    with Emulator(seed=1, scale=50, daily_budget=100) as emu:
        url = emu.base_url + "/v1/deals/summary/archived"
        first = requests.get(url, headers=TOKEN)
        assert first.status_code == 200 and first.headers["x-daily-ratelimit-token-remaining"] == "20"
        assert requests.get(url, headers=TOKEN).status_code == 200  # 80 > 20 left: admitted, the balance floors
        spent = requests.get(emu.base_url + "/v1/deals/summary", headers=TOKEN)
        assert spent.status_code == 429 and spent.headers["x-daily-ratelimit-token-remaining"] == "0"
