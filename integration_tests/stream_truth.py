"""The exact primary keys a complete full sync of each of the connector's 74 streams must deliver, from the
emulator's own truth (Dataset columns, `Dataset.truth`, `catalogue_truth`) -- never from its HTTP API.

    from integration_tests.stream_truth import STREAMS, expected_keys, emitted_key
    expected_keys(emulator, "deal_followers")            # {(deal_id, user_id), ...}
    {emitted_key("deal_followers", r) for r in run.records("deal_followers")}   # the same form, from a sync
    before = snapshot(emulator); emulator.mutate(...); after = snapshot(emulator)
    child_changes(before, after)["deal_changelog"]       # {"new": {...}, "changed": {...}}

What "complete" means -- the parents a sync visits (the contract the connector is held to):
- deal children (deal_followers, deal_followers_changelog, deal_discounts, deal_participants,
  deal_participants_changelog, deal_mail_messages): the deals /api/v2/deals lists (neither deleted nor archived)
  plus the deals /api/v2/deals/archived lists (not deleted);
- deal history (deal_flow, deal_changelog): the deals both lists return with status=open,won,lost,deleted, i.e.
  deleted ones too (Pipedrive keeps them 30 days; the emulator never purges, so: every deal);
- deal_products and deal_installments: live and archived deals (not deleted), through the batch endpoints;
- person, organization, product and note children: the listed (not deleted) parents;
- user children: every user /v1/users lists (deactivated ones too); role and permission-set children: every
  role / permission set listed (a set without assignments answers 404 and contributes nothing);
- project_changelog: /api/v2/projects plus /api/v2/projects/archived (default statuses: deleted ones excluded);
- mail_messages: every thread of every folder (inbox, drafts, sent, archive) of the token user's mailbox;
- phases: every board's phases.
Top-level lists: what the endpoint lists with the parameters the connector sends (deals and deals_archived with
status=open,won,lost,deleted; deletion-tracked lists as a first sync sees them: only listed records, no
tombstones). Options that change a list are keyword arguments (`all_changes` for the flows).

Primary keys are each stream's `primary_key` in manifest.yaml (PRIMARY_KEYS below; test_stream_truth.py checks
they still agree). Keys are tuples in primary-key order, values typed as the connector emits them. Exceptions:
- user_followers: (followed_user_id, user_id) = (the followed user, the follower).
- The history streams keyed by `_ab_change_key` (an md5 of the whole entry as the connector serialised it:
  deal_changelog, person_changelog, organization_changelog, project_changelog) cannot be computed here. Their
  key is (parent id, *every field of the entry) in HISTORY_FIELDS order -- the same identity the hash gives,
  since the hash covers the whole entry; dict values (project old_values/new_values) as canonical JSON.
  `emitted_key()` builds the same tuple from an emitted record.

Streams that are legitimately empty in some accounts are listed in MAY_BE_EMPTY with the reason.
"""
from __future__ import annotations

import hashlib
import json

from integration_tests.emulator import fields as F
from integration_tests.emulator.api_v1 import note_field_items, v1_fields
from integration_tests.emulator.data import ARCHIVED, DELETED

