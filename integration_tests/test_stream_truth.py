"""stream_truth.py is complete and self-consistent -- checked without running the connector or the HTTP server.

- It covers exactly the streams of manifest.yaml, with their declared primary keys.
- Every stream has records in the small account the end-to-end tests use, except the documented MAY_BE_EMPTY ones.
- Child keys name only the parents the module docstring says a sync visits (archived deals included, deleted ones
  only for history), and emitted_key() turns a record shaped like the connector's into the same key.
- Around a mutation, child_changes() reports the new history of exactly the changed records.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `integration_tests` has no __init__.py

from integration_tests import stream_truth as T  # noqa: E402
from integration_tests.emulator.data import ARCHIVED, DELETED, Dataset  # noqa: E402

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yaml"
# the field a child record carries its parent id in (AddFields of the connector's child flows)
PARENT_FIELD = {"deal": "deal_id", "person": "person_id", "organization": "org_id", "product": "product_id",
                "note": "note_id", "user": "user_id", "role": "role_id", "permission": "permission_set_id",
                "project": "project_id", "mail": "thread_id", "phases": "board_id"}


@pytest.fixture(scope="module")
def ds():
    return Dataset(21, 60)  # the account of test_catalogue_end_to_end.py


@pytest.fixture(scope="module")
def truth(ds):
    return T.all_expected_keys(ds)


def _manifest_streams() -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # importing the CDK's parsers warns about its experimental classes
        from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver
        manifest = ManifestReferenceResolver().preprocess_manifest(yaml.safe_load(MANIFEST.read_text()))
    return {s["name"]: tuple(s["primary_key"]) for s in manifest["streams"]}


def test_the_module_covers_every_manifest_stream_with_its_primary_key():
    declared = _manifest_streams()
    assert len(declared) == len(T.STREAMS) == 74
    assert declared == T.PRIMARY_KEYS
    assert set(T.TRUTH) == set(T.STREAMS) and set(T.CHILDREN) == set(T.PARENTS) <= set(T.STREAMS)
    assert all("_ab_change_key" in T.PRIMARY_KEYS[s] for s in T.HISTORY_FIELDS)


@pytest.mark.parametrize("seed", [21, 5, 11])
def test_every_stream_has_records_at_scale_60_except_the_documented_ones(seed):
    keys = T.all_expected_keys(Dataset(seed, 60))
    empty = {s for s, k in keys.items() if not k}
    assert empty <= set(T.MAY_BE_EMPTY), sorted(empty - set(T.MAY_BE_EMPTY))


def test_keys_have_the_shape_of_the_primary_key(truth):
    for stream, keys in truth.items():
        width = 1 + len(T.HISTORY_FIELDS[stream]) if stream in T.HISTORY_FIELDS else len(T.PRIMARY_KEYS[stream])
        for key in keys:
            assert isinstance(key, tuple) and len(key) == width, (stream, key)
            assert key[0] is not None, (stream, key)
            hash(key)


def test_child_keys_name_only_the_documented_parents(ds, truth):
    flags = ds.tables["deals"].flags
    archived = {d for d in range(1, len(flags) + 1) if flags[d - 1] & ARCHIVED and not flags[d - 1] & DELETED}
    deleted = {d for d in range(1, len(flags) + 1) if flags[d - 1] & DELETED}
    assert archived and deleted
    for stream in T.CHILD_STREAMS:
        parents = set(T.PARENTS[stream](ds))
        if T.PRIMARY_KEYS[stream][0] not in ("id", "uuid") and stream != "mail_messages":
            assert {k[0] for k in truth[stream]} <= parents, stream
        if stream.startswith("deal_"):
            assert archived <= parents, f"{stream} must visit archived deals"
            assert (deleted <= parents) == (stream in ("deal_flow", "deal_changelog")), stream
    for stream in ("deal_followers", "deal_participants_changelog", "deal_discounts", "deal_mail_messages",
                   "deal_changelog", "deal_flow", "deal_followers_changelog"):
        assert archived & {k[0] for k in _parented(ds, stream)}, f"no archived deal contributes to {stream}"


def _parented(ds, stream):
    items, key = T.CHILDREN[stream]
    return {(p,) + key(p, it) for p in T.PARENTS[stream](ds) for it in items(ds, p) or ()}


def _as_emitted(stream, parent, item) -> dict:
    """A record shaped as the connector emits it: the endpoint's item plus the fields its AddFields adds."""
    rec = dict(item)
    prefix = stream.split("_")[0]
    field = PARENT_FIELD.get(stream, PARENT_FIELD.get(prefix))
    if stream == "user_followers":
        rec["followed_user_id"] = parent  # the follower's own user_id stays
    elif stream not in ("mail_messages", "phases"):
        rec[field] = parent
    if "object" in item:  # flows and mail: id = data.id
        rec["id"] = item["data"]["id"]
    if stream in T.HISTORY_FIELDS:
        rec["_ab_change_key"] = "md5-of-the-entry"
    return rec


