"""Incremental syncs on update_time: inclusive updated_since, ascending order, the boundary second re-read, legacy state.

Pipedrive timestamps have whole seconds and many records share one, so restarting strictly after the cursor would
lose the records updated later in the same second. We restart at the cursor itself (updated_since is inclusive),
unless that second ended long before the read (SETTLED_SECONDS): then no record can still get it, and the state
moves one second past it, so an unchanged sync reads and emits nothing twice.
"""

import datetime

import pytest
import requests_mock
from airbyte_cdk.models import SyncMode

from builders import API, config, data_requests, deal, mock_no_custom_fields, read, stream_state, v1_page, v2_page


def cursor(output):
    """The stream's cursor state, without the connector's own notes (ledger.py)."""
    return {k: v for k, v in output.most_recent_state.stream_state.__dict__.items() if k != "pipedrive_sync"}


def _sync(pages, state=None, stream="deals"):
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/{stream}", [{"json": page} for page in pages])
        output = read(config(), [stream], SyncMode.incremental, state=state)
    return output, data_requests(http)


def test_a_first_incremental_sync_reads_everything_in_ascending_update_time():
    output, requests = _sync([v2_page([deal(1, "2024-01-01T00:00:00Z")])])
    assert requests[0].qs["sort_by"] == ["update_time"]
    assert requests[0].qs["sort_direction"] == ["asc"]
    assert requests[0].qs["updated_since"] == ["2000-01-01t00:00:00z"]
    assert [r.record.data["id"] for r in output.records] == [1]


def test_state_is_the_highest_update_time_read():
    pages = [
        v2_page([deal(1, "2024-01-01T00:00:00Z"), deal(2, "2024-03-05T10:00:00Z")], next_cursor="p2"),
        v2_page([deal(3, "2024-03-05T10:00:00Z")]),
    ]
    output, _ = _sync(pages)
    assert cursor(output) == {"update_time": "2024-03-05T10:00:01Z"}, "a second long past: the next sync starts after it"


def test_a_recent_boundary_second_is_read_again_by_the_next_sync():
    recent = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    output, _ = _sync([v2_page([deal(1, "2024-01-01T00:00:00Z"), deal(2, recent)])])
    assert cursor(output) == {"update_time": recent}


def test_the_next_sync_restarts_at_the_boundary_second_and_loses_none_of_its_records():
    # Deal 4 was updated in the same second as the cursor, after the previous sync had read deals 2 and 3.
    boundary = [deal(2, "2024-03-05T10:00:00Z"), deal(3, "2024-03-05T10:00:00Z"), deal(4, "2024-03-05T10:00:00Z")]
    output, requests = _sync([v2_page(boundary + [deal(5, "2024-03-06T00:00:00Z")])],
                             state=stream_state("deals", {"update_time": "2024-03-05T10:00:00Z"}))
    assert requests[0].qs["updated_since"] == ["2024-03-05t10:00:00z"]
    assert [r.record.data["id"] for r in output.records] == [2, 3, 4, 5]
    assert cursor(output) == {"update_time": "2024-03-06T00:00:01Z"}


def test_a_sync_with_nothing_new_keeps_the_state_where_it_was():
    output, _ = _sync([v2_page([])], state=stream_state("deals", {"update_time": "2024-03-05T10:00:00Z"}))
    assert output.records == []
    assert cursor(output) == {"update_time": "2024-03-05T10:00:00Z"}


def test_state_written_by_airbytes_2x_connector_is_accepted():
    output, requests = _sync([v2_page([deal(9, "2024-03-05T10:00:01Z")])],
                             state=stream_state("deals", {"update_time": "2024-03-05 10:00:00"}))
    assert requests[0].qs["updated_since"] == ["2024-03-05t10:00:00z"]
    assert cursor(output) == {"update_time": "2024-03-05T10:00:02Z"}


@pytest.mark.parametrize("stream", ["pipelines", "stages"])
def test_streams_without_updated_since_read_all_but_emit_only_changed_records(stream):
    records = [{"id": 1, "update_time": "2024-01-01T00:00:00Z"}, {"id": 2, "update_time": "2024-06-01T00:00:00Z"}]
    output, requests = _sync([v2_page(records)], state=stream_state(stream, {"update_time": "2024-03-01T00:00:00Z"}),
                             stream=stream)
    assert "updated_since" not in requests[0].qs  # the API answers 400 to it on these endpoints
    assert [r.record.data["id"] for r in output.records] == [2]


def test_a_long_stream_checkpoints_its_state_after_every_50000_records():
    # A sync killed at record 60,000 of 101,000 restarts from the 50,000th record's second, not from the start.
    import datetime as dt

    from airbyte_cdk.models import Type

    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    stamp = lambda i: (base + dt.timedelta(seconds=i // 3)).strftime("%Y-%m-%dT%H:%M:%SZ")  # 3 per second
    pages = 202

    def answer(request, context):
        n = int(request.qs.get("cursor", ["0"])[0])
        records = [deal(n * 500 + i + 1, stamp(n * 500 + i)) for i in range(500)]
        return v2_page(records, next_cursor=str(n + 1) if n + 1 < pages else None)

    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/deals", json=answer)
        output = read(config(), ["deals"], SyncMode.incremental)
    seen, checkpoints = 0, []
    for message in output.get_message_iterator():
        if message.type == Type.RECORD:
            seen += 1
        elif message.type == Type.STATE:
            checkpoints.append((seen, message.state.stream.stream_state.__dict__["update_time"]))
    assert seen == pages * 500
    assert checkpoints[:2] == [(50_000, stamp(49_999)), (100_000, stamp(99_999))]
    assert checkpoints[-1] == (seen, stamp(seen + 2))  # the CDK's own final state: one second past the last, settled


def test_state_is_the_highest_update_time_even_when_the_api_sends_records_out_of_order():
    # The cursor's bookkeeping runs once per partition (TrackingRetriever), so it must keep the maximum, not the last.
    pages = [v2_page([deal(1, "2024-03-05T10:00:00Z"), deal(2, "2024-01-01T00:00:00Z")], next_cursor="p2"),
             v2_page([deal(3, "2024-02-01T00:00:00Z")])]
    output, _ = _sync(pages)
    assert [r.record.data["id"] for r in output.records] == [1, 2, 3]
    assert cursor(output) == {"update_time": "2024-03-05T10:00:01Z"}


def test_a_record_without_update_time_is_emitted_and_named_in_a_warning_without_moving_the_state():
    undated = {**deal(2, "x"), "update_time": None}
    output, _ = _sync([v2_page([deal(1, "2024-01-01T00:00:00Z"), undated])])
    assert [r.record.data["id"] for r in output.records] == [1, 2]
    assert cursor(output) == {"update_time": "2024-01-01T00:00:01Z"}
    assert any("Could not find cursor field `update_time`" in log.log.message for log in output.logs)


def test_v1_timestamps_keep_their_order_and_format_in_the_state():
    note = lambda i, t: {"id": i, "content": "n", "update_time": t, "add_time": "2020-01-01 00:00:00"}  # noqa: E731
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/notes", json=v1_page([note(1, "2024-03-05 10:00:00"), note(2, "2024-01-01 00:00:00")]))
        output = read(config(), ["notes"], SyncMode.incremental)
    assert [r.record.data["id"] for r in output.records] == [1, 2]
    assert output.most_recent_state.stream_state.__dict__["update_time"] == "2024-03-05T10:00:01Z"
