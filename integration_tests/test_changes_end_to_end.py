"""Frequent syncs on a small company's budget: an unchanged sync costs what changed, and every change (and delete)
still reaches the destination, on the next sync or within reference_refresh_hours where Pipedrive cannot report it.

The destination here deduplicates by primary key and applies `_ab_cdc_deleted_at`, as Airbyte's append-dedup
destinations do; it is compared with the emulator's own truth (stream_truth.expected_keys).
"""

import collections
import copy

import pytest

from integration_tests.connector import discovered_catalog, run, token_config, utc
from integration_tests.emulator import Emulator
from integration_tests.stream_truth import STREAMS, emitted_key, expected_keys
from source_pipedrive import quiet
from source_pipedrive.source import load_manifest

TOKEN = "changes-e2e-token-5d20"
CORE = ["deals", "persons", "organizations", "activities", "products", "leads", "notes"]
# Before the change (9f5e174) an unchanged sync of every stream cost 1,932 tokens on the emulator's default account.
TOKENS_BEFORE = 1_932


@pytest.fixture(scope="module")
def emulator():
    with Emulator(api_tokens=(TOKEN,)) as emu:  # the default account: seed 42, 200 deals, 3 users
        yield emu


@pytest.fixture(scope="module")
def config(emulator):
    return token_config(emulator, TOKEN)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, config):
    return discovered_catalog(tmp_path_factory.mktemp("discover"), config)


class Synced:
    """A connection as the platform keeps it: the last state of each stream, and the destination."""

    def __init__(self, catalog):
        self.catalog, self.states, self.tables = catalog, {}, collections.defaultdict(dict)

    def sync(self, tmp_path, config, streams=None, **options):
        """One sync of every stream, or of `streams` only (the others keep their state)."""
        tmp_path.mkdir(parents=True, exist_ok=True)
        catalog = self.catalog if streams is None else {
            "streams": [e for e in self.catalog["streams"] if e["stream"]["name"] in streams]}
        result = run(tmp_path, "read", {**config, **options}, catalog, state=list(self.states.values()) or None,
                     timeout=900)
        assert result.returncode == 0 and not result.errors(), result.errors()
        for message in result.of_type("RECORD"):  # deduplicated by key, deletions applied
            stream, data = message["record"]["stream"], message["record"]["data"]
            key = tuple(utc(v) for v in emitted_key(stream, data))
            if data.get("_ab_cdc_deleted_at"):
                self.tables[stream].pop(key, None)
            else:
                self.tables[stream][key] = data
        for message in result.of_type("STATE"):
            self.states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
        return result

    def keys(self, stream):
        return set(self.tables[stream])


@pytest.fixture(scope="module")
def synced(tmp_path_factory, config, catalog):
    connection = Synced(catalog)
    connection.sync(tmp_path_factory.mktemp("first"), config)
    return connection


def test_an_unchanged_sync_of_every_stream_costs_a_tenth_of_what_it_did_and_reads_only_what_nothing_reports(
        tmp_path, emulator, config, synced):
    emulator.reset_stats()
    result = copy.deepcopy(synced).sync(tmp_path, config)
    stats = emulator.stats()
    assert stats["tokens_total"] <= TOKENS_BEFORE / 10
    # What is read: the changes themselves, and what nothing reports the changes of (leads; projects, archived
    # projects and tasks, each list read once for its stream and project_changelog's parents; the mailbox's first
    # page of each folder, read once for mail and mail_messages' parents).
    assert stats["tokens_by_path"] == {"GET /v1/recents": 20, "GET /v1/leads": 20, "GET /v1/mailbox/mailThreads": 80,
                                       "GET /api/v2/projects": 10, "GET /api/v2/projects/archived": 10,
                                       "GET /api/v2/tasks": 10}
    assert stats["requests"]["GET /v1/mailbox/mailThreads"] == 4
    not_read = next(m["log"]["message"] for m in result.of_type("LOG") if m["log"]["message"].startswith("Not read, Pipedrive"))
    assert "deal_flow" in not_read and "persons" in not_read and "user_followers" in not_read
    # The rules the manifest gives (quiet.py) name exactly the streams the built components skipped.
    skipped = {kind: set(line.split(": ", 1)[1].split(", ")) for kind, line in (
        (kind, next(m["log"]["message"] for m in result.of_type("LOG") if m["log"]["message"].startswith(start)))
        for kind, start in ((quiet.CHANGES, "Not read, Pipedrive"), (quiet.REFERENCE, "Not read, their reference")))}
    rules = quiet.rules(load_manifest())
    assert skipped == {kind: {s for s, rule in rules.items() if rule.kind == kind} for kind in skipped}
    assert {m["record"]["stream"] for m in result.of_type("RECORD")} <= {"mail"}, "nothing emitted twice but the newest thread"