# stream -> primary key as declared in manifest.yaml
PRIMARY_KEYS = {
    "activities": ("id",), "activity_fields": ("field_code",), "activity_types": ("id",), "boards": ("id",),
    "call_logs": ("id",), "currencies": ("id",), "deal_changelog": ("deal_id", "_ab_change_key"),
    "deal_discounts": ("id",), "deal_fields": ("field_code",), "deal_flow": ("deal_id", "object", "id"),
    "deal_followers": ("deal_id", "user_id"), "deal_followers_changelog": ("deal_id", "follower_user_id", "action", "time"),
    "deal_installments": ("id",), "deal_mail_messages": ("deal_id", "object", "id"), "deal_participants": ("id",),
    "deal_participants_changelog": ("deal_id", "person_id", "action", "time"), "deal_products": ("deal_id", "id"),
    "deals": ("id",), "deals_archived": ("id",), "files": ("id",), "filters": ("id",), "goals": ("id",),
    "lead_fields": ("key",), "lead_labels": ("id",), "lead_sources": ("name",), "leads": ("id",),
    "leads_archived": ("id",), "mail": ("id",), "mail_messages": ("id",), "note_comments": ("uuid",),
    "note_fields": ("key",), "notes": ("id",), "organization_changelog": ("org_id", "_ab_change_key"),
    "organization_fields": ("field_code",), "organization_flow": ("org_id", "object", "id"),
    "organization_followers": ("org_id", "user_id"),
    "organization_followers_changelog": ("org_id", "follower_user_id", "action", "time"),
    "organization_mail_messages": ("org_id", "object", "id"), "organization_relationships": ("org_id", "id"),
    "organizations": ("id",), "permission_set_assignments": ("permission_set_id", "user_id"),
    "permission_sets": ("id",), "person_changelog": ("person_id", "_ab_change_key"), "person_fields": ("field_code",),
    "person_flow": ("person_id", "object", "id"), "person_followers": ("person_id", "user_id"),
    "person_followers_changelog": ("person_id", "follower_user_id", "action", "time"),
    "person_mail_messages": ("person_id", "object", "id"), "persons": ("id",), "phases": ("id",),
    "pipelines": ("id",), "product_fields": ("field_code",), "product_followers": ("product_id", "user_id"),
    "product_followers_changelog": ("product_id", "follower_user_id", "action", "time"),
    "product_images": ("id",), "product_variations": ("id",), "products": ("id",),
    "project_changelog": ("project_id", "_ab_change_key"), "project_fields": ("field_code",),
    "project_templates": ("id",), "projects": ("id",), "projects_archived": ("id",),
    "role_assignments": ("role_id", "user_id"), "role_pipelines": ("role_id",), "role_settings": ("role_id",),
    "roles": ("id",), "stages": ("id",), "tasks": ("id",), "user_followers": ("followed_user_id", "user_id"),
    "user_permissions": ("user_id",), "user_role_assignments": ("user_id", "role_id"),
    "user_role_settings": ("user_id",), "users": ("id",), "webhooks": ("id",),
}

# history streams: the fields of an entry, in key order (after the parent id)
_V1_CHANGELOG = ("field_key", "time", "old_value", "new_value", "actor_user_id", "change_source",
                 "change_source_user_agent", "is_bulk_update_flag")
HISTORY_FIELDS = {
    "deal_changelog": _V1_CHANGELOG, "person_changelog": _V1_CHANGELOG, "organization_changelog": _V1_CHANGELOG,
    "project_changelog": ("time", "old_values", "new_values", "actor_user_id", "change_source",
                          "change_source_user_agent"),
}

MAY_BE_EMPTY = {
    "product_variations": "~30% of products have variations; a small account has 5 products",
    "product_images": "~40% of products have an image (product 2 always has one)",
    "organization_relationships": "few organizations are related (n_orgs // 8 relationships)",
    "deal_installments": "~15% of deals have installments (showcase archived deals always do)",
    "note_comments": "about half of the notes have comments",
    "leads_archived": "~5% of leads are archived; a small account has 15",
}

# ---- parents ------------------------------------------------------------------------------------------------------


def _ds(source):
    return getattr(source, "ds", source)


def _rows(ds, entity, keep):
    t = ds.tables[entity]
    return [k + 1 for k in range(t.n) if keep(t.flags[k])]


def live_deals(ds) -> list:
    """Deals /api/v2/deals lists with default statuses: neither deleted nor archived."""
    return _rows(ds, "deals", lambda f: not f)


def archived_deals(ds) -> list:
    """Deals /api/v2/deals/archived lists with default statuses: archived, not deleted."""
    return _rows(ds, "deals", lambda f: f & ARCHIVED and not f & DELETED)


def every_deal(ds) -> list:
    """Deals both lists return with status=open,won,lost,deleted: all of them."""
    return _rows(ds, "deals", lambda f: True)


def _listed(ds, entity) -> list:
    return _rows(ds, entity, lambda f: not f & DELETED)


