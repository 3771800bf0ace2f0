"""A sync with nothing to fetch costs what changed: /v1/recents read once, streams without changes not read at all
(changes.py); reference data read at most every reference_refresh_hours (tracking.RefreshedRead); a list several
streams need read once (components.SharedPages); the notes that make it work kept in the state (ledger.py).
"""

import datetime as dt

import requests_mock
from airbyte_cdk.models import SyncMode

from builders import API, config, mock_no_custom_fields, read, stream_state, v1_page, v2_page
from source_pipedrive.id_sets import encode_ids
from source_pipedrive.sync import Sync


def _ago(**delta) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _v1(moment: str) -> str:
    return moment.replace("T", " ").rstrip("Z")


def _noted(stream: str, cursor: dict, **notes) -> list:
    return stream_state(stream, {**cursor, "pipedrive_sync": notes})


def _recents(*items) -> dict:
    return v1_page([{"item": kind, "id": rid, "data": {"id": rid, "update_time": _v1(when), **extra}}
                    for kind, rid, when, extra in items])


def _paths(http):
    """The requests sent, field-definition reads aside (a catalog without schemas makes a read plan its columns)."""
    return [r.path for r in http.request_history if not r.path.endswith("fields")]


def _notes(output, stream):
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages
              if m.state.stream.stream_descriptor.name == stream]
    return states[-1]["pipedrive_sync"]


def test_a_stream_pipedrive_reports_no_change_of_sends_no_request_and_its_note_moves_on():
    checked = _ago(hours=1)
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/v1/recents", json=_recents(("person", 7, _ago(minutes=5), {})))
        http.get(f"{API}/api/v2/deals", json=v2_page([]))
        output = read(config(), ["deals"], SyncMode.incremental,
                      state=_noted("deals", {"update_time": "2024-01-01T00:00:00Z"}, checked_through=checked))
    assert _paths(http) == ["/v1/recents"], "only the feed: no deal changed"
    recents = next(r for r in http.request_history if r.path == "/v1/recents")
    assert recents.qs["since_timestamp"] == [_v1(checked).lower()]
    assert output.records == []
    assert _notes(output, "deals")["checked_through"] > checked


def test_a_stream_with_changes_reads_them_and_its_children_visit_only_its_changed_parents():
    checked = _ago(hours=1)
    changed = {"id": 3, "update_time": _ago(minutes=30), "custom_fields": {}, "followers_count": 1}
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/v1/recents", json=_recents(("deal", 3, changed["update_time"], {})))
        http.get(f"{API}/api/v2/deals", json=v2_page([changed]))
        http.get(f"{API}/api/v2/deals/archived", json=v2_page([]))
        http.get(f"{API}/api/v2/deals/3/followers", json=v2_page([{"user_id": 1, "add_time": changed["update_time"]}]))
        parent_state = {"deal_ids": {"update_time": checked}, "archived_deal_ids": {"update_time": checked}}
        state = (_noted("deals", {"update_time": checked}, checked_through=checked)
                 + _noted("deal_followers", {"use_global_cursor": True, "state": {"add_time": checked},
                                             "parent_state": parent_state}, checked_through=checked))
        output = read(config(), ["deals", "deal_followers"], SyncMode.incremental, state=state)
    assert _paths(http).count("/v1/recents") == 1, "one feed read for every stream"
    assert "/api/v2/deals/3/followers" in _paths(http)
    assert {(r.record.stream, r.record.data.get("id") or r.record.data.get("deal_id")) for r in output.records} == \
        {("deals", 3), ("deal_followers", 3)}


def test_children_of_unchanged_parents_visit_none():
    checked = _ago(hours=1)
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/recents", json=_recents())
        parent_state = {"deal_ids": {"update_time": checked}, "archived_deal_ids": {"update_time": checked}}
        read(config(), ["deal_flow"], SyncMode.incremental,
             state=_noted("deal_flow", {"use_global_cursor": True, "state": {"timestamp": checked},
                                        "parent_state": parent_state}, checked_through=checked))
    assert _paths(http) == ["/v1/recents"], "not even the deal list"


def test_a_note_older_than_recents_reaches_reads_as_before_without_asking_recents():
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/deals", json=v2_page([]))
        read(config(), ["deals"], SyncMode.incremental,
             state=_noted("deals", {"update_time": "2024-01-01T00:00:00Z"}, checked_through=_ago(days=40)))
    assert "/v1/recents" not in _paths(http) and "/api/v2/deals" in _paths(http)


