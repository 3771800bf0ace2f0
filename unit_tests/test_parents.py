"""How a child stream walks its parents (components.ParentsInOrder): in ascending update_time, telling the CDK how far
it got, so a child stream stopped half-way (the daily budget) resumes at the first parent not done.

The CDK's per-partition cursor saves the parent state reported with a partition once every earlier partition is
read; integration_tests/test_daily_budget.py shows the whole path across days.
"""

import datetime
from types import SimpleNamespace

import pytest
from airbyte_cdk.sources.types import StreamSlice

from source_pipedrive.components import ParentsInOrder
from source_pipedrive.sync import Sync


@pytest.fixture(autouse=True)
def new_sync():
    Sync.start({})  # parent lists are shared within one sync only


class ParentList:
    """A SubstreamPartitionRouter stand-in: one parent list with its cursor state."""

    def __init__(self, name, parents, initial=None, incremental=True):
        self.parent_stream_configs = [SimpleNamespace(stream=SimpleNamespace(name=name), incremental_dependency=incremental)]
        self.parents, self.name, self.state = parents, name, initial or {}

    def stream_slices(self):
        for parent_id, update_time, counts in self.parents:
            yield StreamSlice(partition={"parent_id": parent_id, "parent_slice": {}}, cursor_slice={},
                              extra_fields={"update_time": update_time, **counts})
        if self.parent_stream_configs[0].incremental_dependency:
            self.state = {"update_time": max(t for _, t, _ in self.parents)}  # the parent list's cursor, once read

    def get_stream_state(self):
        return {self.name: dict(self.state)} if self.parent_stream_configs[0].incremental_dependency else {}

    def get_request_params(self, **kwargs):
        return {}


def _walk(router):
    """[(parent id handed out, parent state the CDK would read right after it)] and the state at the end."""
    seen = [(s.partition["parent_id"], router.get_stream_state()) for s in router.stream_slices()]
    return seen, router.get_stream_state()


def test_the_state_given_with_each_parent_is_its_update_time_so_a_stop_resumes_at_the_next():
    deals = ParentList("deal_ids", [(1, "2024-01-01T00:00:00Z", {}), (2, "2024-02-01T00:00:00Z", {})],
                       initial={"update_time": "2023-12-01T00:00:00Z"})
    router = ParentsInOrder(parents=[deals], config={}, parameters={})
    assert router.get_stream_state() == {"deal_ids": {"update_time": "2023-12-01T00:00:00Z"}}  # nothing visited
    seen, end = _walk(router)
    assert seen == [(1, {"deal_ids": {"update_time": "2024-01-01T00:00:00Z"}}),
                    (2, {"deal_ids": {"update_time": "2024-02-01T00:00:00Z"}})]
    # Read to its end long after its newest second: no deal can still get that update_time, the next sync starts after.
    assert end == {"deal_ids": {"update_time": "2024-02-01T00:00:01Z"}}


def test_a_list_not_yet_read_keeps_its_saved_state_and_a_finished_one_reports_its_own():
    live = ParentList("deal_ids", [(1, "2024-01-01T00:00:00Z", {})], initial={"update_time": "2023-01-01T00:00:00Z"})
    archived = ParentList("archived_deal_ids", [(9, "2024-03-01T00:00:00Z", {})], initial={"update_time": "2023-06-01T00:00:00Z"})
    seen, end = _walk(ParentsInOrder(parents=[live, archived], config={}, parameters={}))
    assert seen == [(1, {"deal_ids": {"update_time": "2024-01-01T00:00:00Z"}, "archived_deal_ids": {"update_time": "2023-06-01T00:00:00Z"}}),
                    (9, {"deal_ids": {"update_time": "2024-01-01T00:00:01Z"}, "archived_deal_ids": {"update_time": "2024-03-01T00:00:00Z"}})]
    assert end == {"deal_ids": {"update_time": "2024-01-01T00:00:01Z"}, "archived_deal_ids": {"update_time": "2024-03-01T00:00:01Z"}}