# parent set of each child stream (name -> function of the dataset)
PARENTS = {
    **{s: lambda ds: sorted(live_deals(ds) + archived_deals(ds)) for s in (
        "deal_followers", "deal_followers_changelog", "deal_discounts", "deal_participants",
        "deal_participants_changelog", "deal_mail_messages", "deal_products", "deal_installments")},
    "deal_flow": every_deal, "deal_changelog": every_deal,
    **{s: (lambda e: lambda ds: _listed(ds, e))(e) for e, names in (
        ("persons", ("person_followers", "person_followers_changelog", "person_flow", "person_changelog",
                     "person_mail_messages")),
        ("organizations", ("organization_followers", "organization_followers_changelog", "organization_flow",
                           "organization_changelog", "organization_mail_messages", "organization_relationships")),
        ("products", ("product_followers", "product_followers_changelog", "product_images", "product_variations")),
        ("notes", ("note_comments",))) for s in names},
    **{s: lambda ds: [u["id"] for u in ds.users] for s in (
        "user_followers", "user_permissions", "user_role_assignments", "user_role_settings")},
    **{s: lambda ds: [r["id"] for r in ds.roles()] for s in ("role_assignments", "role_pipelines", "role_settings")},
    "permission_set_assignments": lambda ds: list(ds.permission_set_ids),
    "project_changelog": lambda ds: [p["id"] for p in ds.projects(copy=False) if p["status"] != "deleted"],
    "mail_messages": lambda ds: ds.mail_thread_ids(None),
    "phases": lambda ds: [b["id"] for b in ds.boards()],
}

# ---- per-stream truth -----------------------------------------------------------------------------------------------


