"""The small CDK adapters in source_pipedrive/components.py, each on its own."""

import json

import pytest
import requests

from source_pipedrive.components import LegacyCredentialsMigration, MarkDeleted, RecordsAtPath


def _response(body):
    response = requests.Response()
    response._content = json.dumps(body).encode()
    response.status_code = 200
    return response


@pytest.mark.parametrize(
    "body, path, expected",
    [
        ({"success": True, "data": [{"id": 1}, {"id": 2}]}, ["data"], [{"id": 1}, {"id": 2}]),
        ({"success": True, "data": {"id": 7}}, ["data"], [{"id": 7}]),
        ({"success": True, "data": None}, ["data"], []),
        ({"success": True}, ["data"], []),
        ({"success": True, "data": {"goals": [{"id": "g1"}]}}, ["data", "goals"], [{"id": "g1"}]),
        ({"success": True, "data": []}, ["data", "goals"], []),
    ],
    ids=["a list yields its items", "an object is one record", "null is no record", "a missing key is no record",
         "a nested path", "a nested path through a list is no record"],
)
def test_records_at_path_reads_pipedrive_envelopes(body, path, expected):
    extractor = RecordsAtPath(field_path=path, config={}, parameters={})
    assert list(extractor.extract_records(_response(body))) == expected


def test_an_unknown_legacy_authorization_is_left_for_spec_validation_to_name():
    config = {"authorization": {"auth_type": "Magic"}}
    LegacyCredentialsMigration().transform(config)
    assert config == {"authorization": {"auth_type": "Magic"}}


@pytest.mark.parametrize(
    "record, mark",
    [
        ({"id": 1, "is_deleted": True, "update_time": "2024-05-01T09:00:00Z"}, "2024-05-01T09:00:00Z"),
        ({"id": 2, "is_deleted": False, "update_time": "2024-05-01T09:00:00Z"}, None),
        ({"id": 3, "update_time": "2024-05-01T09:00:00Z"}, None),
    ],
    ids=["deleted: marked with its deletion time", "live: unmarked", "no flag: unmarked"],
)
def test_mark_deleted_sets_the_cdc_column_only_on_deleted_records(record, mark):
    MarkDeleted(parameters={}).transform(record)
    assert record.get("_ab_cdc_deleted_at") == mark


@pytest.mark.parametrize(
    "record, expected",
    [({"user_id": 7, "add_time": "x"}, {"user_id": 7, "add_time": "x", "followed_user_id": 3}),
     ({"user_id": 7, "followed_user_id": 5}, {"user_id": 7, "followed_user_id": 5})],
    ids=["the parent's id is added", "a value the record already carries is never overwritten"],
)
def test_a_child_record_gets_its_parent_s_id_without_losing_its_own_fields(record, expected):
    from airbyte_cdk.sources.types import StreamSlice

    from source_pipedrive.components import ParentId

    ParentId(parameters={"parent_field": "followed_user_id"}).transform(
        record, stream_slice=StreamSlice(partition={"parent_id": 3, "parent_slice": {}}, cursor_slice={}))
    assert record == expected


def test_a_permission_set_s_id_stays_a_string():
    from airbyte_cdk.sources.types import StreamSlice

    from source_pipedrive.components import ParentId

    record = {"user_id": 1}
    ParentId(parameters={"parent_field": "permission_set_id", "parent_id_type": "string"}).transform(
        record, stream_slice=StreamSlice(partition={"parent_id": "5f2b9e4c", "parent_slice": {}}, cursor_slice={}))
    assert record["permission_set_id"] == "5f2b9e4c"


def test_v1_times_in_declared_date_time_fields_become_rfc_3339_and_nothing_else_changes():
    from source_pipedrive.components import UtcTimestamps

    schema = {"properties": {
        "update_time": {"type": ["null", "string"], "format": "date-time"},
        "old_value": {"type": ["null", "string"]},
        "due_date": {"type": ["null", "string"], "format": "date"},
        "data": {"type": ["null", "object"], "properties": {"add_time": {"format": "date-time"}}},
        "parties": {"type": "array", "items": {"properties": {"time": {"format": "date-time"}}}},
    }}
    record = {"update_time": "2023-02-22 08:24:35", "old_value": "2023-02-22 08:24:35", "due_date": "2023-02-22",
              "data": {"add_time": "2020-01-01 00:00:00"}, "parties": [{"time": "2021-05-05 10:11:12"}, {"time": None}]}
    UtcTimestamps().transform(record, schema)
    assert record == {"update_time": "2023-02-22T08:24:35Z", "old_value": "2023-02-22 08:24:35", "due_date": "2023-02-22",
                      "data": {"add_time": "2020-01-01T00:00:00Z"}, "parties": [{"time": "2021-05-05T10:11:12Z"}, {"time": None}]}
    already = {"update_time": "2023-02-22T08:24:35Z"}
    UtcTimestamps().transform(already, schema)
    assert already == {"update_time": "2023-02-22T08:24:35Z"}


@pytest.mark.parametrize("sync_mode, ends_quietly", [("incremental", True), ("full_refresh", False)])
def test_an_incremental_read_the_budget_stops_ends_at_its_highest_update_time_and_a_full_refresh_fails(
        sync_mode, ends_quietly):
    from types import SimpleNamespace

    from airbyte_cdk.sources.types import StreamSlice

    from source_pipedrive.sync import BudgetSpent
    from source_pipedrive.tracking import CheckpointedRead

    class Pages:
        def read_records(self, schema, stream_slice):
            yield {"id": 1, "update_time": "2024-01-01T00:00:00Z"}
            yield {"id": 2, "update_time": "2024-01-02T00:00:00Z"}
            raise BudgetSpent("spent")

    handed = {}
    cursor = SimpleNamespace(cursor_field=SimpleNamespace(cursor_field_key="update_time"), _concurrent_state={"legacy": {}},
                             _most_recent_cursor_value_per_partition=handed, observe=lambda record: None,
                             _connector_state_converter=SimpleNamespace(parse_value=lambda value: value))
    read = CheckpointedRead(retriever=Pages(), config={}, parameters={"name": "deals", "sync_mode": sync_mode}, cursor=cursor)
    stream_slice = StreamSlice(partition={}, cursor_slice={"start_time": "2000-01-01T00:00:00Z"})
    records, failed = [], False
    try:
        for record in read.read_records({}, stream_slice):
            records.append(record["id"])
    except BudgetSpent:
        failed = True
    assert records == [1, 2] and failed is not ends_quietly
    assert handed == {stream_slice: "2024-01-02T00:00:00Z"}  # what the CDK closes the partition with
