"""Pagination, filtering and incremental semantics of the emulator (pipedrive-api.md §2.1, §2.2, §2.6, §4.1, §8).

These are the behaviours a connector's correctness depends on: every record exactly once per scan, inclusive
`updated_since` and exclusive `updated_until` at second granularity, strict v2 validation, archived/deleted rules.
"""
from __future__ import annotations

import calendar
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `integration_tests` has no __init__.py

from integration_tests.emulator import Emulator  # noqa: E402
from integration_tests.emulator.common import decode_cursor, v2_time  # noqa: E402


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=11, scale=1200) as e:
        yield e


@pytest.fixture(scope="module")
def http(emu):
    s = requests.Session()
    s.headers["x-api-token"] = "test-token"
    return s


def scan_v2(http, url, **params):
    """All pages of a v2 list; returns (records, number of pages)."""
    records, pages, cursor = [], 0, None
    while True:
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        resp = http.get(url, params=q)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        records += body["data"]
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return records, pages


def visible_deals(emu, archived=False, statuses=("open", "won", "lost")):
    return {i for i, d in emu.truth("deals").items() if d["is_archived"] == archived and d["status"] in statuses}


@pytest.mark.parametrize("sort_by,direction", [("id", "asc"), ("id", "desc"), ("update_time", "asc"),
                                               ("update_time", "desc"), ("add_time", "asc")])