def test_a_parent_whose_count_proves_the_child_list_empty_is_not_visited_but_counts_as_done():
    deals = ParentList("deal_ids", [(1, "2024-01-01T00:00:00Z", {"followers_count": 2}),
                                    (2, "2024-01-02T00:00:00Z", {"followers_count": 0}),
                                    (3, "2024-01-03T00:00:00Z", {"followers_count": 1}),
                                    (4, "2024-01-04T00:00:00Z", {"followers_count": None})])  # no count: visited
    seen, end = _walk(ParentsInOrder(parents=[deals], config={}, parameters={}, skip_when_zero="followers_count"))
    assert [parent for parent, _ in seen] == [1, 3, 4]
    assert seen[1][1] == {"deal_ids": {"update_time": "2024-01-03T00:00:00Z"}}  # past the skipped deal 2


def test_a_list_the_api_cannot_sort_is_read_whole_and_visited_in_ascending_update_time():
    threads = ParentList("mail_thread_ids_inbox", [(7, "2024-05-01T00:00:00.000Z", {}), (5, "2024-01-01T00:00:00.000Z", {}),
                                                    (6, "2024-03-01T00:00:00.000Z", {})])
    seen, _ = _walk(ParentsInOrder(parents=[threads], config={}, parameters={}, sort=True))
    assert [parent for parent, _ in seen] == [5, 6, 7]
    assert seen[0][1] == {"mail_thread_ids_inbox": {"update_time": "2024-01-01T00:00:00.000Z"}}


def test_parents_read_whole_every_sync_report_no_state():
    users = ParentList("user_ids", [(1, None, {}), (2, None, {})], incremental=False)
    seen, end = _walk(ParentsInOrder(parents=[users], config={}, parameters={}))
    assert [parent for parent, _ in seen] == [1, 2] and end == {}


def test_a_list_whose_newest_second_is_recent_restarts_at_that_second_since_more_parents_may_still_get_it():
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, end = _walk(ParentsInOrder(parents=[ParentList("deal_ids", [(1, now, {})])], config={}, parameters={}))
    assert end == {"deal_ids": {"update_time": now}}


def test_sibling_child_streams_read_a_short_parent_list_once_per_sync():
    reads = []

    class Counted(ParentList):
        def stream_slices(self):
            reads.append(1)
            yield from super().stream_slices()

    def child():
        return ParentsInOrder(parents=[Counted("deal_ids", [(1, "2024-01-01T00:00:00Z", {}), (2, "2024-01-02T00:00:00Z", {})],
                                               initial={"update_time": "2023-12-01T00:00:00Z"})], config={}, parameters={})
    first, second = _walk(child()), _walk(child())
    assert len(reads) == 1 and first == second
    Sync.start({})
    _walk(child())
    assert len(reads) == 2  # the next sync reads the list again


def test_once_the_budget_stops_the_sync_no_more_parents_are_handed_out_and_the_state_stays_at_the_last_one():
    # Each parent handed out after a stop becomes a partition that can only fail: thousands of them for a child
    # stream of a big account, each failure carried to the main thread. The state must not pass the last parent
    # handed out, so the next sync visits the rest.
    deals = ParentList("deal_ids", [(i, f"2024-01-{i:02d}T00:00:00Z", {}) for i in range(1, 6)],
                       initial={"update_time": "2023-12-01T00:00:00Z"})
    router = ParentsInOrder(parents=[deals], config={}, parameters={"name": "deal_flow"})
    handed_out = []
    for stream_slice in router.stream_slices():
        handed_out.append(stream_slice.partition["parent_id"])
        if len(handed_out) == 2:
            Sync.current().stop("the daily budget is spent")
    assert handed_out == [1, 2]
    assert Sync.current().budget_stopped == {"deal_flow"}  # reported unfinished (rate-limited), never complete
    assert router.get_stream_state() == {"deal_ids": {"update_time": "2024-01-02T00:00:00Z"}}