@pytest.mark.parametrize("stream", T.CHILD_STREAMS)
def test_emitted_key_of_a_connector_shaped_record_is_its_truth_key(ds, truth, stream):
    items, key = T.CHILDREN[stream]
    got = {T.emitted_key(stream, _as_emitted(stream, p, it)) for p in T.PARENTS[stream](ds) for it in items(ds, p)}
    assert got == truth[stream]


def test_truth_agrees_with_the_catalogue_and_with_the_records(ds, truth):
    for stream, entity in (("deal_changelog", "deals"), ("person_changelog", "persons")):
        entries = sum(len(ds.changelog(entity, p)) for p in T.PARENTS[stream](ds))
        assert len(truth[stream]) == entries, f"two {stream} entries share a key"
    for name in ("deal_discounts", "deal_participants", "note_comments", "role_assignments"):
        assert truth[name] == T.expected_keys(ds, name)  # stable across calls
    assert {(t["id"],) for t in ds.catalogue_truth("mail_threads")} == truth["mail"]
    deals = ds.truth("deals")
    assert truth["deals"] == {(i,) for i, d in deals.items() if not d["is_archived"]}
    assert truth["deals_archived"] == {(i,) for i, d in deals.items() if d["is_archived"]}
    assert len(truth["mail"]) > 500 and len(truth["mail_messages"]) >= len(truth["mail"])


def test_flows_with_all_changes_add_the_custom_field_changes(ds):
    plain, everything = T.expected_keys(ds, "deal_flow"), T.expected_keys(ds, "deal_flow", all_changes=True)
    assert plain <= everything


def test_child_changes_report_the_history_a_mutation_writes(ds):
    ds = Dataset(21, 60)  # a private copy: this test mutates it
    before = T.snapshot(ds)
    summary = ds.mutate(update_fraction=0.2, delete_fraction=0.05, entities=["deals", "persons"])
    after = T.snapshot(ds)
    changes = T.child_changes(before, after)
    touched = set(summary["deals"]["updated"]) | set(summary["deals"]["deleted"])
    assert touched
    assert {k[0] for k in changes["deal_changelog"]["new"]} == touched
    assert not changes["deal_changelog"]["gone"] and not changes["deal_changelog"]["changed"]
    new_flow = changes["deal_flow"]["new"]
    assert {k[0] for k in new_flow} == touched and {k[1] for k in new_flow} == {"dealChange"}
    # deleted persons leave the listed parents, so their history leaves the truth with them
    assert {k[0] for k in changes["person_changelog"]["new"]} == set(summary["persons"]["updated"])
    assert {k[0] for k in changes["person_changelog"]["gone"]} <= set(summary["persons"]["deleted"])
    gone = {k[0] for k in changes["deal_followers"]["gone"]}
    assert gone == set(summary["deals"]["deleted"])  # deleted deals leave the parents of deal children
    for stream in ("role_assignments", "user_followers", "phases", "mail_messages", "project_changelog"):
        assert changes[stream] == {"new": set(), "changed": set(), "gone": set()}, stream