def test_a_person_reported_changed_but_no_longer_listed_and_confirmed_gone_arrives_deleted_at_once():
    checked = _ago(hours=1)
    saved = {"update_time": "2024-01-01T00:00:00Z",
             "deletion_scan": {"ids": encode_ids({4, 5}), "scanned_at": _ago(hours=2)}}
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/v1/recents", json=_recents(("person", 5, _ago(minutes=20), {"active_flag": False})))
        http.get(f"{API}/api/v2/persons", [{"json": v2_page([])}, {"json": v2_page([])}])  # read; ids=5: nothing
        output = read(config(), ["persons"], SyncMode.incremental, state=_noted("persons", saved, checked_through=checked))
    deleted = [r.record.data for r in output.records if r.record.data.get("_ab_cdc_deleted_at")]
    assert [d["id"] for d in deleted] == [5]
    assert [r.qs.get("ids") for r in http.request_history if r.path == "/api/v2/persons"][-1] == ["5"]


def test_reference_data_is_read_at_most_every_reference_refresh_hours_and_what_vanished_arrives_deleted():
    currency = lambda i: {"id": i, "code": f"C{i}", "name": f"Currency {i}"}  # noqa: E731
    recent = _noted("currencies", {"_ab_refreshed_at": _ago(hours=2)}, refreshed_at=_ago(hours=2), keys=[[1], [2]])
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/currencies", json=v1_page([currency(1)]))
        quiet = read(config(reference_refresh_hours=24), ["currencies"], SyncMode.incremental, state=recent)
        assert _paths(http) == [] and quiet.records == []
        due = read(config(reference_refresh_hours=1), ["currencies"], SyncMode.incremental, state=recent)
    records = {r.record.data["id"]: r.record.data for r in due.records}
    assert set(records) == {1, 2} and records[2]["_ab_cdc_deleted_at"] and not records[1].get("_ab_cdc_deleted_at")
    assert records[1]["_ab_refreshed_at"] == records[2]["_ab_cdc_deleted_at"]
    assert _notes(due, "currencies")["keys"] == [[1]]


def test_a_list_a_stream_and_its_children_s_parent_list_both_need_is_requested_once():
    checked = _ago(hours=1)
    project = {"id": 1, "title": "P", "update_time": _ago(minutes=30)}
    with requests_mock.Mocker() as http:
        http.get(f"{API}/api/v2/projects", json=v2_page([project]))
        http.get(f"{API}/api/v2/projects/archived", json=v2_page([]))
        http.get(f"{API}/api/v2/projects/1/changelog", json=v2_page([]))
        read(config(), ["projects", "project_changelog"], SyncMode.incremental,
             state=_noted("projects", {"update_time": checked}, checked_through=checked))
    assert _paths(http).count("/api/v2/projects") == 1



def test_while_the_budget_holds_a_sync_back_a_refresh_waits_up_to_a_week_so_the_unfinished_streams_get_the_tokens():
    currency = {"id": 1, "code": "C1", "name": "Currency 1"}
    stopped = {"stopped_at": _ago(hours=20), "reason": "budget", "seen_at": _ago(hours=20), "remaining": 10, "limit": 90000}

    def state(age_hours):
        return _noted("currencies", {"_ab_refreshed_at": _ago(hours=age_hours)}, refreshed_at=_ago(hours=age_hours),
                      keys=[[1]], budget=stopped)

    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/users/me", json={"success": True, "data": {"id": 1}},
                 headers={"x-daily-ratelimit-token-remaining": "90000", "x-daily-ratelimit-token-limit": "90000"})
        http.get(f"{API}/v1/currencies", json=v1_page([currency]))
        held = read(config(reference_refresh_hours=24), ["currencies"], SyncMode.incremental, state=state(30))
        assert "/v1/currencies" not in _paths(http) and held.records == []
        assert "Not refreshed until the streams the daily budget stopped have caught up (at most a week): currencies" \
            in Sync.current().cost_lines(), "the end-of-read lines say why it was not read"
        week = read(config(reference_refresh_hours=24), ["currencies"], SyncMode.incremental, state=state(24 * 7 + 1))
    assert [r.record.data["id"] for r in week.records] == [1], "a week-old copy is refreshed even so"


def test_a_user_reported_changed_is_read_and_the_users_not_changed_are_not_taken_for_deleted():
    checked = _ago(hours=1)
    user = lambda i, modified: {"id": i, "name": f"User {i}", "modified": _v1(modified), "active_flag": True,  # noqa: E731
                                "is_deleted": False}
    saved = {"modified": "2024-01-01T00:00:00Z", "deletion_scan": {"ids": encode_ids({1, 2, 3}), "scanned_at": _ago(hours=2)}}
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/recents", json=_recents(("user", 2, _ago(minutes=20), {"modified": _v1(_ago(minutes=20))})))
        http.get(f"{API}/v1/users", json=v1_page([user(1, "2023-05-01T00:00:00Z"), user(2, _ago(minutes=20)),
                                                 user(3, "2023-06-01T00:00:00Z")]))
        output = read(config(), ["users"], SyncMode.incremental, state=_noted("users", saved, checked_through=checked))
    assert [(r.record.data["id"], bool(r.record.data.get("_ab_cdc_deleted_at"))) for r in output.records] == [(2, False)]
