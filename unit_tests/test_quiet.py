"""An unchanged sync builds only the streams it reads: before building, the command line's read (build_in_read) reads
/v1/recents once and reports each incremental stream with nothing to read as started and complete, its notes moved
on (source._skip_unchanged); each stream's rule comes from the manifest (quiet.py)."""

import datetime as dt
import json

import pytest
import requests_mock
import yaml
from airbyte_cdk.models import AirbyteStreamStatus, SyncMode
from airbyte_cdk.test import entrypoint_wrapper

from builders import API, catalog, config, mock_no_custom_fields, v1_page, v2_page
from source_pipedrive import SourcePipedrive, quiet
from source_pipedrive.id_sets import encode_ids
from source_pipedrive.source import load_manifest, manifest_path
from source_pipedrive.sync import Sync
from source_pipedrive.tracking import scan_due
from test_changes import _ago, _noted, _recents, _v1
from test_oauth import TOKEN_URL, oauth_config, token_response



def _read(cfg, streams, state, sync_mode=SyncMode.incremental, modes=None):
    cat = catalog(*streams, sync_mode=sync_mode)
    for entry in cat.streams:
        entry.sync_mode = (modes or {}).get(entry.stream.name, sync_mode)
    source = SourcePipedrive(catalog=cat, config=cfg, state=state, build_in_read=True)
    output = entrypoint_wrapper.read(source, cfg, cat, state)
    assert not output.errors, output.get_formatted_error_message()
    return output


def _statuses(output, stream):
    return [status.name for status in output.get_stream_statuses(stream)]


def _notes(output, stream):
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages
              if m.state.stream.stream_descriptor.name == stream]
    return states[-1]["pipedrive_sync"] if states else None


def _scanned(hours_ago):
    return {"deletion_scan": {"ids": encode_ids({1, 2}), "scanned_at": _ago(hours=hours_ago)}}


# --- the rules, read off the manifest ---------------------------------------------------------------------------------

def test_the_manifest_s_rules_name_reference_data_and_the_streams_recents_reports_on():
    rules = quiet.rules(load_manifest())
    assert rules["currencies"] == quiet.Rule(quiet.REFERENCE)
    assert rules["persons"] == quiet.Rule(quiet.CHANGES, "person", scans=True), "a due deletion scan reads persons anyway"
    assert rules["deals"] == quiet.Rule(quiet.CHANGES, "deal"), "deleted deals come flagged: no scan"
    assert rules["deal_flow"] == quiet.Rule(quiet.CHANGES, "deal"), "a child stream: recents on its parents"
    assert rules["user_followers"].item == "user"
    assert "mail" not in rules and "deal_fields" in rules and rules["deal_fields"].kind == quiet.REFERENCE


def test_a_rule_follows_the_manifest_s_references_and_overrides():
    manifest = {"definitions": {
        "tracked": {"type": "CustomRetriever", "class_name": "source_pipedrive.tracking.DeletionScan",
                    "changes_requester": {"type": "HttpRequester"}},
        "refreshed": {"type": "CustomRetriever", "class_name": "source_pipedrive.tracking.RefreshedRead"},
        "parents": {"type": "CustomPartitionRouter", "class_name": "source_pipedrive.components.ParentsInOrder"},
        "streams": {
            "scanned": {"$parameters": {"changes_item": "person"}, "retriever": {"$ref": "#/definitions/tracked"}},
            "filtered": {"$parameters": {"changes_item": "deal"},
                         "retriever": {"$ref": "#/definitions/tracked", "client_side_filter": True}},
            "no_item": {"$parameters": {"changes_item": None}, "retriever": {"$ref": "#/definitions/tracked"}},
            "reference": {"retriever": {"$ref": "#/definitions/refreshed"}},
            "children": {"retriever": {"partition_router": {
                "type": "GroupingPartitionRouter",
                "underlying_partition_router": {"$ref": "#/definitions/parents", "changes_item": "product",
                                                "changes_requester": {"type": "HttpRequester"}}}}},
            "refreshed_children": {"retriever": {"partition_router": {"$ref": "#/definitions/parents", "refresh": True}}},
            "plain": {"retriever": {"type": "SimpleRetriever"}},
        }}}
    assert quiet.rules(manifest) == {
        "scanned": quiet.Rule(quiet.CHANGES, "person", scans=True),
        "filtered": quiet.Rule(quiet.CHANGES, "deal", scans=False),  # compares what it lists: no separate scan
        "reference": quiet.Rule(quiet.REFERENCE),
        "children": quiet.Rule(quiet.CHANGES, "product"),
        "refreshed_children": quiet.Rule(quiet.REFERENCE),
    }


@pytest.mark.parametrize("state, options, due", [
    (None, {}, True),  # never scanned
    ({}, {}, True),
    (_scanned(1), {}, False),  # the default interval is a day
    (_scanned(25), {}, True),
    (_scanned(1), {"deletion_scan_interval_hours": 0.5}, True),
    ({"deletion_scan": {"ids": "not an id set", "scanned_at": _ago(hours=1)}}, {}, True),  # unreadable: rebuilt
])
def test_a_deletion_scan_falls_due_as_the_stream_itself_decides(state, options, due):
    Sync.start(config(**options))
    assert scan_due(state, config(**options), dt.datetime.now(dt.timezone.utc)) is due


# --- the read -------------------------------------------------------------------------------------------------------

