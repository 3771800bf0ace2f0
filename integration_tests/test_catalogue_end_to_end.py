"""Every catalogue stream beyond the core entities, read by the installed command and compared with the emulator.

Children reached through a parent (followers, history, participants, mail, assignments, ...) cost one request per
parent, so this module runs on a small company; the core streams are covered at a larger scale in
test_end_to_end.py.
"""

import jsonschema
import pytest

from integration_tests.connector import configured_catalog, run
from integration_tests.emulator import Emulator

TOKEN = "catalogue-e2e-token-77aa"


@pytest.fixture(scope="module")
def emulator():
    with Emulator(seed=21, scale=60, api_tokens=(TOKEN,)) as emu:
        yield emu


@pytest.fixture(scope="module")
def config(emulator):
    return {"credentials": {"auth_type": "api_token", "api_token": TOKEN}, "api_domain": emulator.base_url}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, config):
    result = run(tmp_path_factory.mktemp("discover"), "discover", config)
    assert result.returncode == 0, result.stdout[-1500:]
    return result.of_type("CATALOG")[0]


@pytest.fixture(scope="module")
def full_read(tmp_path_factory, config, catalog, emulator):
    emulator.reset_stats()
    result = run(tmp_path_factory.mktemp("read"), "read", config, configured_catalog(catalog))
    assert result.returncode == 0 and not result.errors(), result.errors()
    result.api_stats = emulator.stats()
    return result


def _parents(emulator, kind):
    """The parent ids the connector walks: what the parent's list endpoint returns."""
    if kind == "deals_with_deleted":  # history streams: /deals?status=open,won,lost,deleted
        return [i for i, r in emulator.truth("deals").items() if not r.get("is_archived")]
    if kind in ("deals", "persons", "organizations", "products", "notes"):
        return [i for i, r in emulator.truth(kind).items() if not r.get("is_deleted") and not r.get("is_archived")]
    if kind == "users":
        return list(emulator.truth("users"))
    return [r["id"] for r in emulator.catalogue_truth(kind)]


# stream -> (catalogue truth name, parent kind or None, key of a record as the connector emits it)
CHILDREN = {
    "deal_followers_changelog": ("deal_followers_changelog", "deals", lambda p, r: (p, r["follower_user_id"], r["action"], r["time"])),
    "deal_discounts": ("deal_discounts", "deals", lambda p, r: r["id"]),
    "deal_participants": ("deal_participants", "deals", lambda p, r: r["id"]),
    "deal_participants_changelog": ("deal_participants_changelog", "deals", lambda p, r: (p, r["person_id"], r["action"], r["time"])),
    "deal_flow": ("deal_flow", "deals_with_deleted", lambda p, r: (p, r["object"], r["data"]["id"])),
    "deal_changelog": ("deal_changelog", "deals_with_deleted", lambda p, r: (p, r["field_key"], r["time"], str(r.get("new_value")))),
    "deal_mail_messages": ("deal_mail_messages", "deals", lambda p, r: (p, r["data"]["id"])),
    "person_followers_changelog": ("person_followers_changelog", "persons", lambda p, r: (p, r["follower_user_id"], r["action"], r["time"])),
    "person_flow": ("person_flow", "persons", lambda p, r: (p, r["object"], r["data"]["id"])),
    "person_changelog": ("person_changelog", "persons", lambda p, r: (p, r["field_key"], r["time"], str(r.get("new_value")))),
    "person_mail_messages": ("person_mail_messages", "persons", lambda p, r: (p, r["data"]["id"])),
    "organization_followers_changelog": ("organization_followers_changelog", "organizations", lambda p, r: (p, r["follower_user_id"], r["action"], r["time"])),
    "organization_flow": ("organization_flow", "organizations", lambda p, r: (p, r["object"], r["data"]["id"])),
    "organization_changelog": ("organization_changelog", "organizations", lambda p, r: (p, r["field_key"], r["time"], str(r.get("new_value")))),
    "organization_mail_messages": ("organization_mail_messages", "organizations", lambda p, r: (p, r["data"]["id"])),
    "organization_relationships": ("organization_relationships", "organizations", lambda p, r: (p, r["id"])),
    "product_followers_changelog": ("product_followers_changelog", "products", lambda p, r: (p, r["follower_user_id"], r["action"], r["time"])),
    "product_images": ("product_images", "products", lambda p, r: r["id"]),
    "note_comments": ("note_comments", "notes", lambda p, r: r["uuid"]),
    "user_permissions": ("user_permissions", "users", lambda p, r: p),
    "user_role_assignments": ("user_role_assignments", "users", lambda p, r: (p, r["role_id"])),
    "user_role_settings": ("user_role_settings", "users", lambda p, r: p),
    "role_assignments": ("role_assignments", "roles", lambda p, r: (p, r["user_id"])),
    "role_settings": ("role_settings", "roles", lambda p, r: p),
    "role_pipelines": ("role_pipelines", "roles", lambda p, r: p),
    "permission_set_assignments": ("permission_set_assignments", "permission_sets", lambda p, r: (p, r["user_id"])),
    "project_changelog": ("project_changelog", "projects", lambda p, r: (p, r["time"], str(r["new_values"]))),
    "phases": ("phases", "boards", lambda p, r: r["id"]),
}
PARENT_FIELD = {"deals": "deal_id", "deals_with_deleted": "deal_id", "persons": "person_id", "organizations": "org_id", "products": "product_id",
                "notes": "note_id", "users": "user_id", "roles": "role_id", "permission_sets": "permission_set_id",
                "projects": "project_id", "boards": "board_id"}
