"""Deals are read with their deleted rows (status=...,deleted) and a deleted deal carries _ab_cdc_deleted_at.

Deduplicating destinations drop or flag a record with _ab_cdc_deleted_at set, so a deal deleted in Pipedrive stops
inflating the pipeline in the warehouse. Pipedrive sets a deleted record's update_time to the deletion time, which
is also what an incremental sync picks it up by.
"""

import re

import pytest
import requests_mock
from airbyte_cdk.models import SyncMode

from builders import API, config, data_requests, deal, mock_no_custom_fields, read, v2_page


@pytest.mark.parametrize("stream, path", [("deals", "deals"), ("deals_archived", "deals/archived")])
def test_deal_streams_ask_for_deleted_deals_and_mark_them(stream, path):
    records = [deal(1, "2024-05-01T09:00:00Z", status="deleted", is_deleted=True),
               deal(2, "2024-05-01T09:00:00Z", status="open", is_deleted=False)]
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/{path}", json=v2_page(records))
        output = read(config(), [stream], SyncMode.incremental)
    assert data_requests(http)[0].qs["status"] == ["open,won,lost,deleted"]
    marks = {r.record.data["id"]: r.record.data.get("_ab_cdc_deleted_at") for r in output.records}
    assert marks == {1: "2024-05-01T09:00:00Z", 2: None}


def test_other_v2_streams_send_no_status_filter():
    # Pipedrive's v2 is strict about parameters: persons has no status filter and would answer 400.
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/persons", json=v2_page([]))
        read(config(), ["persons"], SyncMode.incremental)
    assert "status" not in data_requests(http)[0].qs


# --- Deletion scans: data sets whose lists leave deleted records out -------------------------------------------

import datetime as _dt

from builders import stream_state, v1_page
from source_pipedrive.id_sets import decode_ids, encode_ids


