"""Every page is read to the last one, at Pipedrive's maximum of 500 records a page, and each record exactly once."""

import requests_mock

from builders import API, config, data_requests, mock_no_custom_fields, read, v1_page, v2_page


def test_v2_cursor_pagination_follows_next_cursor_to_the_last_page():
    pages = [
        v2_page([{"id": i} for i in range(1, 501)], next_cursor="cursor-2"),
        v2_page([{"id": i} for i in range(501, 1001)], next_cursor="cursor-3"),
        v2_page([{"id": 1001}]),
    ]
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/activities", [{"json": p} for p in pages])
        output = read(config(), ["activities"])
    requests = data_requests(http)
    assert [r.qs.get("cursor") for r in requests] == [None, ["cursor-2"], ["cursor-3"]]
    assert all(r.qs["limit"] == ["500"] for r in requests)
    assert [r.record.data["id"] for r in output.records] == list(range(1, 1002))


def test_a_v2_page_without_additional_data_is_the_last_one():
    with requests_mock.Mocker() as http:
        http.get(f"{API}/api/v2/pipelines", json={"success": True, "data": [{"id": 1}, {"id": 2}]})
        output = read(config(), ["pipelines"])
    assert [r.record.data["id"] for r in output.records] == [1, 2]
    assert len(http.request_history) == 1


def test_field_metadata_streams_are_paged_and_keyed_by_field_code():
    pages = [v2_page([{"field_code": "title", "field_name": "Title"}], next_cursor="n"),
             v2_page([{"field_code": "abc", "field_name": "Custom"}])]
    with requests_mock.Mocker() as http:
        http.get(f"{API}/api/v2/dealFields", [{"json": p} for p in pages])
        output = read(config(), ["deal_fields"])
    assert [r.record.data["field_code"] for r in output.records] == ["title", "abc"]


def test_v1_offset_pagination_follows_next_start_and_stops_on_more_items_false():
    pages = [
        v1_page([{"id": i, "update_time": "2024-01-01 00:00:00"} for i in range(1, 501)], start=0, more=True),
        v1_page([{"id": 501, "update_time": "2024-01-02 00:00:00"}], start=500, more=False),
    ]
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/notes", [{"json": p} for p in pages])
        output = read(config(), ["notes"])
    assert [r.qs.get("start") for r in http.request_history] == [None, ["500"]]
    assert [r.qs["limit"] for r in http.request_history] == [["500"], ["500"]]
    assert [r.record.data["id"] for r in output.records] == list(range(1, 502))


def test_an_empty_v1_list_answers_null_data_and_yields_no_record():
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/notes", json={"success": True, "data": None,
                                           "additional_data": {"pagination": {"start": 0, "limit": 500,
                                                                              "more_items_in_collection": False}}})
        output = read(config(), ["notes"])
    assert output.records == []
    assert len(http.request_history) == 1
