"""Deals are read with their deleted rows (status=...,deleted) and a deleted deal carries _ab_cdc_deleted_at.

Deduplicating destinations drop or flag a record with _ab_cdc_deleted_at set, so a deal deleted in Pipedrive stops
inflating the pipeline in the warehouse. Pipedrive sets a deleted record's update_time to the deletion time, which
is also what an incremental sync picks it up by.
"""

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