def _ago(hours: float) -> str:
    return (_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _person(id: int, update_time: str) -> dict:
    return {"id": id, "name": f"Person {id}", "update_time": update_time, "is_deleted": False, "custom_fields": {}}


def _saved(ids, scanned_hours_ago: float, cursor: str = "2024-06-01T00:00:00Z") -> dict:
    return {"update_time": cursor, "deletion_scan": {"ids": encode_ids(ids), "scanned_at": _ago(scanned_hours_ago)}}


def _v2_by_query(listing, read, alive=()):
    """One mocked v2 list: the scan (updated_since = start date), the incremental read, and `ids=` lookups."""
    def answer(request, context):
        if "ids" in request.qs:
            wanted = {int(x) for x in request.qs["ids"][0].split(",")}
            return v2_page([_person(i, "2024-06-02T00:00:00Z") for i in sorted(wanted & set(alive))])
        if request.qs["updated_since"][0].startswith("2000-01-01"):
            return v2_page(listing)
        return v2_page(read)
    return answer


def _final_state(output, stream):
    return [s.state.stream.stream_state.__dict__ for s in output.state_messages][-1]


def test_id_sets_survive_the_round_trip_through_state_text():
    ids = {1, 2, 3, 10, 10_000_000, 123_456_789_012}
    assert decode_ids(encode_ids(ids)) == ids
    assert decode_ids(encode_ids([])) == set()
    dense = set(range(1, 200_001))
    assert len(encode_ids(dense)) < 5_000  # 200k consecutive ids: 5 kB, not the 1.4 MB of a JSON list
    with pytest.raises(ValueError):
        decode_ids("[1, 2, 3]")


def test_a_scan_emits_each_vanished_record_once_as_a_deletion_and_a_restored_one_as_a_record():
    listing = [_person(1, "2024-01-01T00:00:00Z"), _person(3, "2024-06-01T00:00:00Z"),
               _person(4, "2023-05-05T00:00:00Z")]  # 4: never emitted, older than the state: restored
    read_page = [_person(3, "2024-06-01T00:00:00Z")]
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/persons", json=_v2_by_query(listing, read_page))
        output = read(config(deletion_scan_interval_hours=24), ["persons"], SyncMode.incremental,
                      state=stream_state("persons", _saved({1, 2, 3}, scanned_hours_ago=30)))
    records = [r.record.data for r in output.records]
    deletions = [r for r in records if r.get("_ab_cdc_deleted_at")]
    assert [d["id"] for d in deletions] == [2]
    assert deletions[0]["is_deleted"] is True and deletions[0]["update_time"] == deletions[0]["_ab_cdc_deleted_at"]
    assert sorted(r["id"] for r in records if not r.get("_ab_cdc_deleted_at")) == [3, 4]
    state = _final_state(output, "persons")
    assert decode_ids(state["deletion_scan"]["ids"]) == {1, 3, 4}
    # The cursor follows the newest record read (one second past it, that second being long over): a deletion's stamp
    # is the scan's time, and moving the cursor to it would skip records updated while the sync ran.
    assert state["update_time"] == "2024-06-01T00:00:01Z"
    lookups = [r for r in data_requests(http) if "ids" in r.qs]
    assert [r.qs["ids"] for r in lookups] == [["2"]]


def test_a_record_the_scan_missed_but_the_ids_lookup_finds_is_not_reported_deleted():
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/persons", json=_v2_by_query([_person(1, "2024-01-01T00:00:00Z")], [], alive=[2]))
        output = read(config(deletion_scan_interval_hours=24), ["persons"], SyncMode.incremental,
                      state=stream_state("persons", _saved({1, 2}, scanned_hours_ago=30)))
    assert [r.record.data for r in output.records] == []
    assert decode_ids(_final_state(output, "persons")["deletion_scan"]["ids"]) == {1, 2}


def test_no_scan_runs_before_the_interval_has_passed_and_new_ids_join_the_set():
    saved = _saved({1, 2}, scanned_hours_ago=2)
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/persons", json=_v2_by_query([], [_person(9, "2024-06-03T00:00:00Z")]))
        output = read(config(deletion_scan_interval_hours=24), ["persons"], SyncMode.incremental,
                      state=stream_state("persons", saved))
    assert [r.qs["updated_since"] for r in data_requests(http)] == [["2024-06-01t00:00:00z"]]  # (mock lowercases)
    state = _final_state(output, "persons")
    assert decode_ids(state["deletion_scan"]["ids"]) == {1, 2, 9}
    assert state["deletion_scan"]["scanned_at"] == saved["deletion_scan"]["scanned_at"]  # the clock keeps running


def test_a_first_sync_remembers_what_it_read_without_scanning():
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/persons", json=v2_page([_person(5, "2024-01-01T00:00:00Z"), _person(6, "2024-01-02T00:00:00Z")]))
        output = read(config(), ["persons"], SyncMode.incremental)
    assert len(data_requests(http)) == 1
    assert decode_ids(_final_state(output, "persons")["deletion_scan"]["ids"]) == {5, 6}


def test_state_of_an_earlier_version_gets_a_baseline_scan_that_reports_nothing_deleted():
    listing = [_person(1, "2024-01-01T00:00:00Z"), _person(2, "2023-01-01T00:00:00Z")]
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/persons", json=_v2_by_query(listing, []))
        output = read(config(), ["persons"], SyncMode.incremental,
                      state=stream_state("persons", {"update_time": "2024-06-01T00:00:00Z"}))
    assert [r.record.data for r in output.records] == []  # nothing known before: nothing is new or gone
    assert decode_ids(_final_state(output, "persons")["deletion_scan"]["ids"]) == {1, 2}


def test_pipelines_find_deletions_on_every_sync_from_the_list_they_read_anyway():
    pipelines = [{"id": 1, "name": "Sales", "update_time": "2024-01-01T00:00:00Z", "is_deleted": False},
                 {"id": 3, "name": "New", "update_time": "2024-07-01T00:00:00Z", "is_deleted": False}]
    with requests_mock.Mocker() as http:
        http.get(f"{API}/api/v2/pipelines", json=v2_page(pipelines))
        output = read(config(), ["pipelines"], SyncMode.incremental,
                      state=stream_state("pipelines", _saved({1, 2}, scanned_hours_ago=1)))
    records = [r.record.data for r in output.records]
    assert [(r["id"], bool(r.get("_ab_cdc_deleted_at"))) for r in records] == [(3, False), (2, True)]
    assert len(data_requests(http)) == 1
    assert "updated_since" not in data_requests(http)[0].qs


def test_v1_notes_confirm_a_deletion_with_a_second_listing():
    # Offset paging sorted by update_time can skip a note when another moves to the end mid-scan: note 2 is
    # missing from the first listing only, so only note 3 is reported deleted.
    listings = [[{"id": 1, "update_time": "2024-01-01 00:00:00"}],
                [{"id": 1, "update_time": "2024-01-01 00:00:00"}, {"id": 2, "update_time": "2024-01-01 00:00:00"}]]
    def answer(request, context):
        if request.qs["updated_since"][0].startswith("2000-01-01"):
            return v1_page(listings.pop(0))
        return v1_page([])
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/notes", json=answer)
        output = read(config(deletion_scan_interval_hours=0), ["notes"], SyncMode.incremental,
                      state=stream_state("notes", _saved({1, 2, 3}, scanned_hours_ago=1)))
    deletions = [r.record.data for r in output.records]
    assert [d["id"] for d in deletions] == [3]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", deletions[0]["update_time"])  # RFC 3339, as every record


def test_an_activity_type_marked_deleted_carries_the_cdc_mark():
    types = [{"id": 1, "key_string": "call", "active_flag": True, "update_time": "2024-01-01 00:00:00"},
             {"id": 2, "key_string": "lunch", "active_flag": False, "update_time": "2024-05-01 10:00:00"}]
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/activityTypes", json={"success": True, "data": types})
        output = read(config(), ["activity_types"])
    assert {r.record.data["id"]: r.record.data.get("_ab_cdc_deleted_at") for r in output.records} == \
        {1: None, 2: "2024-05-01T10:00:00Z"}


def test_a_checkpoint_carries_the_ids_emitted_so_far_so_a_resumed_sync_still_reports_their_deletion():
    from types import SimpleNamespace

    from airbyte_cdk.sources.types import StreamSlice
    from source_pipedrive.tracking import DeletionScan

    class Inner:
        def read_records(self, schema, stream_slice):
            yield from ({"id": i, "update_time": f"2024-06-0{i}T00:00:00Z"} for i in (5, 6, 7))

    legacy = {"update_time": "2024-06-01T00:00:00Z",
              "deletion_scan": {"ids": encode_ids({1, 2}), "scanned_at": _ago(1)}}
    cursor = SimpleNamespace(_concurrent_state={"legacy": legacy},
                             cursor_field=SimpleNamespace(cursor_field_key="update_time"))
    retriever = DeletionScan(retriever=Inner(), config={}, parameters={"name": "persons"}, cursor=cursor,
                             scan_start="2000-01-01T00:00:00Z", every_records=2)
    out = list(retriever.read_records({}, StreamSlice(partition={}, cursor_slice={"start_time": "2024-06-01T00:00:00Z"})))
    assert [m["id"] if isinstance(m, dict) else "STATE" for m in out] == [5, 6, "STATE", 7]
    checkpoint = out[2].state.stream.stream_state.__dict__
    assert checkpoint["update_time"] == "2024-06-06T00:00:00Z"
    assert decode_ids(checkpoint["deletion_scan"]["ids"]) == {1, 2, 5, 6}
    assert checkpoint["deletion_scan"]["scanned_at"] == legacy["deletion_scan"]["scanned_at"]
    assert decode_ids(legacy["deletion_scan"]["ids"]) == {1, 2, 5, 6, 7}  # what the CDK's final state will carry


def test_while_the_budget_holds_a_sync_back_the_scan_waits_up_to_a_week():
    stopped = {"stopped_at": _ago(20), "reason": "budget", "seen_at": _ago(20), "remaining": 10, "limit": 90000}

    def state(hours_ago):
        return stream_state("persons", {**_saved({1, 2}, scanned_hours_ago=hours_ago), "pipedrive_sync": {"budget": stopped}})

    def scanned(output):
        return _final_state(output, "persons")["deletion_scan"]["scanned_at"]

    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/v1/users/me", json={"success": True, "data": {"id": 1}},
                 headers={"x-daily-ratelimit-token-remaining": "90000", "x-daily-ratelimit-token-limit": "90000"})
        http.get(f"{API}/api/v2/persons", json=_v2_by_query([_person(1, "2024-01-01T00:00:00Z")], [], alive=[]))
        day_old = state(30)
        held = read(config(deletion_scan_interval_hours=24), ["persons"], SyncMode.incremental, state=day_old)
        assert not held.records, "no scan a day after the last: person 2 is not reported deleted yet"
        assert scanned(held) == day_old[0].stream.stream_state.deletion_scan["scanned_at"]
        week = read(config(deletion_scan_interval_hours=24), ["persons"], SyncMode.incremental, state=state(24 * 7 + 1))
    assert [r.record.data["id"] for r in week.records if r.record.data.get("_ab_cdc_deleted_at")] == [2]
