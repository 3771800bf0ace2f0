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
