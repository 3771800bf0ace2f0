"""Emulator(users=N) / Dataset(users=N) / --users, and the one clock (Emulator(clock=...)) that stamps every change and
is the "now" of /v1/recents -- including a simulated clock days ahead of real time.
"""
from __future__ import annotations

import calendar
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `integration_tests` has no __init__.py

from integration_tests import stream_truth as T  # noqa: E402
from integration_tests.emulator import Emulator  # noqa: E402
from integration_tests.emulator.__main__ import main  # noqa: E402
from integration_tests.emulator.data import Dataset  # noqa: E402

TOKEN = {"x-api-token": "test-token"}
USER_PATHS = ("/api/v2/users/{id}/followers", "/v1/users/{id}/followers", "/v1/users/{id}/permissions",
              "/v1/users/{id}/roleAssignments", "/v1/users/{id}/roleSettings", "/v1/users/{id}")


def v1(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def v2(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# ---- number of users --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 10, 50])
def test_an_account_with_n_users_lists_them_and_answers_for_each(n):
    with Emulator(seed=3, scale=60, users=n) as emu:
        s = requests.Session()
        s.headers.update(TOKEN)
        users = s.get(emu.base_url + "/v1/users").json()["data"]
        assert [u["id"] for u in users] == list(range(1, n + 1))
        # the last user is deactivated from 4 users on (unchanged rule)
        assert [u["active_flag"] for u in users] == [i < n or n < 4 for i in range(1, n + 1)]
        for uid in range(1, n + 2):
            for path in USER_PATHS:
                resp = s.get(emu.base_url + path.format(id=uid))
                assert resp.status_code == (200 if uid <= n else 404), (path, uid, resp.text[:200])
        follows = s.get(emu.base_url + "/api/v2/users/1/followers").json()["data"]
        assert all(1 <= f["user_id"] <= n for f in follows)


@pytest.mark.parametrize("n", [1, 2, 4, 10, 50])
def test_everything_that_depends_on_the_users_stays_consistent(n):
    ds = Dataset(11, 200, users=n)
    ids = set(range(1, n + 1))
    for entity, col in (("deals", "owner_id"), ("persons", "owner_id"), ("organizations", "owner_id"),
                        ("activities", "owner_id"), ("products", "owner_id"), ("leads", "owner_id")):
        assert set(ds.tables[entity].cols[col]) <= ids, entity
    deals = ds.truth("deals")
    assert {d["creator_user_id"] for d in deals.values()} <= ids
    assert {f["user_id"] for d in list(deals)[:50] for f in ds.followers("deals", d)} <= ids
    assert sum(int(r["assignment_count"]) for r in ds.roles()) == n
    assert {a["user_id"] for p in ds.permission_set_ids for a in ds.permission_set_assignments(p)} == ids
    assert {th["user_id"] for th in ds._mail()["threads"]} <= ids
    assert {g["assignee"]["id"] for g in ds.goals() if g["assignee"]["type"] == "person"} <= ids
    assert {c["user_id"] for c in ds.call_logs()} <= ids
    assert {u for p in ds.projects() for u in ds.project_permitted_users(p["id"])} <= ids
    for uid in ids:
        assert uid not in {f["user_id"] for f in ds.followers("users", uid)}
        assert ds.user_role_assignments(uid) and ds.user_permissions(uid)
    keys = T.all_expected_keys(ds)
    assert keys["users"] == {(u,) for u in ids}
    assert {k[0] for k in keys["user_permissions"]} == ids and {k[0] for k in keys["user_role_settings"]} == ids


def test_users_outside_1_to_50_are_a_value_error():
    for bad in (0, 51, -1, True, 2.5, "3"):
        with pytest.raises(ValueError):
            Dataset(1, 10, users=bad)
        with pytest.raises(ValueError):
            Emulator(seed=1, scale=10, users=bad)
    with pytest.raises(ValueError):
        main(["--port", "0", "--users", "0"])
    with pytest.raises(ValueError):
        main(["--port", "0", "--users", "51"])


def test_the_default_keeps_the_scale_formula():
    for scale in (60, 2500, 40000):
        ds = Dataset(5, scale)
        assert ds.n_users == len(ds.users) == min(20, 3 + scale // 1000)
    assert Dataset(5, 300, users=None).truth("users") == Dataset(5, 300).truth("users")


# ---- one clock --------------------------------------------------------------------------------------------------------

class Clock:
    def __init__(self, days_ahead):
        self.now = int(time.time()) + days_ahead * 86400

    def __call__(self):
        return self.now


def test_the_clock_stamps_mutations_deletes_restores_and_reference_changes():
    clock = Clock(10)
    with Emulator(seed=2, scale=120, clock=clock) as emu:
        assert emu.clock() == clock.now
        s = requests.Session()
        s.headers.update(TOKEN)
        done = emu.mutate(update_fraction=0.1, add=1, entities=["deals", "persons", "leads", "notes"])
        did = done["deals"]["updated"][0]
        assert s.get(emu.base_url + f"/api/v2/deals/{did}").json()["data"]["update_time"] == v2(clock.now)
        new = done["persons"]["added"][0]
        person = s.get(emu.base_url + f"/api/v2/persons/{new}").json()["data"]
        assert person["add_time"] == person["update_time"] == v2(clock.now)
        lead = s.get(emu.base_url + f"/v1/leads/{done['leads']['updated'][0]}").json()["data"]
        assert lead["update_time"].startswith(v2(clock.now)[:19])
        clock.now += 3600
        emu.mutate(update_fraction=0.05, entities=["notes"], same_second=False)
        assert max(n["update_time"] for n in emu.truth("notes").values()) == v1(clock.now)
        clock.now += 3600
        pid = done["persons"]["updated"][0]
        emu.delete_records("persons", [pid])
        assert emu.truth("persons")[pid]["update_time"] == v2(clock.now)
        emu.delete_records("activity_types", [3])
        assert emu.truth("activity_types")[3]["update_time"] == v1(clock.now)
        emu.restore_records("persons", [pid])
        assert emu.truth("persons")[pid]["update_time"] == v2(clock.now - 7200)  # the update before the delete
        clock.now += 60
        rid = emu.change_reference("pipelines")
        assert emu.truth("pipelines")[rid]["update_time"] == v2(clock.now)
        # the same clock decides the budget day
        assert emu.stats()["today"]["date"] == time.strftime("%Y-%m-%d", time.gmtime(clock.now))


def test_recents_reaches_one_month_back_from_the_clock_not_from_real_time():
    clock = Clock(40)  # everything the account was generated with is more than a month old for this clock
    with Emulator(seed=2, scale=120, clock=clock) as emu:
        s = requests.Session()
        s.headers.update(TOKEN)
        url = emu.base_url + "/v1/recents"
        ancient = {"since_timestamp": "2019-01-01 00:00:00", "limit": 500}
        assert s.get(url, params=ancient).json()["data"] is None
        clock.now -= 31 * 86400  # a change 31 days before the clock's "now" ...
        old = emu.mutate(update_fraction=0.02, entities=["deals"])["deals"]["updated"]
        clock.now += 31 * 86400
        assert s.get(url, params=ancient).json()["data"] is None  # ... is outside the window
        fresh = emu.mutate(update_fraction=0.02, entities=["deals"])["deals"]["updated"]
        got = s.get(url, params=ancient).json()["data"]
        assert {r["id"] for r in got} == set(fresh) - set(old) | (set(fresh) & set(old))
        assert all(calendar.timegm(time.strptime(r["data"]["update_time"], "%Y-%m-%d %H:%M:%S")) == clock.now
                   for r in got)
        assert emu.catalogue_truth("recents", since_timestamp=0) == got


CHILDREN_OF_A_NEW_RECORD = [
    "/api/v2/deals/{d}/followers", "/api/v2/deals/{d}/followers/changelog", "/v1/deals/{d}/participants",
    "/v1/deals/{d}/participantsChangelog", "/v1/deals/{d}/changelog", "/api/v2/deals/{d}/products",
    "/api/v2/deals/{d}/discounts", "/api/v2/deals/installments?deal_ids={d}", "/v1/deals/{d}/flow",
    "/v1/deals/{d}/mailMessages", "/api/v2/persons/{p}/followers", "/api/v2/persons/{p}/followers/changelog",
    "/v1/persons/{p}/changelog", "/v1/persons/{p}/flow", "/v1/persons/{p}/mailMessages",
    "/api/v2/organizations/{o}/followers", "/api/v2/organizations/{o}/followers/changelog",
    "/v1/organizations/{o}/flow", "/v1/organizations/{o}/mailMessages", "/v1/organizationRelationships?org_id={o}",
    "/api/v2/products/{r}/followers", "/api/v2/products/{r}/followers/changelog", "/api/v2/products/{r}/variations",
    "/v1/notes/{n}/comments",
]


def test_the_children_of_a_record_created_now_hold_no_time_after_now():
    # A cursor that met a time from the future would skip everything until then (a real account has none). Several
    # records of each kind: children are drawn per record, and most kinds leave some records without any.
    import re
    import time as _time

    import requests

    with Emulator(api_tokens=("clock-token",)) as emu:
        kinds = {"d": "deals", "p": "persons", "o": "organizations", "r": "products", "n": "notes"}
        added = emu.mutate(update_fraction=0, add=12, entities=list(kinds.values()))
        now = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(_time.time() + 1))
        late, seen = {}, 0
        for i in range(12):
            ids = {letter: added[entity]["added"][i] for letter, entity in kinds.items()}
            for template in CHILDREN_OF_A_NEW_RECORD:
                path = template.format(**ids)
                response = requests.get(emu.base_url + path, headers={"x-api-token": "clock-token"}, timeout=30)
                assert response.status_code in (200, 404), (path, response.status_code)
                times = [t.replace(" ", "T") for t in
                         re.findall(r'"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)', response.text)]
                seen += len(times)
                late.update({path: t for t in times if t > now})
        assert seen > 100  # the lists above did hold children with times
    assert late == {}