def test_one_percent_changed_costs_less_than_an_unchanged_sync_did_and_every_stream_stays_exact(
        tmp_path, emulator, config, synced):
    connection = copy.deepcopy(synced)
    for round_ in range(3):  # a series of syncs, each after updates, additions and deletions
        changes = emulator.mutate(update_fraction=0.01, add=1, delete_fraction=0.01 if round_ else 0.0, entities=CORE)
        emulator.reset_stats()
        connection.sync(tmp_path / str(round_), config)
        if round_ == 0:
            assert emulator.stats()["tokens_total"] < TOKENS_BEFORE, "a 1% change must cost less than an unchanged sync did"
        wrong = []
        for stream in STREAMS:
            got = connection.keys(stream)
            want = _wanted(emulator, stream)
            if stream in LIVE_PARENTS_ONLY:  # children of a deleted parent stay as last synced (docs/BEHAVIOR.md §4)
                entity, field = LIVE_PARENTS_ONLY[stream]
                got = {key for key in got if _alive(emulator, entity, connection.tables[stream][key].get(field))}
            if stream in FLOWS:
                # A flow is re-read when its parent's update_time moves, not when only an activity or note of the
                # parent changed (docs/BEHAVIOR.md §6): the changed parents' flows are complete, entries of others may
                # lag; an entry whose object changed (an activity marked undone) stays under its old key as well.
                touched = {i for i in changes[FLOWS[stream]]["updated"] + changes[FLOWS[stream]]["added"]}
                missing = {key for key in want - got if key[0] in touched}
                if missing:
                    wrong.append(f"{stream}: {len(missing)} entries of changed parents missing, e.g. {min(missing)}")
                continue
            if got != want:
                wrong.append(f"{stream}: {len(want - got)} missing (e.g. {min(want - got, default=None)}), "
                             f"{len(got - want)} not expected (e.g. {min(got - want, default=None)})")
        assert not wrong, f"round {round_}: " + "; ".join(wrong)


# Children re-read only when the parent's update_time moves (docs/BEHAVIOR.md §6, §7): checked for changed parents.
FLOWS = {"deal_flow": "deals", "person_flow": "persons", "organization_flow": "organizations", "note_comments": "notes"}


def _alive(emulator, entity, parent_id):
    record = emulator.truth(entity).get(parent_id)
    return bool(record) and not record.get("is_deleted")


LIVE_PARENTS_ONLY = {  # child stream: (parent entity, the field holding the parent's id)
    **{f"deal_{s}": ("deals", "deal_id") for s in ("followers", "followers_changelog", "participants",
                                                 "participants_changelog", "mail_messages")},
    **{f"person_{s}": ("persons", "person_id") for s in ("followers", "followers_changelog", "flow", "changelog",
                                                        "mail_messages")},
    **{f"organization_{s}": ("organizations", "org_id") for s in ("followers", "followers_changelog", "flow", "changelog",
                                                                 "mail_messages", "relationships")},
    **{f"product_{s}": ("products", "product_id") for s in ("followers", "followers_changelog", "images")},
    "deal_discounts": ("deals", "deal_id"), "deal_products": ("deals", "deal_id"), "note_comments": ("notes", "note_id"),
}


