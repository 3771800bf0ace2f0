"""Tripwires for the airbyte-cdk internals source_pipedrive/adapters.py relies on, on the real streams of the
manifest: a CDK release that changes one of them fails here, not silently in a user's sync. Before moving the
airbyte-cdk pin in pyproject.toml, run this file (docs/CONTRIBUTING.md)."""

import pytest
from airbyte_cdk.models import SyncMode

from builders import catalog, config
from source_pipedrive import SourcePipedrive, adapters
from source_pipedrive.tracking import CheckpointedRead


def _stream(name):
    cfg = config()
    return next(s for s in SourcePipedrive(catalog=catalog(name, sync_mode=SyncMode.incremental), config=cfg).streams(cfg)
                if s.name == name)


class _Partition:
    def __init__(self, stream_slice):
        self._slice = stream_slice

    def to_slice(self):
        return self._slice

    def stream_name(self):
        return "deals"


def test_keys_added_to_a_cursor_s_extras_travel_in_the_state_it_emits():
    cursor = _stream("persons").cursor
    extras = adapters.cursor_state_extras(cursor)
    assert isinstance(extras, dict)
    extras["deletion_scan"] = {"ids": "z1:probe", "scanned_at": None}
    assert cursor.state["deletion_scan"] == {"ids": "z1:probe", "scanned_at": None}


def test_a_cursor_told_a_partition_s_highest_value_once_closes_the_partition_at_it():
    cursor = _stream("deals").cursor
    observe_highest = adapters.take_over_observe(cursor)
    assert observe_highest is not None, "the CDK's cursor changed shape: every record is observed again (slower)"
    stream_slice = next(iter(cursor.stream_slices()))
    cursor.observe(object())  # the per-record observe is now a no-op: not even a record is looked at
    observe_highest(stream_slice, "2024-03-04T05:06:07Z")
    cursor.close_partition(_Partition(stream_slice))
    assert cursor.state["update_time"] == "2024-03-04T05:06:07Z"


def test_the_incremental_streams_take_over_their_cursors_when_built():
    assert _stream("notes").cursor.observe.__name__ == "_observed_per_partition"


def test_messages_are_written_through_the_cdk_s_print_buffer():
    from airbyte_cdk.logger import PRINT_BUFFER

    assert adapters.message_output() is PRINT_BUFFER


def test_the_cdk_passes_each_stream_s_cursor_to_its_retriever():
    # tracking.CheckpointedRead needs the cursor; the CDK's factory hands it to custom retrievers as `cursor`.
    seen = []
    original = CheckpointedRead.__post_init__

    def spy(self, parameters):
        seen.append(self.cursor)
        original(self, parameters)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CheckpointedRead, "__post_init__", spy)
        stream = _stream("activities")
    assert seen and seen[-1] is stream.cursor


def test_the_record_queue_between_the_readers_and_the_writer_holds_at_most_a_thousand_records():
    from source_pipedrive.source import RECORD_QUEUE_SIZE

    source = SourcePipedrive(catalog=catalog("deals"), config=config())
    assert RECORD_QUEUE_SIZE == 1_000
    assert source._concurrent_source._queue.maxsize == RECORD_QUEUE_SIZE, "the CDK's queue kept its own size (+50 MB)"


def test_a_source_without_the_expected_queue_keeps_the_cdk_s_and_says_so(caplog):
    class Elsewhere:
        _concurrent_source = None

    assert adapters.bound_record_queue(Elsewhere(), 10) is False
    assert "cannot be bounded" in caplog.text


def test_a_page_s_raw_bytes_are_freed_once_its_records_are_decoded(requests_mock):
    import requests

    from source_pipedrive.components import ParsedOnceJsonDecoder

    requests_mock.get("https://api.pipedrive.com/api/v2/deals", content=b'{"success": true, "data": [{"id": 1}]}')
    response = requests.get("https://api.pipedrive.com/api/v2/deals")
    assert list(ParsedOnceJsonDecoder().decode(response)) == [{"success": True, "data": [{"id": 1}]}]
    assert response.content == b"", "requests keeps bodies elsewhere now: pages stay in memory until a full GC"


_COUNT_GETSOURCE = """
import inspect, sys
calls = []
original = inspect.getsource
inspect.getsource = lambda *a, **k: calls.append(1) or original(*a, **k)
import {module}
from airbyte_cdk.models import AirbyteMessageSerializer, AirbyteMessage, AirbyteStateMessage, AirbyteStateType, Type
from airbyte_cdk.models import AirbyteStreamState, StreamDescriptor, AirbyteStateBlob
message = AirbyteMessage(type=Type.STATE, state=AirbyteStateMessage(type=AirbyteStateType.STREAM, stream=AirbyteStreamState(
    stream_descriptor=StreamDescriptor(name="deals"), stream_state=AirbyteStateBlob({{"update_time": "2024-01-01T00:00:00Z"}}))))
print(len(calls), AirbyteMessageSerializer.dump(message))
"""


def test_start_up_reads_no_source_code_for_serializers_and_they_serialise_the_same():
    import subprocess
    import sys

    plain = subprocess.run([sys.executable, "-c", _COUNT_GETSOURCE.format(module="airbyte_cdk")],
                           capture_output=True, text=True, check=True).stdout.split(" ", 1)
    ours = subprocess.run([sys.executable, "-c", _COUNT_GETSOURCE.format(module="source_pipedrive")],
                          capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert int(plain[0]) > 0, "serpyco-rs no longer reads attribute docs: adapters.skip_attribute_docs can go"
    assert int(ours[0]) == 0, "serpyco-rs changed: adapters.skip_attribute_docs no longer takes effect"
    assert ours[1] == plain[1]


def test_a_second_start_with_the_same_streams_takes_the_processed_manifest_from_its_file(tmp_path, monkeypatch):
    monkeypatch.setattr(adapters, "_manifest_folders", lambda: [tmp_path / "cache"])
    cfg = config()
    first = SourcePipedrive(catalog=catalog("deals", sync_mode=SyncMode.incremental), config=cfg)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1, "the validated manifest was kept"
    calls = []
    from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
    original = ConcurrentDeclarativeSource._pre_process_manifest  # the CDK's own, which the file spares
    monkeypatch.setattr(ConcurrentDeclarativeSource, "_pre_process_manifest",
                        lambda self, manifest: calls.append(1) or original(self, manifest))
    adapters.cache_processed_manifest(SourcePipedrive)  # wrap the patched CDK method
    second = SourcePipedrive(catalog=catalog("deals", sync_mode=SyncMode.incremental), config=cfg)
    assert calls == [] and second._source_config == first._source_config
    other = SourcePipedrive(catalog=catalog("persons", sync_mode=SyncMode.incremental), config=cfg)
    assert calls == [1], "other streams: another manifest, processed by the CDK"
    assert [s.name for s in other.streams(cfg)] == ["persons"] and [s.name for s in second.streams(cfg)] == ["deals"]
    monkeypatch.undo()
    adapters.cache_processed_manifest(SourcePipedrive)