def test_cursor_scan_visits_every_deal_once_and_ends_with_null_cursor(emu, http, sort_by, direction):
    records, pages = scan_v2(http, emu.base_url + "/api/v2/deals", limit=97, sort_by=sort_by,
                             sort_direction=direction)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert set(ids) == visible_deals(emu)
    assert pages == -(-len(ids) // 97)
    keys = [(r[sort_by], r["id"]) for r in records]
    assert keys == sorted(keys, reverse=direction == "desc")


def test_cursor_is_opaque_base64_json_naming_the_first_item_of_the_next_page(emu, http):
    first = http.get(emu.base_url + "/api/v2/deals", params={"limit": 5}).json()
    cursor = decode_cursor(first["additional_data"]["next_cursor"])
    second = http.get(emu.base_url + "/api/v2/deals", params={"limit": 5, "cursor": first["additional_data"]["next_cursor"]}).json()
    assert cursor == {"field": "id", "fieldValue": second["data"][0]["id"], "sortDirection": "asc",
                      "id": second["data"][0]["id"]}


def test_limit_defaults_to_100_and_above_500_is_a_400(emu, http):
    assert len(http.get(emu.base_url + "/api/v2/persons").json()["data"]) == 100
    assert len(http.get(emu.base_url + "/api/v2/persons?limit=500").json()["data"]) == 500
    resp = http.get(emu.base_url + "/api/v2/persons?limit=501")
    assert resp.status_code == 400
    body = resp.json()
    assert body["success"] is False and body["data"] is None and body["additional_data"] is None
    assert "limit" in body["error"] and body["error_info"]


@pytest.mark.parametrize("url", [
    "/api/v2/deals?updated_since=2024-01-01T00:00:00.000Z",  # fractional seconds (§2.1)
    "/api/v2/deals?updated_since=2024-01-01 00:00:00",  # space separator
    "/api/v2/deals?updated_since=2024-01-01T00:00:00%2B00:00",  # offset instead of Z
    "/api/v2/pipelines?updated_since=2024-01-01T00:00:00Z",  # not a parameter of /pipelines (AB)
    "/api/v2/stages?updated_since=2024-01-01T00:00:00Z",
    "/api/v2/products?updated_until=2024-01-01T00:00:00Z",  # products have no updated_until
    "/api/v2/activities?type=call",  # undocumented filter (3P CLI changelog)
    "/api/v2/deals?start=0",  # a v1 parameter
    "/api/v2/deals?include_option_labels=1",  # v2 booleans are true/false only
    "/api/v2/deals?owner_id=abc",
    "/api/v2/deals?sort_by=title",
    "/api/v2/deals?status=open,archived",
    "/api/v2/deals?cursor=not-a-cursor",
    "/api/v2/deals/products",  # deal_ids is required
])
def test_v2_rejects_undocumented_or_malformed_parameters_with_400(emu, http, url):
    resp = http.get(emu.base_url + url)
    assert resp.status_code == 400, resp.text
    assert resp.json()["success"] is False


def test_v2_prefix_is_required_and_v1_answers_under_both_prefixes(emu, http):
    assert http.get(emu.base_url + "/v2/deals").status_code == 404
    assert http.get(emu.base_url + "/v1/leads?limit=1").json() == http.get(emu.base_url + "/api/v1/leads?limit=1").json()


def _shared_second(emu, entity="deals"):
    truth = emu.truth(entity)
    live = {i: d for i, d in truth.items() if not d["is_deleted"] and not d.get("is_archived")}
    counts = Counter(d["update_time"] for d in live.values())
    second, n = counts.most_common(1)[0]
    assert n >= 2
    return second, {i for i, d in live.items() if d["update_time"] == second}, live


def test_updated_since_is_inclusive_and_updated_until_is_exclusive_at_a_shared_second(emu, http):
    second, at_second, live = _shared_second(emu)
    url = emu.base_url + "/api/v2/deals"
    since = {r["id"] for r in scan_v2(http, url, limit=500, updated_since=second)[0]}
    assert at_second <= since
    assert since == {i for i, d in live.items() if d["update_time"] >= second}
    until = {r["id"] for r in scan_v2(http, url, limit=500, updated_until=second)[0]}
    assert not at_second & until
    assert until == {i for i, d in live.items() if d["update_time"] < second}
    both = {r["id"] for r in scan_v2(http, url, limit=500, updated_since=second, updated_until=second)[0]}
    assert both == set()
    # same filter with id order (no index shortcut) gives the same set
    by_id = {r["id"] for r in scan_v2(http, url, limit=500, updated_since=second, sort_by="id")[0]}
    assert by_id == since


def test_a_bulk_edit_second_holds_more_rows_than_one_page(emu, http):
    # §8.1: second-granularity ties; the account has one bulk-edit second with more rows than limit=5 here
    second, at_second, _ = _shared_second(emu)
    records, pages = scan_v2(http, emu.base_url + "/api/v2/deals", limit=5, sort_by="update_time",
                             updated_since=second, updated_until=v2_time(_epoch(second) + 1))
    assert {r["id"] for r in records} == at_second and pages > 1


def _epoch(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def test_many_records_share_their_update_second(emu):
    truth = emu.truth("persons")
    counts = Counter(d["update_time"] for d in truth.values())
    shared = sum(n for n in counts.values() if n > 1)
    assert shared / len(truth) >= 0.05


def test_archived_deals_only_on_the_archived_endpoint_and_deleted_only_with_status_deleted(emu, http):
    url = emu.base_url + "/api/v2/deals"
    active = {r["id"] for r in scan_v2(http, url, limit=500)[0]}
    archived = {r["id"] for r in scan_v2(http, url + "/archived", limit=500)[0]}
    with_deleted = {r["id"] for r in scan_v2(http, url, limit=500, status="open,won,lost,deleted")[0]}
    deleted_only = scan_v2(http, url, limit=500, status="deleted")[0]
    assert archived and not active & archived
    assert archived == visible_deals(emu, archived=True)
    assert deleted_only and all(r["status"] == "deleted" and r["is_deleted"] for r in deleted_only)
    assert with_deleted == active | {r["id"] for r in deleted_only}
    won = scan_v2(http, url, limit=500, status="won")[0]
    assert won and all(r["status"] == "won" for r in won)


def test_soft_deleted_persons_are_not_listed_but_remain_in_the_truth(emu, http):
    listed = {r["id"] for r in scan_v2(http, emu.base_url + "/api/v2/persons", limit=500)[0]}
    truth = emu.truth("persons")
    deleted = {i for i, p in truth.items() if p["is_deleted"]}
    assert deleted and not listed & deleted and listed | deleted == set(truth)


@pytest.mark.parametrize("param,column", [("owner_id", "owner_id"), ("person_id", "person_id"),
                                          ("org_id", "org_id"), ("pipeline_id", "pipeline_id"),
                                          ("stage_id", "stage_id")])
def test_deal_filters_match_the_truth(emu, http, param, column):
    truth = {i: d for i, d in emu.truth("deals").items() if not d["is_archived"] and not d["is_deleted"]}
    value = Counter(d[column] for d in truth.values() if d[column]).most_common(1)[0][0]
    got = {r["id"] for r in scan_v2(http, emu.base_url + "/api/v2/deals", limit=500, **{param: value})[0]}
    assert got == {i for i, d in truth.items() if d[column] == value}


def test_ids_filter_returns_the_visible_subset_in_sort_order(emu, http):
    resp = http.get(emu.base_url + "/api/v2/organizations", params={"ids": "9,3,5,999999", "sort_direction": "desc"})
    truth = emu.truth("organizations")
    assert [r["id"] for r in resp.json()["data"]] == [i for i in (9, 5, 3) if not truth[i]["is_deleted"]]


def test_activity_filters_done_and_deal(emu, http):
    acts = {i: a for i, a in emu.truth("activities").items() if not a["is_deleted"]}
    done = {r["id"] for r in scan_v2(http, emu.base_url + "/api/v2/activities", limit=500, done="true")[0]}
    assert done == {i for i, a in acts.items() if a["done"]}
    deal = next(a["deal_id"] for a in acts.values() if a["deal_id"])
    got = {r["id"] for r in scan_v2(http, emu.base_url + "/api/v2/activities", limit=500, deal_id=deal)[0]}
    assert got == {i for i, a in acts.items() if a["deal_id"] == deal}


def test_stages_filter_by_pipeline_and_fields_paginate(emu, http):
    stages = http.get(emu.base_url + "/api/v2/stages", params={"pipeline_id": 2}).json()["data"]
    assert len(stages) == 5 and {s["pipeline_id"] for s in stages} == {2}
    fields, pages = scan_v2(http, emu.base_url + "/api/v2/dealFields", limit=7)
    assert pages > 1 and len({f["field_code"] for f in fields}) == len(fields)


def test_deals_products_batch_matches_per_deal_calls(emu, http):
    ids = list(range(1, 60))
    batch = scan_v2(http, emu.base_url + "/api/v2/deals/products", limit=10, deal_ids=",".join(map(str, ids)))[0]
    per_deal = [p for d in ids for p in http.get(emu.base_url + f"/api/v2/deals/{d}/products").json()["data"]]
    assert sorted(p["id"] for p in batch) == sorted(p["id"] for p in per_deal) and batch
    too_many = http.get(emu.base_url + "/api/v2/deals/products", params={"deal_ids": ",".join(map(str, range(1, 102)))})
    assert too_many.status_code == 400


def test_single_entity_404_uses_the_documented_envelope(emu, http):
    resp = http.get(emu.base_url + "/api/v2/deals/99999999")
    assert resp.status_code == 404
    assert resp.json() == {"success": False, "error": "Entity was not found", "error_info": "Object was not found.",
                           "data": None, "additional_data": None}


# ---- v1 offset pagination ----------------------------------------------------------------------------------

def scan_v1(http, url, limit, **params):
    records, start = [], 0
    while True:
        body = http.get(url, params=dict(params, start=start, limit=limit)).json()
        page = body["additional_data"]["pagination"]
        assert page["start"] == start and page["limit"] == limit
        records += body["data"] or []
        if not page["more_items_in_collection"]:
            assert "next_start" not in page
            return records
        assert page["next_start"] == start + limit
        start = page["next_start"]


def test_v1_leads_offset_pages_cover_non_archived_leads_oldest_first(emu, http):
    leads = scan_v1(http, emu.base_url + "/v1/leads", 33)
    truth = emu.truth("leads")
    expected = {k for k, v in truth.items() if not v["is_archived"] and not v["is_deleted"]}
    assert leads and {x["id"] for x in leads} == expected and len(leads) == len(expected)
    assert [x["add_time"] for x in leads] == sorted(x["add_time"] for x in leads)
    archived = scan_v1(http, emu.base_url + "/v1/leads/archived", 50)
    assert archived and all(x["is_archived"] for x in archived)


def test_v1_leads_updated_since_is_inclusive_with_milliseconds(emu, http):
    leads = sorted(emu.truth("leads").values(), key=lambda x: x["update_time"])
    pivot = [x for x in leads if not x["is_archived"] and not x["is_deleted"]][len(leads) // 2]
    got = scan_v1(http, emu.base_url + "/v1/leads", 100, updated_since=pivot["update_time"], sort="update_time ASC")
    assert got[0]["id"] == pivot["id"] or got[0]["update_time"] == pivot["update_time"]
    assert all(x["update_time"] >= pivot["update_time"] for x in got)


def test_v1_limits_are_clamped_to_the_endpoint_maximum(emu, http):
    assert http.get(emu.base_url + "/v1/notes?limit=900").json()["additional_data"]["pagination"]["limit"] == 500
    assert http.get(emu.base_url + "/v1/files?limit=900").json()["additional_data"]["pagination"]["limit"] == 100
    assert http.get(emu.base_url + "/v1/callLogs?limit=900").json()["additional_data"]["pagination"]["limit"] == 50


def test_v1_notes_sort_and_updated_since(emu, http):
    notes = scan_v1(http, emu.base_url + "/v1/notes", 200, sort="update_time DESC")
    assert [n["update_time"] for n in notes] == sorted((n["update_time"] for n in notes), reverse=True)
    pivot = notes[len(notes) // 2]["update_time"]
    since = scan_v1(http, emu.base_url + "/v1/notes", 200, updated_since=pivot.replace(" ", "T") + "Z")
    assert {n["id"] for n in since} == {n["id"] for n in notes if n["update_time"] >= pivot}


# ---- changes during and between scans --------------------------------------------------------------------

def test_mutate_bumps_update_time_and_the_next_incremental_read_sees_exactly_the_changes():
    with Emulator(seed=3, scale=300) as emu:
        http = requests.Session()
        http.headers["x-api-token"] = "test-token"
        before = emu.truth("deals")
        changed = emu.mutate(update_fraction=0.05, add=3, delete_fraction=0.02, entities=["deals"])["deals"]
        after = emu.truth("deals")
        now = {after[i]["update_time"] for i in changed["updated"] + changed["added"] + changed["deleted"]}
        assert len(now) == 1  # same_second=True: one second for the whole call
        stamp = now.pop()
        assert all(before[i]["update_time"] < stamp for i in changed["updated"])
        assert all(after[i]["is_deleted"] and after[i]["status"] == "deleted" for i in changed["deleted"])
        assert all(after[i]["title"] != before[i]["title"] for i in changed["updated"])
        got = scan_v2(http, emu.base_url + "/api/v2/deals", limit=500, updated_since=stamp,
                      status="open,won,lost,deleted")[0]
        assert {r["id"] for r in got} == set(changed["updated"] + changed["added"] + changed["deleted"])
        assert {r["id"]: r for r in got} == {i: after[i] for i in {r["id"] for r in got}}


def test_records_updated_mid_scan_by_update_time_are_revisited_not_skipped():
    with Emulator(seed=5, scale=400) as emu:
        http = requests.Session()
        http.headers["x-api-token"] = "test-token"
        url = emu.base_url + "/api/v2/persons"
        initial = {i for i, p in emu.truth("persons").items() if not p["is_deleted"]}
        seen, cursor, mutated = [], None, False
        while True:
            body = http.get(url, params={"limit": 50, "sort_by": "update_time", **({"cursor": cursor} if cursor else {})}).json()
            seen += [r["id"] for r in body["data"]]
            cursor = body["additional_data"]["next_cursor"]
            if not mutated:  # after page 1, touch records on both sides of the scan position
                emu.mutate(update_fraction=0.2, entities=["persons"])
                mutated = True
            if cursor is None:
                break
        assert initial <= set(seen)  # nothing skipped
        assert len(seen) > len(set(seen))  # rows updated behind the position came back at the end


def test_http_hooks_mutate_and_truth():
    with Emulator(seed=9, scale=100) as emu:
        out = requests.post(emu.base_url + "/_emulator/mutate", json={"update_fraction": 0.1, "entities": ["leads"]}).json()
        lead_id = out["leads"]["updated"][0]
        truth = requests.get(emu.base_url + "/_emulator/truth", params={"entity": "leads"}).json()
        assert truth[lead_id]["title"].endswith("✎1")


def test_renaming_an_org_updates_joined_names_in_notes_but_no_other_record():
    with Emulator(seed=12, scale=300) as emu:
        http = requests.Session()
        http.headers["x-api-token"] = "test-token"
        notes_url = emu.base_url + "/v1/notes"
        before = {n["id"]: n for n in scan_v1(http, notes_url, 500)}  # also fills the render cache
        deals_before, leads_before = emu.truth("deals"), emu.truth("leads")
        emu.mutate(update_fraction=1.0, entities=["organizations"])
        after = {n["id"]: n for n in scan_v1(http, notes_url, 500)}
        renamed = [i for i, n in before.items() if n["organization"]]
        assert renamed
        for i in renamed:
            assert after[i]["organization"]["name"] != before[i]["organization"]["name"]
            assert after[i]["update_time"] == before[i]["update_time"]  # a join, not an edit of the note
        assert emu.truth("deals") == deals_before and emu.truth("leads") == leads_before
