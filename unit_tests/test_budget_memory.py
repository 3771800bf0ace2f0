"""What a run does first after an earlier one stopped for the daily budget: go, probe once, or wait (budget.py).

The platform starts the source again and again after a budget stop (retries 10 s, 30 s, 90 s … later; hourly or
daily jobs). Each start must cost nothing until the budget can have reset, probe at most once an hour while it may
have, and learn when Pipedrive resets it (undocumented beyond "midnight in the server's time zone").
"""

import datetime

import pytest

from source_pipedrive.budget import DAY, GO, PROBE, WAIT, BudgetMemory

T0 = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=datetime.timezone.utc)
HOUR = datetime.timedelta(hours=1)


def stopped_at(moment, remaining=3_000):
    memory = BudgetMemory()
    memory.observe(moment, remaining, 30_000)
    memory.stopped(moment, "budget")
    return memory


def test_a_run_after_a_run_that_did_not_stop_goes():
    memory = BudgetMemory()
    memory.observe(T0, 25_000, 30_000)
    assert memory.plan(T0 + datetime.timedelta(seconds=10)).action == GO


@pytest.mark.parametrize("later", [10, 30, 90, 270, 810, 3000], ids=lambda s: f"{s}s later")
def test_the_platform_s_retries_within_the_hour_after_a_stop_send_nothing(later):
    assert stopped_at(T0).plan(T0 + datetime.timedelta(seconds=later)).action == WAIT


def test_with_the_reset_time_unknown_a_run_probes_at_most_once_an_hour_and_goes_a_day_after_the_stop():
    memory = stopped_at(T0)
    assert memory.plan(T0 + HOUR).action == PROBE
    memory.observe(T0 + HOUR, 2_990, 30_000)  # the probe: still low
    memory.stopped(T0 + HOUR, "budget")
    assert memory.plan(T0 + HOUR + datetime.timedelta(minutes=59)).action == WAIT
    assert memory.plan(T0 + 2 * HOUR).action == PROBE
    assert memory.plan(T0 + HOUR + DAY).action == GO
    assert memory.plan(T0 + HOUR).reset_by is None, "no reset time is claimed before one was seen"


def test_tokens_rising_between_two_observations_is_a_reset_in_between():
    memory = stopped_at(T0)
    memory.observe(T0 + 9 * HOUR, 2_980, 30_000)
    memory.observe(T0 + 10 * HOUR, 29_000, 30_000)
    assert (memory.reset_after, memory.reset_by) == (T0 + 9 * HOUR, T0 + 10 * HOUR)


def test_a_higher_limit_is_a_purchase_not_a_reset():
    memory = stopped_at(T0)
    memory.observe(T0 + 2 * HOUR, 13_000, 40_000)
    assert memory.reset_by is None


def test_once_the_reset_is_known_the_next_day_s_runs_wait_for_it_then_go_without_probing():
    memory = stopped_at(T0)
    memory.observe(T0 + 9 * HOUR, 2_980, 30_000)
    memory.observe(T0 + 10 * HOUR, 29_000, 30_000)  # reset between 00:00 and 01:00
    memory.finished()
    memory.observe(T0 + DAY - HOUR, 2_000, 30_000)  # the next day's sync stops at 14:00
    memory.stopped(T0 + DAY - HOUR, "budget")
    assert memory.next_reset_window() == (T0 + DAY + 9 * HOUR, T0 + DAY + 10 * HOUR)
    assert memory.plan(T0 + DAY + 5 * HOUR).action == WAIT, "well before the reset: not even a probe"
    assert memory.plan(T0 + DAY + 9 * HOUR + datetime.timedelta(minutes=30)).action == PROBE
    plan = memory.plan(T0 + DAY + 10 * HOUR)
    assert plan.action == GO and plan.reset_by == T0 + DAY + 10 * HOUR


def test_a_window_seen_again_on_a_later_day_narrows_to_what_both_allow():
    memory = stopped_at(T0)
    memory.observe(T0 + 9 * HOUR, 2_980, 30_000)
    memory.observe(T0 + 10 * HOUR, 29_000, 30_000)
    memory.observe(T0 + DAY + 9 * HOUR + datetime.timedelta(minutes=40), 1_000, 30_000)
    memory.observe(T0 + DAY + 11 * HOUR, 29_500, 30_000)
    assert (memory.reset_after, memory.reset_by) == (T0 + DAY + 9 * HOUR + datetime.timedelta(minutes=40),
                                                     T0 + DAY + 10 * HOUR)


def test_the_memory_survives_the_state_and_a_damaged_copy_is_ignored():
    memory = stopped_at(T0)
    memory.observe(T0 + 9 * HOUR, 2_980, 30_000)
    memory.observe(T0 + 10 * HOUR, 29_000, 30_000)
    memory.stopped(T0 + 10 * HOUR, "budget")
    again = BudgetMemory.from_state(memory.to_state())
    assert again == memory
    assert BudgetMemory.from_state({"stopped_at": "yesterday", "remaining": "many"}) == BudgetMemory()
    assert BudgetMemory.from_state(None) == BudgetMemory()


def test_responses_arriving_out_of_order_on_a_small_budget_are_no_reset():
    # Four workers' 40-token requests answered in another order than sent: the tokens left seem to rise by up to a
    # round in flight, more than 5% of a 2,109-token budget. Taken for a reset, the next days' runs waited for it at
    # the wrong hour and a scheduled day passed without progress (integration_tests/test_platform.py).
    memory = BudgetMemory()
    memory.observe(T0, 500, 2_109, in_flight=208)
    memory.observe(T0 + datetime.timedelta(seconds=1), 660, 2_109, in_flight=208)
    assert (memory.reset_after, memory.reset_by) == (None, None)
    memory.observe(T0 + 9 * HOUR, 2_000, 2_109, in_flight=208)  # a real reset gives back a day's spending
    assert (memory.reset_after, memory.reset_by) == (T0 + datetime.timedelta(seconds=1), T0 + 9 * HOUR)