def test_an_unchanged_sync_sends_only_the_feed_and_reports_each_stream_complete_with_its_note_moved_on():
    checked = _ago(hours=1)
    state = (_noted("deals", {"update_time": checked, **_scanned(2)}, checked_through=checked)
             + _noted("currencies", {"_ab_refreshed_at": _ago(hours=2)}, refreshed_at=_ago(hours=2), keys=[[1]]))
    with requests_mock.Mocker() as http:  # nothing else mocked: a stream built would ask for its fields, and fail
        http.get(f"{API}/v1/recents", json=_recents(("person", 7, _ago(minutes=5), {})))
        output = _read(config(), ["deals", "currencies"], state)
    assert [r.path for r in http.request_history] == ["/v1/recents"]
    assert http.request_history[0].qs["since_timestamp"] == [_v1(checked).lower()]
    for stream in ("deals", "currencies"):
        assert _statuses(output, stream) == ["STARTED", "COMPLETE"]
    assert _notes(output, "deals")["checked_through"] > checked
    assert output.records == []
    assert "Not read, Pipedrive reporting no change since the last sync: deals" in Sync.current().cost_lines()
    assert "Not read, their reference_refresh_hours not yet passed: currencies" in Sync.current().cost_lines()


def test_a_changed_stream_is_built_and_read_while_the_unchanged_ones_are_still_skipped():
    checked = _ago(hours=1)
    state = (_noted("deals", {"update_time": checked, **_scanned(2)}, checked_through=checked)
             + _noted("persons", {"update_time": checked, **_scanned(2)}, checked_through=checked))
    changed = {"id": 3, "update_time": _ago(minutes=30), "custom_fields": {}}
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/v1/recents", json=_recents(("deal", 3, changed["update_time"], {})))
        http.get(f"{API}/api/v2/deals", json=v2_page([changed]))
        output = _read(config(), ["deals", "persons"], state)
    paths = [r.path for r in http.request_history]
    assert paths.count("/v1/recents") == 1, "the feed read before building serves the built streams too"
    assert "/api/v2/persons" not in paths and "/api/v2/personfields" not in paths
    assert [r.record.data["id"] for r in output.records] == [3]
    assert _statuses(output, "persons") == ["STARTED", "COMPLETE"] and _statuses(output, "deals")[-1] == "COMPLETE"


def test_a_due_deletion_scan_a_full_refresh_and_a_first_sync_are_read_even_without_a_change():
    checked = _ago(hours=1)
    state = (_noted("persons", {"update_time": checked, **_scanned(30)}, checked_through=checked)
             + _noted("currencies", {"_ab_refreshed_at": _ago(hours=2)}, refreshed_at=_ago(hours=2), keys=[[1]]))
    currency = {"id": 1, "code": "EUR", "name": "Euro"}
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/v1/recents", json=_recents())
        http.get(f"{API}/api/v2/persons", json=v2_page([]))
        http.get(f"{API}/v1/currencies", json=v1_page([currency]))
        http.get(f"{API}/api/v2/deals", json=v2_page([]))
        http.get(f"{API}/api/v2/deals/archived", json=v2_page([]))
        output = _read(config(), ["persons", "currencies", "deals"], state, modes={"currencies": SyncMode.full_refresh})
    paths = [r.path for r in http.request_history]
    assert "/api/v2/persons" in paths, "the deletion scan fell due"
    assert "/v1/currencies" in paths, "full refresh reads whole every sync"
    assert "/api/v2/deals" in paths, "no note yet: a first sync reads"
    assert [r.record.data["id"] for r in output.records if r.record.stream == "currencies"] == [1]


def test_a_first_sync_sends_no_feed_request():
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/persons", json=v2_page([]))
        _read(config(), ["persons"], None)
    assert "/v1/recents" not in [r.path for r in http.request_history]


def test_a_feed_that_fails_leaves_every_stream_to_read_as_usual():
    checked = _ago(hours=1)
    state = _noted("persons", {"update_time": checked, **_scanned(2)}, checked_through=checked)
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/v1/recents", status_code=400,
                 json={"success": False, "error": "Bad request", "errorCode": 400, "error_info": "", "data": None})
        http.get(f"{API}/api/v2/persons", json=v2_page([{"id": 9, "update_time": _ago(minutes=3), "custom_fields": {}}]))
        output = _read(config(), ["persons"], state)
    assert "/api/v2/persons" in [r.path for r in http.request_history]
    assert [r.record.data["id"] for r in output.records] == [9]


def test_a_refresh_token_rotated_by_the_feed_read_signs_in_the_streams_built_after_it(capsys):
    checked = _ago(hours=1)
    state = _noted("deals", {"update_time": checked, **_scanned(2)}, checked_through=checked)
    changed = {"id": 3, "update_time": _ago(minutes=30), "custom_fields": {}}
    with requests_mock.Mocker() as http:
        # Pipedrive rotates the refresh token: the first one works once.
        http.post(TOKEN_URL, [{"json": token_response(refresh_token="rt-rotated")},
                              {"status_code": 400, "json": {"error": "invalid_grant"}}])
        mock_no_custom_fields(http)
        http.get(f"{API}/v1/recents", json=_recents(("deal", 3, changed["update_time"], {})))
        http.get(f"{API}/api/v2/deals", json=v2_page([changed]))
        output = _read(oauth_config(), ["deals"], state)
    assert [r.record.data["id"] for r in output.records] == [3]
    assert [r.method for r in http.request_history].count("POST") == 1, "one refresh for the whole read"
    assert {r.headers["Authorization"] for r in http.request_history if r.method == "GET"} == {"Bearer at-new-111"}
    controls = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"type":"CONTROL"')]
    assert controls[-1]["control"]["connectorConfig"]["config"]["credentials"]["refresh_token"] == "rt-rotated"


def test_the_manifest_is_parsed_once_and_each_source_gets_a_copy_of_its_own():
    first = load_manifest()
    first["definitions"]["streams"].pop("deals")
    assert "deals" in load_manifest()["definitions"]["streams"], "a change to one copy reaches no other source"
    assert load_manifest() == yaml.safe_load(manifest_path().read_text())