# ---- reference data: one test per entity type ------------------------------------------------------------------------

REPORTED = ["users", "activity_types", "files", "filters", "pipelines", "stages"]  # /v1/recents item types
REFRESHED = ["roles", "permission_sets", "goals", "lead_labels", "boards", "phases", "webhooks", "deal_fields",
             "project_templates", "call_logs"]  # Pipedrive reports no changes of these
STREAM_OF = {"deal_fields": "deal_fields"}


@pytest.mark.parametrize("kind", REPORTED + REFRESHED)
def test_a_change_and_a_delete_of_reference_data_reach_the_destination(tmp_path, emulator, config, synced, kind):
    connection = copy.deepcopy(synced)
    stream = STREAM_OF.get(kind, kind)
    changed, deleted = _change_and_delete(emulator, kind)
    if kind in REFRESHED:  # within reference_refresh_hours: nothing read, nothing paid for it
        emulator.reset_stats()
        quiet = connection.sync(tmp_path / "quiet", config, [stream], reference_refresh_hours=24)
        assert not quiet.records(stream), f"{stream} was read before its refresh was due"
        assert emulator.stats()["tokens_total"] == 0
    result = connection.sync(tmp_path / "due", config, [stream], reference_refresh_hours=0)
    assert connection.keys(stream) == _wanted(emulator, stream)
    emitted = {emitted_key(stream, r): r for r in result.records(stream)}
    assert any(str(changed) in map(str, key) and not r.get("_ab_cdc_deleted_at") for key, r in emitted.items()), \
        f"the changed (or added) {kind} {changed} was not read again"
    if kind == "users":  # a user is never deleted, only deactivated: the destination shows it
        assert connection.tables["users"][(deleted,)]["active_flag"] is False
    else:
        assert all(str(deleted) not in map(str, key) for key in connection.keys(stream)), f"the deleted {kind} {deleted} stayed"


# What can be deleted: not the token user, not the default role; webhooks have no update, so one is added instead;
# permission sets only deletable when custom, so a custom one is added and the next sync must list it.
UNDELETABLE = {"users": {1}, "roles": {1}}


def _change_and_delete(emulator, kind):
    """Changes (or adds) one item of `kind` and deletes another; returns both ids."""
    if kind == "deal_fields":
        custom = [f.key for f in emulator.ds.custom["deals"]]
        return emulator.change_reference(kind, custom[0]), emulator.delete_reference(kind, custom[-1])
    changed = emulator.add_reference(kind) if kind in ("webhooks", "permission_sets") else emulator.change_reference(kind)
    if kind == "permission_sets":
        return changed, None
    ids = [item["id"] for item in emulator.ds._listed(kind)]
    victim = next(i for i in reversed(ids) if str(i) != str(changed) and i not in UNDELETABLE.get(kind, ()))
    return changed, emulator.delete_reference(kind, victim)


def _wanted(emulator, stream):
    """The emulator's truth as a deduplicating destination holds it: deleted deals and users, and activity types that
    Pipedrive still lists deactivated, arrive flagged deleted (`_ab_cdc_deleted_at`), so the destination drops them."""
    want = {tuple(utc(v) for v in key) for key in expected_keys(emulator, stream)}
    if stream in ("deals", "deals_archived"):  # deleted deals stay listed with status=deleted, flagged deleted
        want -= {(rid,) for rid, record in emulator.truth("deals").items() if record.get("is_deleted")}
    if stream == "users":  # deactivated users are still users (active_flag false); deleted ones are flagged
        want -= {(u["id"],) for u in emulator.ds.users if u.get("is_deleted")}
    if stream == "activity_types":
        want -= {(t["id"],) for t in emulator.ds.activity_types() if t.get("active_flag") is False}
    return want