LISTS = {
    "projects": ("projects", lambda r: r["id"]),
    "projects_archived": ("archived_projects", lambda r: r["id"]),
    "project_templates": ("project_templates", lambda r: r["id"]),
    "project_fields": ("project_fields", lambda r: r["field_code"]),
    "tasks": ("tasks", lambda r: r["id"]),
    "boards": ("boards", lambda r: r["id"]),
    "roles": ("roles", lambda r: r["id"]),
    "permission_sets": ("permission_sets", lambda r: r["id"]),
    "webhooks": ("webhooks", lambda r: r["id"]),
    "goals": ("goals", lambda r: r["id"]),
    "mail": ("mail_threads", lambda r: r["id"]),
}


@pytest.mark.parametrize("stream", sorted(CHILDREN))
def test_a_child_stream_returns_every_record_of_every_listed_parent(stream, full_read, emulator):
    name, kind, key = CHILDREN[stream]
    expected = set()
    for parent in _parents(emulator, kind):
        for record in emulator.catalogue_truth(name, parent_id=parent) or []:
            expected.add(key(parent, record))
    field = "board_id" if stream == "phases" else PARENT_FIELD[kind]
    got = [key(r.get(field), r) for r in full_read.records(stream)]
    assert expected, f"the emulator has no {stream}: the comparison would prove nothing"
    assert set(got) == expected
    assert len(got) == len(set(got)), "a record was emitted twice"


@pytest.mark.parametrize("stream", sorted(LISTS))
def test_a_list_stream_returns_every_record(stream, full_read, emulator):
    name, key = LISTS[stream]
    expected = {key(r) for r in emulator.catalogue_truth(name)}
    got = [key(r) for r in full_read.records(stream)]
    assert expected and set(got) == expected


def test_every_record_of_every_stream_matches_its_discovered_schema(full_read, catalog):
    schemas = {s["name"]: s["json_schema"] for s in catalog["catalog"]["streams"]}
    seen = set()
    for message in full_read.of_type("RECORD"):
        seen.add(message["record"]["stream"])
        jsonschema.validate(message["record"]["data"], schemas[message["record"]["stream"]])
    assert len(seen) >= 60, sorted(set(schemas) - seen)


def test_mail_messages_cover_every_thread_of_the_mailbox(full_read, emulator):
    expected = {m["id"] for t in emulator.catalogue_truth("mail_threads")
                for m in emulator.catalogue_truth("mail_thread_messages", parent_id=t["id"])}
    assert expected and {r["id"] for r in full_read.records("mail_messages")} == expected


def test_changes_in_one_second_stay_separate_history_rows(full_read):
    keys = [(r["deal_id"], r["_ab_change_key"]) for r in full_read.records("deal_changelog")]
    assert len(keys) == len(set(keys))
    same_second = {}
    for r in full_read.records("deal_changelog"):
        same_second.setdefault((r["deal_id"], r["time"]), []).append(r)
    assert any(len(rows) > 1 for rows in same_second.values()), "no two changes share a second: proves nothing"


def test_an_incremental_sync_visits_only_the_parents_that_changed(tmp_path, full_read, config, catalog, emulator):
    changed = emulator.mutate(update_fraction=0.05, entities=["deals"])
    changed_deals = set(changed["deals"]["updated"])
    emulator.reset_stats()
    streams = ["deal_changelog", "deal_flow", "deal_participants"]
    result = run(tmp_path, "read", config, configured_catalog(catalog, streams=streams),
                 state=[s for s in full_read.final_states() if s["stream"]["stream_descriptor"]["name"] in streams])
    assert result.returncode == 0 and not result.errors(), result.errors()
    requests = result_requests = emulator.stats()["requests"]
    # Each deal child visits the changed deals (plus those of the previous cursor's second), not all of them.
    visited = result_requests.get("GET /v1/deals/{id}/changelog", 0)
    assert len(changed_deals) <= visited <= len(changed_deals) + 5, requests
    new_entries = {r["deal_id"] for r in result.records("deal_changelog")}
    assert changed_deals <= new_entries, "every change made by the mutation appears in the history"
