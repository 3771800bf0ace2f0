"""Changes to reference data (emulator/reference.py): every kind's change / add / delete is visible over HTTP in each
endpoint that serves the kind (list, single GET, /v1/recents for the recents item types), in the truth functions and
in stream_truth.expected_keys, stamped with the emulator's clock -- here a simulated one, days ahead of real time.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import jsonschema
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `integration_tests` has no __init__.py

from integration_tests import stream_truth as T  # noqa: E402
from integration_tests.emulator import Emulator  # noqa: E402
from integration_tests.emulator.reference import KINDS, REFUSED  # noqa: E402
from integration_tests.test_emulator_fidelity import _resolve, to_json_schema  # noqa: E402

TOKEN = {"x-api-token": "test-token"}


def v1(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def v2(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def ms(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000Z"


class Clock:
    """A simulated clock three days ahead of real time; each tick() moves it a minute on."""

    def __init__(self):
        self.now = int(time.time()) + 3 * 86400

    def __call__(self):
        return self.now

    def tick(self) -> int:
        self.now += 61
        return self.now


@pytest.fixture(scope="module")
def clock():
    return Clock()


@pytest.fixture(scope="module")
def emu(clock):
    with Emulator(seed=7, scale=300, clock=clock) as e:
        yield e


@pytest.fixture(scope="module")
def http():
    s = requests.Session()
    s.headers.update(TOKEN)
    return s


def get(http, emu, path, expect=200, **params):
    resp = http.get(emu.base_url + path, params=params)
    assert resp.status_code == expect, (path, resp.status_code, resp.text[:300])
    return resp.json()


# ---- the list kinds: one table drives change / add / delete --------------------------------------------------------

def _goals(http, emu):
    out = {}
    for who in ("person", "company", "team"):
        for active in ("true", "false"):
            for g in get(http, emu, "/v1/goals/find", **{"assignee.type": who, "is_active": active})["data"]["goals"]:
                out[g["id"]] = g
    return list(out.values())


def _phases(http, emu):
    return [p for b in get(http, emu, "/api/v2/boards")["data"]
            for p in get(http, emu, "/api/v2/phases", board_id=b["id"])["data"]]


def _projects(http, emu, statuses="open,completed,canceled,deleted"):
    return (get(http, emu, "/api/v2/projects", limit=500, status=statuses)["data"]
            + get(http, emu, "/api/v2/projects/archived", limit=500, status=statuses)["data"])


def _data(path, **params):
    return lambda http, emu: get(http, emu, path, **params)["data"] or []


# kind -> (stream, list reader, name field, timestamp field, its format, single GET path or None, after delete)
# after delete: "inactive" = still listed, active_flag false; "gone" = no longer listed; "soft" = not listed, single
# GET shows is_deleted; "status" = listed only with status=deleted
LIST_KINDS = {
    "users": ("users", _data("/v1/users"), "name", "modified", v1, "/v1/users/{id}", "inactive"),
    "activity_types": ("activity_types", _data("/v1/activityTypes"), "name", "update_time", v1, None, "inactive"),
    "files": ("files", _data("/v1/files", limit=100), "name", "update_time", v1, "/v1/files/{id}", "gone"),
    "filters": ("filters", _data("/v1/filters"), "name", "update_time", v1, None, "gone"),
    "pipelines": ("pipelines", _data("/api/v2/pipelines"), "name", "update_time", v2, "/api/v2/pipelines/{id}",
                  "soft"),
    "stages": ("stages", _data("/api/v2/stages", limit=500), "name", "update_time", v2, "/api/v2/stages/{id}", "soft"),
    "roles": ("roles", _data("/v1/roles", limit=500), "name", None, None, "/v1/roles/{id}", "gone"),
    "permission_sets": ("permission_sets", _data("/v1/permissionSets"), "name", None, None, None, "gone"),
    "goals": ("goals", _goals, "title", None, None, None, "gone"),
    "lead_labels": ("lead_labels", _data("/v1/leadLabels"), "name", "update_time", ms, None, "gone"),
    "boards": ("boards", _data("/api/v2/boards"), "name", "update_time", ms, "/api/v2/boards/{id}", "gone"),
    "phases": ("phases", _phases, "name", "update_time", ms, "/api/v2/phases/{id}", "gone"),
    "projects": ("projects", _projects, "title", "update_time", ms, "/api/v2/projects/{id}", "status"),
    "project_templates": ("project_templates", _data("/api/v2/projectTemplates", limit=500), "title", "update_time",
                          ms, "/api/v2/projectTemplates/{id}", "gone"),
    "tasks": ("tasks", _data("/api/v2/tasks", limit=500), "title", "update_time", ms, "/api/v2/tasks/{id}", "gone"),
    "webhooks": ("webhooks", _data("/v1/webhooks"), "name", None, None, None, "gone"),
    "call_logs": ("call_logs", _data("/v1/callLogs", limit=50), None, None, None, "/v1/callLogs/{id}", "gone"),
}


def _find(items, rid):
    hit = [x for x in items if x["id"] == rid]
    assert len(hit) <= 1
    return hit[0] if hit else None


def _truth_items(emu, kind) -> list:
    res = emu.truth(kind)
    if kind == "projects":
        res = res + emu.catalogue_truth("archived_projects") + emu.catalogue_truth("projects", status=["deleted"])
    if isinstance(res, dict):
        vals = list(res.values())
        return [x for v in vals for x in v] if vals and isinstance(vals[0], list) else vals
    return res


@pytest.mark.parametrize("kind", sorted(LIST_KINDS))
def test_change_add_delete_of_each_list_kind_over_http(emu, http, clock, kind):
    stream, read, name_f, time_f, fmt, single, after_delete = LIST_KINDS[kind]
    before = {x["id"]: x for x in read(http, emu)}
    # -- change
    now = clock.tick()
    if kind == "webhooks":
        with pytest.raises(ValueError):
            emu.change_reference(kind)
    else:
        rid = emu.change_reference(kind)
        item = _find(read(http, emu), rid)
        assert item is not None and item != before[rid]
        if name_f:
            assert item[name_f] != before[rid][name_f] and item[name_f].endswith(f"✎{emu.ds._ref_seq}")
        else:  # call logs: no update operation; a recording was attached
            assert item["has_recording"] is True
        if time_f:
            assert item[time_f] == fmt(now)
        if single:
            assert get(http, emu, single.format(id=rid))["data"] == item
        assert _find(_truth_items(emu, kind), rid) == item
    # -- add
    now = clock.tick()
    new = emu.add_reference(kind)
    items = read(http, emu)
    added = _find(items, new)
    assert added is not None and new not in before
    assert len(items) == len(before) + 1
    if time_f:
        assert added[time_f] == fmt(now)
    if single:
        assert get(http, emu, single.format(id=new))["data"] == added
    assert _find(_truth_items(emu, kind), new) == added
    assert (new,) in T.expected_keys(emu, stream)
    # -- delete (the item just added)
    now = clock.tick()
    assert emu.delete_reference(kind, new) == new
    items = read(http, emu)
    gone = _find(items, new)
    if after_delete == "inactive":
        assert gone["active_flag"] is False and gone[time_f] == fmt(now)
        assert (new,) in T.expected_keys(emu, stream)
    elif after_delete == "status":
        assert gone["status"] == "deleted" and gone["update_time"] == ms(now)
        assert _find(get(http, emu, "/api/v2/projects", limit=500)["data"], new) is None  # default statuses
        assert (new,) not in T.expected_keys(emu, stream)
    else:
        assert gone is None
        assert (new,) not in T.expected_keys(emu, stream)
        if after_delete == "soft":
            assert get(http, emu, single.format(id=new))["data"]["is_deleted"] is True
        elif kind == "files":  # still readable by id within the 30 days, flagged
            f = get(http, emu, single.format(id=new))["data"]
            assert f["active_flag"] is False and f["update_time"] == v1(now)
        elif single:
            get(http, emu, single.format(id=new), expect=404)


def test_deleting_a_task_deletes_its_subtasks(emu, http, clock):
    parent = emu.add_reference("tasks")
    child = emu.ds._next_id("tasks")
    emu.ds._projects()["tasks"].append({**emu.ds._find("tasks", parent), "id": child, "parent_task_id": parent})
    emu.delete_reference("tasks", parent)
    ids = {t["id"] for t in get(http, emu, "/api/v2/tasks", limit=500)["data"]}
    assert parent not in ids and child not in ids


def test_a_deleted_board_takes_its_phases_along(emu, http):
    board = emu.add_reference("boards")
    phase = emu.add_reference("phases", board)
    assert [p["id"] for p in get(http, emu, "/api/v2/phases", board_id=board)["data"]] == [phase]
    emu.delete_reference("boards", board)
    assert get(http, emu, "/api/v2/phases", board_id=board)["data"] == []
    get(http, emu, f"/api/v2/phases/{phase}", expect=404)


def test_deleting_a_role_moves_its_users_to_the_default_role(emu, http, clock):
    role = emu.add_reference("roles")
    sub = emu.add_reference("roles", role)
    assert emu.add_reference("role_assignments", role) == role
    user = get(http, emu, f"/v1/roles/{role}/assignments")["data"][0]["user_id"]
    now = clock.tick()
    emu.delete_reference("roles", role)
    get(http, emu, f"/v1/roles/{role}/assignments", expect=404)
    assert get(http, emu, f"/v1/users/{user}")["data"]["role_id"] == 1
    assert get(http, emu, f"/v1/users/{user}")["data"]["modified"] == v1(now)
    moved = get(http, emu, f"/v1/roles/{sub}")["data"]
    assert moved["parent_role_id"] == 1 and moved["level"] == 2
    with pytest.raises(ValueError):
        emu.delete_reference("roles", 1)


def test_a_deleted_goal_has_no_results_and_a_deleted_lead_label_leaves_the_leads(emu, http):
    gid = emu.add_reference("goals")
    g = _find(_goals(http, emu), gid)
    get(http, emu, f"/v1/goals/{gid}/results", **{"period.start": g["duration"]["start"],
                                                   "period.end": g["duration"]["end"]})
    emu.delete_reference("goals", gid)
    get(http, emu, f"/v1/goals/{gid}/results", expect=404, **{"period.start": g["duration"]["start"],
                                                               "period.end": g["duration"]["end"]})
    label = get(http, emu, "/v1/leadLabels")["data"][0]["id"]
    leads = get(http, emu, "/v1/leads", limit=500)["data"]
    tagged = [x for x in leads if label in x["label_ids"]]
    assert tagged
    emu.delete_reference("lead_labels", label)
    after = {x["id"]: x for x in get(http, emu, "/v1/leads", limit=500)["data"]}
    for x in tagged:
        assert label not in after[x["id"]]["label_ids"]
        assert after[x["id"]]["update_time"] == x["update_time"]  # no record edit (inferred)
    assert all(o["id"] != label for f in get(http, emu, "/v1/leadFields", limit=500)["data"]
               if f["key"] == "label_ids" for o in f["options"])


def test_a_deleted_filter_no_longer_filters(emu, http):
    fid = emu.add_reference("filters")
    assert get(http, emu, "/api/v2/deals", filter_id=fid)["data"]
    emu.delete_reference("filters", fid)
    get(http, emu, "/api/v2/deals", expect=400, filter_id=fid)


def test_deleted_projects_keep_their_history_and_changes_append_to_it(emu, http, clock):
    pid = next(p["id"] for p in _projects(http, emu, "open") if p["archive_time"] is None)
    history = get(http, emu, f"/api/v2/projects/{pid}/changelog", limit=500)["data"]
    now = clock.tick()
    emu.change_reference("projects", pid)
    emu.delete_reference("projects", pid)
    after = get(http, emu, f"/api/v2/projects/{pid}/changelog", limit=500)["data"]
    assert after[2:] == history  # the seeded history stays as it was, newest first
    assert after[0]["new_values"] == {"status": "deleted"} and after[0]["time"] == ms(now)
    assert list(after[1]["new_values"]) == ["title"]
    assert after == emu.catalogue_truth("project_changelog", pid)


# ---- mail threads ----------------------------------------------------------------------------------------------------

def test_a_new_message_moves_its_thread_to_the_top_of_its_folder(emu, http, clock):
    inbox = emu.catalogue_truth("mail_threads", folder="inbox")  # more than one 500-thread page
    oldest = inbox[-1]
    now = clock.tick()
    assert emu.change_reference("mail_threads") == oldest["id"]
    top = get(http, emu, "/v1/mailbox/mailThreads", folder="inbox", limit=1)["data"][0]
    assert top["id"] == oldest["id"] and top["update_time"] != oldest["update_time"]
    assert top["message_count"] == oldest["message_count"] + 1
    assert top["last_message_timestamp"] == ms(now)
    assert get(http, emu, f"/v1/mailbox/mailThreads/{top['id']}")["data"] == top
    msgs = get(http, emu, f"/v1/mailbox/mailThreads/{top['id']}/mailMessages")["data"]
    assert len(msgs) == top["message_count"] and msgs[-1]["message_time"] == ms(now)
    assert emu.catalogue_truth("mail_thread_messages", top["id"]) == msgs
    # a thread linked to a deal: the deal's mail lists the new message too
    thread = next(t for t in emu.ds._mail()["threads"] if t["user_id"] == 1 and t["deal_id"] and not t.get("deleted"))
    n = len(get(http, emu, f"/v1/deals/{thread['deal_id']}/mailMessages", limit=500)["data"])
    emu.change_reference("mail_threads", thread["id"])
    assert len(get(http, emu, f"/v1/deals/{thread['deal_id']}/mailMessages", limit=500)["data"]) == n + 1


def test_mail_thread_add_and_delete(emu, http, clock):
    clock.tick()
    tid = emu.add_reference("mail_threads")
    assert get(http, emu, "/v1/mailbox/mailThreads", folder="inbox", limit=1)["data"][0]["id"] == tid
    assert (tid,) in T.expected_keys(emu, "mail")
    emu.delete_reference("mail_threads", tid)
    assert all(t["id"] != tid for t in get(http, emu, "/v1/mailbox/mailThreads", folder="inbox", limit=500)["data"])
    get(http, emu, f"/v1/mailbox/mailThreads/{tid}/mailMessages", expect=404)
    get(http, emu, f"/v1/mailbox/mailThreads/{tid}", expect=404)
    assert (tid,) not in T.expected_keys(emu, "mail")


# ---- product children ------------------------------------------------------------------------------------------------

def test_product_variations_change_add_delete_leave_the_product_alone(emu, http):
    vid = emu.change_reference("product_variations")
    pid = emu.ds._variation_parent(vid)
    product = get(http, emu, f"/api/v2/products/{pid}")["data"]
    items = get(http, emu, f"/api/v2/products/{pid}/variations")["data"]
    assert _find(items, vid)["name"].endswith(f"✎{emu.ds._ref_seq}")
    new = emu.add_reference("product_variations", pid)
    items = get(http, emu, f"/api/v2/products/{pid}/variations")["data"]
    assert _find(items, new)["product_id"] == pid
    assert (new,) in T.expected_keys(emu, "product_variations")
    assert _find(emu.truth("product_variations")[pid], new) == _find(items, new)
    emu.delete_reference("product_variations", vid)
    assert _find(get(http, emu, f"/api/v2/products/{pid}/variations")["data"], vid) is None
    assert (vid,) not in T.expected_keys(emu, "product_variations")
    # undocumented whether the parent moves: it does not (inferred)
    assert get(http, emu, f"/api/v2/products/{pid}")["data"] == product


def test_product_images_change_add_delete(emu, http, clock):
    pid = 2  # always has an image
    before = get(http, emu, f"/api/v2/products/{pid}/images")["data"]
    product = get(http, emu, f"/api/v2/products/{pid}")["data"]
    now = clock.tick()
    assert emu.change_reference("product_images", pid) == pid
    after = get(http, emu, f"/api/v2/products/{pid}/images")["data"]
    assert after["public_url"] != before["public_url"] and after["add_time"] == v1(now)[:10]
    assert emu.catalogue_truth("product_images", pid) == [after]
    emu.delete_reference("product_images", pid)
    get(http, emu, f"/api/v2/products/{pid}/images", expect=404)
    assert (pid,) not in T.expected_keys(emu, "product_images")
    assert emu.add_reference("product_images", pid) == pid
    assert get(http, emu, f"/api/v2/products/{pid}/images")["data"]["product_id"] == pid
    assert (pid,) in T.expected_keys(emu, "product_images")
    get(http, emu, "/api/v2/products/3/images", expect=404)  # product 3 never has one ...
    assert emu.add_reference("product_images", 3) == 3  # ... until one is uploaded
    assert get(http, emu, "/api/v2/products/3/images")["data"]["id"] == 3
    assert get(http, emu, f"/api/v2/products/{pid}")["data"] == product


# ---- children of users, roles and permission sets ---------------------------------------------------------------------

def _modified(http, emu, uid):
    return get(http, emu, f"/v1/users/{uid}")["data"]["modified"]


def test_user_followers_add_and_delete_bump_the_user(emu, http, clock):
    now = clock.tick()
    uid = emu.add_reference("user_followers")
    v2_list = get(http, emu, f"/api/v2/users/{uid}/followers")["data"]
    new = [f for f in v2_list if f["add_time"] == v2(now)]
    assert len(new) == 1
    assert new[0]["user_id"] in get(http, emu, f"/v1/users/{uid}/followers")["data"]
    assert _modified(http, emu, uid) == v1(now)
    assert (uid, new[0]["user_id"]) in T.expected_keys(emu, "user_followers")
    now = clock.tick()
    emu.delete_reference("user_followers", uid)
    assert len(get(http, emu, f"/api/v2/users/{uid}/followers")["data"]) == len(v2_list) - 1
    assert _modified(http, emu, uid) == v1(now)
    with pytest.raises(ValueError):
        emu.change_reference("user_followers", uid)


def test_user_permissions_follow_the_users_permission_sets(emu, http, clock):
    uid = 3
    perms = get(http, emu, f"/v1/users/{uid}/permissions")["data"]
    admin_set = next(p for p in get(http, emu, "/v1/permissionSets")["data"] if p["app"] == "sales"
                     and p["type"] == "admin")["id"]
    now = clock.tick()
    assert emu.change_reference("user_permissions", uid) == uid
    flipped = get(http, emu, f"/v1/users/{uid}/permissions")["data"]
    assert flipped != perms and all(flipped.values()) != all(perms.values())
    holders = {a["user_id"] for a in get(http, emu, f"/v1/permissionSets/{admin_set}/assignments")["data"]}
    assert (uid in holders) == all(flipped.values())
    assert _modified(http, emu, uid) == v1(now)
    assert emu.catalogue_truth("user_permissions", uid) == flipped
    emu.change_reference("user_permissions", uid)
    assert get(http, emu, f"/v1/users/{uid}/permissions")["data"] == perms


def test_user_role_assignments_move_the_user(emu, http, clock):
    uid = 2
    old = get(http, emu, f"/v1/users/{uid}/roleAssignments")["data"][0]["role_id"]
    now = clock.tick()
    emu.change_reference("user_role_assignments", uid)
    new = get(http, emu, f"/v1/users/{uid}/roleAssignments")["data"][0]["role_id"]
    assert new != old and get(http, emu, f"/v1/users/{uid}")["data"]["role_id"] == new
    assert uid in {a["user_id"] for a in get(http, emu, f"/v1/roles/{new}/assignments")["data"]}
    assert uid not in {a["user_id"] for a in get(http, emu, f"/v1/roles/{old}/assignments")["data"] or []}
    assert get(http, emu, f"/v1/users/{uid}/roleSettings")["data"] == get(http, emu, f"/v1/roles/{new}/settings")["data"]
    assert _modified(http, emu, uid) == v1(now)
    assert (uid, new) in T.expected_keys(emu, "user_role_assignments")


def test_role_assignments_add_and_delete(emu, http, clock):
    role = 3
    before = {a["user_id"] for a in get(http, emu, f"/v1/roles/{role}/assignments")["data"]}
    now = clock.tick()
    assert emu.add_reference("role_assignments", role) == role
    after = {a["user_id"] for a in get(http, emu, f"/v1/roles/{role}/assignments")["data"]}
    (uid,) = after - before
    assert _modified(http, emu, uid) == v1(now)
    count = next(r for r in get(http, emu, "/v1/roles")["data"] if r["id"] == role)["assignment_count"]
    assert count == str(len(after))
    emu.delete_reference("role_assignments", role)  # the role's last-assigned user leaves it
    left = {a["user_id"] for a in get(http, emu, f"/v1/roles/{role}/assignments")["data"] or []}
    (lost,) = after - left
    assert not left - after
    assert get(http, emu, f"/v1/users/{lost}")["data"]["role_id"] == 1  # "adds to the default role"


def test_role_settings_and_role_pipelines_change(emu, http):
    role = 2
    settings = get(http, emu, f"/v1/roles/{role}/settings")["data"]
    emu.change_reference("role_settings", role)
    changed = get(http, emu, f"/v1/roles/{role}/settings")["data"]
    assert changed["deal_default_visibility"] != settings["deal_default_visibility"]
    assert get(http, emu, f"/v1/roles/{role}")["additional_data"]["settings"]["deal_default_visibility"] == \
        changed["deal_default_visibility"]
    assert emu.catalogue_truth("role_settings", role) == changed
    shown = get(http, emu, f"/v1/roles/{role}/pipelines")["data"]["pipeline_ids"]
    emu.change_reference("role_pipelines", role)
    now_shown = get(http, emu, f"/v1/roles/{role}/pipelines")["data"]["pipeline_ids"]
    hidden = get(http, emu, f"/v1/roles/{role}/pipelines", visible="false")["data"]["pipeline_ids"]
    assert now_shown != shown and sorted(now_shown + hidden) == sorted(set(now_shown + hidden))
    for op in ("add_reference", "delete_reference"):
        with pytest.raises(ValueError):
            getattr(emu, op)("role_settings", role)


def test_permission_set_assignments_add_and_delete(emu, http, clock):
    psid = next(p["id"] for p in get(http, emu, "/v1/permissionSets")["data"] if p["app"] == "projects")
    before = {a["user_id"] for a in get(http, emu, f"/v1/permissionSets/{psid}/assignments")["data"]}
    now = clock.tick()
    assert emu.add_reference("permission_set_assignments", psid) == psid
    after = {a["user_id"] for a in get(http, emu, f"/v1/permissionSets/{psid}/assignments")["data"]}
    (uid,) = after - before
    assert _modified(http, emu, uid) == v1(now)
    assert (psid, uid) in T.expected_keys(emu, "permission_set_assignments")
    now = clock.tick()
    emu.delete_reference("permission_set_assignments", psid)  # the set's last holder loses it
    left = {a["user_id"] for a in get(http, emu, f"/v1/permissionSets/{psid}/assignments")["data"]}
    (lost,) = after - left
    assert not left - after and _modified(http, emu, lost) == v1(now)
    assert psid not in {a["permission_set_id"] for a in get(http, emu, f"/v1/users/{lost}")["data"]["access"]}


# ---- custom field definitions -------------------------------------------------------------------------------------

FIELD_KINDS = {"deal_fields": ("deals", "dealFields"), "person_fields": ("persons", "personFields"),
               "organization_fields": ("organizations", "organizationFields"),
               "product_fields": ("products", "productFields")}


@pytest.mark.parametrize("kind", sorted(FIELD_KINDS))
def test_custom_field_add_rename_delete(emu, http, clock, kind):
    entity, path = FIELD_KINDS[kind]
    rid = 5
    record = get(http, emu, f"/api/v2/{entity}/{rid}")["data"]
    v1_ids = {f["key"]: f["id"] for f in get(http, emu, f"/v1/{path}", limit=500)["data"]}
    # add: listed by both Fields APIs; records carry it unset (v2 null, v1 absent); no record edit
    key = emu.add_reference(kind)
    assert key in {f["field_code"] for f in get(http, emu, f"/api/v2/{path}", limit=500)["data"]}
    assert get(http, emu, f"/api/v2/{path}/{key}")["data"]["is_custom_field"] is True
    v1_new = {f["key"]: f for f in get(http, emu, f"/v1/{path}", limit=500)["data"]}
    assert key in v1_new and all(v1_new[k]["id"] == i for k, i in v1_ids.items())
    rec = get(http, emu, f"/api/v2/{entity}/{rid}")["data"]
    assert rec["custom_fields"] == {**record["custom_fields"], key: None}
    assert rec["update_time"] == record["update_time"]
    assert (key,) in T.expected_keys(emu, kind)
    # rename: the name changes, the key does not
    now = clock.tick()
    assert emu.change_reference(kind, key) == key
    v2_item = get(http, emu, f"/api/v2/{path}/{key}")["data"]
    v1_item = next(f for f in get(http, emu, f"/v1/{path}", limit=500)["data"] if f["key"] == key)
    assert v2_item["field_name"] == v1_item["name"] and v2_item["field_name"].endswith(f"✎{emu.ds._ref_seq}")
    assert v1_item["update_time"] == v1(now)
    assert emu.truth(kind)[key] == v2_item
    # delete a field that has values: gone from the definitions and from every record; the others stay
    victim = next(k for k, v in record["custom_fields"].items() if v is not None)
    emu.delete_reference(kind, victim)
    get(http, emu, f"/api/v2/{path}/{victim}", expect=404)
    assert victim not in {f["key"] for f in get(http, emu, f"/v1/{path}", limit=500)["data"]}
    rec = get(http, emu, f"/api/v2/{entity}/{rid}")["data"]
    expected = {k: v for k, v in record["custom_fields"].items() if k != victim}
    assert rec["custom_fields"] == {**expected, key: None}
    assert rec == emu.truth(entity)[rid]
    assert all(victim not in r["custom_fields"]
               for r in get(http, emu, f"/api/v2/{entity}", limit=500)["data"])
    assert (victim,) not in T.expected_keys(emu, kind)
    with pytest.raises(ValueError):
        emu.delete_reference(kind, "title" if entity == "deals" else "name")  # built-in fields stay


def test_deal_field_changes_reach_the_leads(emu, http):
    lead = next(x for x in get(http, emu, "/v1/leads", limit=500)["data"]
                if any(len(k) == 40 for k in x))
    victim = next(k for k in lead if len(k) == 40 and k in emu.ds.custom_by_key["deals"])
    emu.delete_reference("deal_fields", victim)
    after = get(http, emu, f"/v1/leads/{lead['id']}")["data"]
    assert not any(k == victim or k.startswith(victim + "_") for k in after)
    assert victim not in {f["key"] for f in get(http, emu, "/v1/leadFields", limit=500)["data"]}
    key = emu.add_reference("deal_fields")
    assert key in {f["key"] for f in get(http, emu, "/v1/leadFields", limit=500)["data"]}
    assert key not in get(http, emu, f"/v1/leads/{lead['id']}")["data"]  # unset fields are omitted on leads


# ---- /v1/recents sees the recents item types -------------------------------------------------------------------------

RECENT_KINDS = {"users": "user", "activity_types": "activityType", "files": "file", "filters": "filter",
                "pipelines": "pipeline", "stages": "stage"}


def _recents(http, emu, since, item):
    return get(http, emu, "/v1/recents", since_timestamp=v1(since), items=item, limit=500)["data"] or []


@pytest.mark.parametrize("kind", sorted(RECENT_KINDS))
def test_recents_lists_changed_added_and_deleted_reference_items(emu, http, clock, kind):
    item = RECENT_KINDS[kind]
    stamp = "modified" if kind == "users" else "update_time"
    for op in ("change", "add", "delete"):
        now = clock.tick()
        if op == "change":
            rid = emu.change_reference(kind)
        elif op == "add":
            rid = emu.add_reference(kind)
        else:
            rid = emu.delete_reference(kind, rid)
        hits = [r for r in _recents(http, emu, now - 1, item) if r["id"] == rid]
        assert len(hits) == 1, (op, rid)
        data = hits[0]["data"]
        assert data[stamp] == v1(now)
        if op == "delete":
            assert data.get("active_flag", data.get("active")) is False
        assert not [r for r in _recents(http, emu, now, item) if r["id"] == rid]  # strictly after since_timestamp
        assert hits[0] in emu.catalogue_truth("recents", since_timestamp=now - 1, items=[item])


# ---- kinds that cannot change, the HTTP hooks ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind,op", sorted(REFUSED))
def test_refused_changes_raise_value_error_and_the_hook_answers_400(emu, kind, op):
    with pytest.raises(ValueError):
        if op == "change":
            emu.change_reference(kind)
        elif op == "add":
            emu.add_reference(kind)
        else:
            emu.delete_reference(kind, 1)
    resp = requests.post(emu.base_url + f"/_emulator/reference/{op}", json={"kind": kind, "id": 1})
    assert resp.status_code == 400 and "ValueError" in resp.json()["error"]


def test_every_kind_is_covered_here():
    covered = set(LIST_KINDS) | set(FIELD_KINDS) | {k for k, _ in REFUSED} | {
        "mail_threads", "product_variations", "product_images", "user_followers", "user_permissions",
        "user_role_assignments", "role_assignments", "role_settings", "role_pipelines", "permission_set_assignments"}
    assert covered == set(KINDS)


def test_http_hooks_change_add_delete(emu, http, clock):
    now = clock.tick()
    rid = requests.post(emu.base_url + "/_emulator/reference/change", json={"kind": "filters"}).json()["id"]
    assert _find(get(http, emu, "/v1/filters")["data"], rid)["update_time"] == v1(now)
    new = requests.post(emu.base_url + "/_emulator/reference/add", json={"kind": "stages", "parent": 2}).json()["id"]
    assert _find(get(http, emu, "/api/v2/stages", pipeline_id=2)["data"], new)["pipeline_id"] == 2
    resp = requests.post(emu.base_url + "/_emulator/reference/delete", json={"kind": "stages", "id": new})
    assert resp.json() == {"id": new}
    assert requests.get(emu.base_url + "/_emulator/clock").json() == {"now": clock.now}
    assert requests.post(emu.base_url + "/_emulator/reference/change", json={"kind": "nope"}).status_code == 400


def test_users_cannot_be_deleted_only_deactivated(emu, http, clock):
    with pytest.raises(ValueError):
        emu.delete_reference("users", 1)  # the token user
    uid = emu.add_reference("users")
    for path in (f"/api/v2/users/{uid}/followers", f"/v1/users/{uid}/permissions", f"/v1/users/{uid}/roleAssignments",
                 f"/v1/users/{uid}/roleSettings", f"/v1/users/{uid}/followers"):
        get(http, emu, path)
    emu.delete_reference("users", uid)
    assert get(http, emu, f"/v1/users/{uid}")["data"]["active_flag"] is False
    assignment = next(a for a in get(http, emu, "/v1/roles/1/assignments", limit=500)["data"] if a["user_id"] == uid)
    assert assignment["active_flag"] is False


# ---- the single GETs added for the reference kinds -----------------------------------------------------------------

SINGLE_GETS = [("v2", "/pipelines/{id}", "/api/v2/pipelines/2"), ("v2", "/stages/{id}", "/api/v2/stages/7"),
               ("v2", "/projects/{id}", "/api/v2/projects/3"), ("v2", "/tasks/{id}", "/api/v2/tasks/{task}"),
               ("v2", "/boards/{id}", "/api/v2/boards/2"), ("v2", "/phases/{id}", "/api/v2/phases/5"),
               ("v2", "/projectTemplates/{id}", "/api/v2/projectTemplates/2"), ("v1", "/users/{id}", "/v1/users/2"),
               ("v1", "/files/{id}", "/v1/files/3"), ("v1", "/callLogs/{id}", "/v1/callLogs/{call}"),
               ("v1", "/roles/{id}", "/v1/roles/2"), ("v1", "/mailbox/mailThreads/{id}", "/v1/mailbox/mailThreads/{thread}")]
# nulls the emulator's data carries although these schemas omit `nullable` (unset optional values, as elsewhere)
_NULLS = {"activity_id", "deal_id", "end_date", "lead_id", "linked_person_id", "org_id", "person_id", "product_id",
          "project_id", "remote_id",  # files and threads not linked to those; projects without an end date
          "description", "due_date", "start_date", "parent_task_id", "priority", "marked_as_done_time"}  # tasks


@pytest.mark.parametrize("version,path,url", SINGLE_GETS, ids=[f"{v}:{p}" for v, p, _ in SINGLE_GETS])
def test_single_gets_validate_against_openapi_and_charge_their_cost(specs, emu, http, version, path, url):
    url = url.format(task=emu.ds.tasks(copy=False)[0]["id"], call=emu.ds.call_logs()[0]["id"],
                     thread=emu.ds.mail_thread_ids("inbox")[0])
    spec = specs[version]
    op = spec["paths"][path]["get"]
    template = ("/api/v2" if version == "v2" else "/v1") + path
    before = emu.stats()["tokens_by_path"].get(f"GET {template}", 0)
    body = get(http, emu, url)
    assert emu.stats()["tokens_by_path"][f"GET {template}"] - before == op["x-token-cost"]
    schema = _resolve(spec, op["responses"]["200"])["content"]["application/json"]["schema"]
    jsonschema.validate(body, to_json_schema(spec, schema, _NULLS))
    get(http, emu, url.rsplit("/", 1)[0] + "/999999", expect=404)