def _canon(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def _history_key(stream, parent, entry) -> tuple:
    return (parent,) + tuple(_canon(entry.get(f)) for f in HISTORY_FIELDS[stream])


def _by_user(p, f):
    return (p, f["user_id"])


def _changelog_entry(p, e):
    return (p, e["follower_user_id"], e["action"], e["time"])


def _feed_item(p, it):
    return (p, it["object"], it["data"]["id"])


def _own_id(p, x):
    return (x["id"],)


def _parent_only(p, x):
    return (p,)


# child stream -> (items(ds, parent, **options): the list its endpoint serves for the parent,
#                  key(parent, item): the primary key of the record the connector makes of it)
CHILDREN = {
    "deal_followers": (lambda ds, p, **_: ds.followers("deals", p), _by_user),
    "deal_followers_changelog": (lambda ds, p, **_: ds.followers_changelog("deals", p), _changelog_entry),
    "deal_discounts": (lambda ds, p, **_: ds.deal_discounts(p), _own_id),
    "deal_participants": (lambda ds, p, **_: ds.deal_participants(p), _own_id),
    "deal_participants_changelog": (lambda ds, p, **_: ds.participants_changelog(p),
                                    lambda p, e: (p, e["person_id"], e["action"], e["time"])),
    "deal_mail_messages": (lambda ds, p, **_: ds.mail_messages("deals", p), _feed_item),
    "deal_products": (lambda ds, p, **_: ds.deal_products(p), lambda p, x: (p, x["id"])),
    "deal_installments": (lambda ds, p, **_: ds.deal_installments(p), _own_id),
    "deal_flow": (lambda ds, p, all_changes=False, **_: ds.flow("deals", p, all_changes), _feed_item),
    "deal_changelog": (lambda ds, p, **_: ds.changelog("deals", p),
                       lambda p, e: _history_key("deal_changelog", p, e)),
    "person_followers": (lambda ds, p, **_: ds.followers("persons", p), _by_user),
    "person_followers_changelog": (lambda ds, p, **_: ds.followers_changelog("persons", p), _changelog_entry),
    "person_flow": (lambda ds, p, all_changes=False, **_: ds.flow("persons", p, all_changes), _feed_item),
    "person_changelog": (lambda ds, p, **_: ds.changelog("persons", p),
                         lambda p, e: _history_key("person_changelog", p, e)),
    "person_mail_messages": (lambda ds, p, **_: ds.mail_messages("persons", p), _feed_item),
    "organization_followers": (lambda ds, p, **_: ds.followers("organizations", p), _by_user),
    "organization_followers_changelog": (lambda ds, p, **_: ds.followers_changelog("organizations", p),
                                         _changelog_entry),
    "organization_flow": (lambda ds, p, all_changes=False, **_: ds.flow("organizations", p, all_changes),
                          _feed_item),
    "organization_changelog": (lambda ds, p, **_: ds.changelog("organizations", p),
                               lambda p, e: _history_key("organization_changelog", p, e)),
    "organization_mail_messages": (lambda ds, p, **_: ds.mail_messages("organizations", p), _feed_item),
    "organization_relationships": (lambda ds, p, **_: ds.org_relationships(p), lambda p, r: (p, r["id"])),
    "product_followers": (lambda ds, p, **_: ds.followers("products", p), _by_user),
    "product_followers_changelog": (lambda ds, p, **_: ds.followers_changelog("products", p), _changelog_entry),
    "product_images": (lambda ds, p, **_: ds.catalogue_truth("product_images", p), _own_id),
    "product_variations": (lambda ds, p, **_: ds.variations(p), _own_id),
    "note_comments": (lambda ds, p, **_: ds.note_comments(p), lambda p, c: (c["uuid"],)),
    "user_followers": (lambda ds, p, **_: ds.followers("users", p), _by_user),  # (followed user, follower)
    "user_permissions": (lambda ds, p, **_: [ds.user_permissions(p)], _parent_only),
    "user_role_assignments": (lambda ds, p, **_: ds.user_role_assignments(p), lambda p, a: (p, a["role_id"])),
    "user_role_settings": (lambda ds, p, **_: [ds.user_role_settings(p)], _parent_only),
    "role_assignments": (lambda ds, p, **_: ds.role_assignments(p), lambda p, a: (p, a["user_id"])),
    "role_pipelines": (lambda ds, p, **_: [ds.role_pipelines(p)], _parent_only),
    "role_settings": (lambda ds, p, **_: [ds.role_settings(p)], _parent_only),
    "permission_set_assignments": (lambda ds, p, **_: ds.permission_set_assignments(p),
                                   lambda p, a: (p, a["user_id"])),
    "project_changelog": (lambda ds, p, **_: ds.project_changelog(p),
                          lambda p, e: _history_key("project_changelog", p, e)),
    "mail_messages": (lambda ds, p, **_: ds.mail_thread_messages(p), _own_id),
    "phases": (lambda ds, p, **_: ds.phases(p), _own_id),
}


def _children(stream):
    items, key = CHILDREN[stream]
    return lambda ds, **options: {key(p, it) for p in PARENTS[stream](ds) for it in items(ds, p, **options) or ()}


def _fields(entity):
    def fn(ds, **_):
        custom = ds.activity_custom if entity == "activities" else ds.custom[entity]
        return {(it["field_code"],) for it in F.v2_field_items(entity, custom)}
    return fn


def _leads(archived):
    def fn(ds, **_):
        t = ds.tables["leads"]
        want = ARCHIVED if archived else 0
        return {(ds.lead_uuids[k],) for k in range(t.n) if not t.flags[k] & DELETED and t.flags[k] & ARCHIVED == want}
    return fn


def _ids(items):
    return lambda ds, **_: {(it["id"],) for it in items(ds)}


TRUTH = {
    "deals": lambda ds, **_: {(d,) for d in _rows(ds, "deals", lambda f: not f & ARCHIVED)},
    "deals_archived": lambda ds, **_: {(d,) for d in _rows(ds, "deals", lambda f: f & ARCHIVED)},
    **{e: (lambda e: lambda ds, **_: {(i,) for i in _listed(ds, e)})(e)
       for e in ("persons", "organizations", "activities", "products", "notes")},
    "leads": _leads(False), "leads_archived": _leads(True),
    "pipelines": _ids(lambda ds: [p for p in ds.pipelines if not p["is_deleted"]]),
    "stages": _ids(lambda ds: [s for s in ds.stages if not s["is_deleted"]]),
    "users": _ids(lambda ds: ds.users),
    "activity_types": _ids(lambda ds: ds.activity_types()),  # inactive ones stay listed (flagged deleted)
    "currencies": _ids(lambda ds: ds.currencies()),
    "filters": _ids(lambda ds: ds.filters()),
    "files": _ids(lambda ds: ds.files()),
    "call_logs": _ids(lambda ds: ds.call_logs()),
    "lead_labels": _ids(lambda ds: ds.lead_labels),
    "lead_sources": lambda ds, **_: {(s["name"],) for s in ds.lead_sources()},
    "lead_fields": lambda ds, **_: {(f["key"],) for f in v1_fields(ds, "leads")},
    "note_fields": lambda ds, **_: {(f["key"],) for f in note_field_items()},
    **{f"{s}_fields": _fields(e) for s, e in (("deal", "deals"), ("person", "persons"),
                                              ("organization", "organizations"), ("product", "products"),
                                              ("activity", "activities"))},
    "project_fields": lambda ds, **_: {(f["field_code"],) for f in ds.project_fields()},
    "projects": _ids(lambda ds: ds.catalogue_truth("projects")),
    "projects_archived": _ids(lambda ds: ds.catalogue_truth("archived_projects")),
    "project_templates": _ids(lambda ds: ds.project_templates()),
    "tasks": _ids(lambda ds: ds.tasks(copy=False)),
    "boards": _ids(lambda ds: ds.boards()),
    "roles": _ids(lambda ds: ds.roles()),
    "permission_sets": _ids(lambda ds: ds.permission_sets()),
    "webhooks": _ids(lambda ds: ds.webhooks()),
    "goals": _ids(lambda ds: ds.goals()),  # every goal type x is_active true/false: every goal once
    "mail": lambda ds, **_: {(t,) for t in ds.mail_thread_ids(None)},
    **{stream: _children(stream) for stream in CHILDREN},
}

STREAMS = tuple(sorted(PRIMARY_KEYS))
CHILD_STREAMS = tuple(sorted(CHILDREN))


def expected_keys(source, stream: str, **options) -> set:
    """Primary keys (tuples) a complete full sync of `stream` must emit; `source` is an Emulator or a Dataset."""
    ds = _ds(source)
    with ds.lock:
        return TRUTH[stream](ds, **options)


def all_expected_keys(source, **options) -> dict:
    """{stream: expected_keys(stream)} for all 74 streams."""
    return {s: expected_keys(source, s, **options) for s in STREAMS}


def emitted_key(stream: str, record: dict) -> tuple:
    """The key of a record as the connector emitted it, in the form expected_keys() uses."""
    if stream in HISTORY_FIELDS:
        parent = record[PRIMARY_KEYS[stream][0]]
        return _history_key(stream, parent, record)
    return tuple(record.get(f) for f in PRIMARY_KEYS[stream])


# ---- incremental check ------------------------------------------------------------------------------------------------

def _fingerprint(item) -> str:
    return hashlib.sha1(json.dumps(item, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def snapshot(source, streams=None, **options) -> dict:
    """{child stream: {key: fingerprint of the record's content as the endpoint serves it}}, to diff around
    Emulator.mutate()/delete_records()."""
    ds = _ds(source)
    out = {}
    with ds.lock:
        for stream in streams or CHILD_STREAMS:
            items, key = CHILDREN[stream]
            out[stream] = {key(p, it): _fingerprint(it) for p in PARENTS[stream](ds)
                           for it in items(ds, p, **options) or ()}
    return out


def child_changes(before: dict, after: dict) -> dict:
    """Per child stream, what an incremental sync after the change has to account for:
    {"new": keys absent before, "changed": keys whose record content differs, "gone": keys no longer there}.
    History streams only ever gain keys (their key is their content); a renamed person shows up as "changed" in
    the children that embed its name (participants, flows)."""
    out = {}
    for stream, now in after.items():
        then = before.get(stream, {})
        out[stream] = {"new": set(now) - set(then),
                       "changed": {k for k in now.keys() & then.keys() if now[k] != then[k]},
                       "gone": set(then) - set(now)}
    return out
