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
