"""Counts the emulator reports match the lists it serves, and its data has what a demanding account has.

- Every documented `*_count` of include_fields (v2 deals, archived deals, persons, organizations) equals, for every
  record of a small account, the length of the list the matching child endpoint returns for that record -- read
  over HTTP, all pages (emulator/counts.py gives the mapping).
- Users are followed by several colleagues; the token user's mailbox holds more than one 500-thread page; archived
  deals have every kind of per-deal child and archived projects a changelog; zero counts stay common.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `integration_tests` has no __init__.py

from integration_tests.emulator import Emulator  # noqa: E402
from integration_tests.emulator.catalogue import MAILBOX_MIN  # noqa: E402
from integration_tests.emulator.data import Dataset  # noqa: E402


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=21, scale=60) as e:  # the account of test_catalogue_end_to_end.py
        yield e


@pytest.fixture(scope="module")
def http(emu):
    s = requests.Session()
    s.headers["x-api-token"] = "test-token"
    return s


def _enum(specs, operation_path, name="include_fields"):
    op = specs["v2"]["paths"][operation_path]["get"]
    return next(p["schema"]["enum"] for p in op["parameters"] if p.get("name") == name)


def _v2_all(http, url, **params):
    out, cursor = [], None
    while True:
        body = http.get(url, params=dict(params, limit=500, **({"cursor": cursor} if cursor else {}))).json()
        out += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return out


def _v1_all(http, url, **params):
    out, start = [], 0
    while True:
        body = http.get(url, params=dict(params, start=start, limit=500)).json()
        out += body["data"] or []
        pagination = body["additional_data"]["pagination"]
        if not pagination["more_items_in_collection"]:
            return out
        start = pagination["next_start"]


@pytest.fixture(scope="module")
def listed(emu, http, specs):
    """Parents as the API lists them, with every documented include_fields value requested."""
    deal_fields = ",".join(_enum(specs, "/deals"))
    return {
        "deals": _v2_all(http, emu.base_url + "/api/v2/deals", include_fields=deal_fields),
        "archived": _v2_all(http, emu.base_url + "/api/v2/deals/archived",
                            include_fields=",".join(_enum(specs, "/deals/archived"))),
        "persons": _v2_all(http, emu.base_url + "/api/v2/persons",
                           include_fields=",".join(x for x in _enum(specs, "/persons")
                                                   if x not in ("marketing_status", "doi_status"))),
        "organizations": _v2_all(http, emu.base_url + "/api/v2/organizations",
                                 include_fields=",".join(_enum(specs, "/organizations"))),
        "files": _v1_all(http, emu.base_url + "/v1/files"),
    }


def test_every_documented_count_is_served_on_every_list(specs, listed):
    for key, path in (("deals", "/deals"), ("archived", "/deals/archived"), ("persons", "/persons"),
                      ("organizations", "/organizations")):
        counts = [x for x in _enum(specs, path) if x.endswith("_count")]
        assert counts and listed[key]
        for rec in listed[key]:
            assert all(isinstance(rec[name], int) for name in counts), (key, rec["id"])


def test_products_document_no_count_field(specs, emu, http):
    params = {p["name"] for p in specs["v2"]["paths"]["/products"]["get"]["parameters"]}
    assert "include_fields" not in params
    assert http.get(emu.base_url + "/api/v2/products", params={"include_fields": "followers_count"}).status_code == 400


def _common_counts(emu, http, entity, ref, rec, files):
    """Counts shared by deals, persons and organizations, each recomputed from its child endpoint."""
    rid = rec["id"]
    base = emu.base_url
    activities = _v2_all(http, base + "/api/v2/activities", **{ref: rid})
    mail = _v1_all(http, base + f"/v1/{entity}/{rid}/mailMessages")
    received = [m["data"]["message_time"] for m in mail if not m["data"]["sent_flag"] and not m["data"]["draft_flag"]]
    sent = [m["data"]["message_time"] for m in mail if m["data"]["sent_flag"]]
    return {
        "followers_count": len(_v2_all(http, base + f"/api/v2/{entity}/{rid}/followers")),
        "email_messages_count": len(mail),
        "activities_count": len(activities),
        "done_activities_count": sum(1 for a in activities if a["done"]),
        "undone_activities_count": sum(1 for a in activities if not a["done"]),
        "files_count": sum(1 for f in files if f[ref] == rid),
        "notes_count": len(_v1_all(http, base + "/v1/notes", **{ref: rid})),
        "last_incoming_mail_time": max(received)[:19] + "Z" if received else None,
        "last_outgoing_mail_time": max(sent)[:19] + "Z" if sent else None,
    }


def _assert_same(rec, expected, kind):
    got = {k: rec[k] for k in expected}
    assert got == expected, (kind, rec["id"])


def test_deal_counts_equal_their_child_lists_for_live_and_archived_deals(emu, http, listed):
    assert listed["archived"], "the account has no archived deal: the comparison would prove less"
    nonzero = set()
    for kind in ("deals", "archived"):
        for rec in listed[kind]:
            did = rec["id"]
            expected = _common_counts(emu, http, "deals", "deal_id", rec, listed["files"])
            expected["participants_count"] = len(_v1_all(http, emu.base_url + f"/v1/deals/{did}/participants"))
            expected["products_count"] = len(_v2_all(http, emu.base_url + f"/api/v2/deals/{did}/products"))
            batch = _v2_all(http, emu.base_url + "/api/v2/deals/products", deal_ids=str(did))
            assert len(batch) == expected["products_count"]
            _assert_same(rec, expected, kind)
            nonzero |= {k for k, v in expected.items() if v}
    assert nonzero >= {"followers_count", "email_messages_count", "activities_count", "files_count", "notes_count",
                       "participants_count", "products_count"}, "some count is never exercised"


def _deal_status_counts(deals, key):
    out = {}
    for d in deals:
        row = out.setdefault(d[key], {"open": 0, "won": 0, "lost": 0})
        row[d["status"]] += 1
    return out


def test_person_counts_equal_their_child_lists(emu, http, listed):
    deals = listed["deals"]  # what /api/v2/deals?person_id= lists: neither archived nor deleted
    own = _deal_status_counts(deals, "person_id")
    org_of = {p["id"]: p["org_id"] for p in listed["persons"]}
    participant = {}
    for d in deals:
        for part in _v1_all(http, emu.base_url + f"/v1/deals/{d['id']}/participants"):
            person = part["person"]["id"]
            if person != d["person_id"]:
                row = participant.setdefault(person, {"open": 0, "closed": 0})
                row["open" if d["status"] == "open" else "closed"] += 1
    nonzero = set()
    for rec in listed["persons"]:
        pid = rec["id"]
        expected = _common_counts(emu, http, "persons", "person_id", rec, listed["files"])
        mine = own.get(pid, {"open": 0, "won": 0, "lost": 0})
        by_api = {s: len(_v2_all(http, emu.base_url + "/api/v2/deals", person_id=pid, status=s)) for s in mine}
        assert by_api == mine
        related = {"open": 0, "won": 0, "lost": 0}
        for d in deals:
            if org_of[pid] and d["org_id"] == org_of[pid] and d["person_id"] != pid:
                related[d["status"]] += 1
        for prefix, row in (("", mine), ("related_", related)):
            for status in ("open", "won", "lost"):
                expected[f"{prefix}{status}_deals_count"] = row[status]
            expected[f"{prefix}closed_deals_count"] = row["won"] + row["lost"]
        part = participant.get(pid, {"open": 0, "closed": 0})
        expected["participant_open_deals_count"] = part["open"]
        expected["participant_closed_deals_count"] = part["closed"]
        _assert_same(rec, expected, "persons")
        nonzero |= {k for k, v in expected.items() if v}
    assert nonzero >= {"followers_count", "email_messages_count", "activities_count", "notes_count", "files_count",
                       "open_deals_count", "related_open_deals_count", "participant_open_deals_count",
                       "closed_deals_count", "related_closed_deals_count", "participant_closed_deals_count"}


def test_organization_counts_equal_their_child_lists(emu, http, listed):
    deals = listed["deals"]
    own = _deal_status_counts(deals, "org_id")
    org_of = {p["id"]: p["org_id"] for p in listed["persons"]}
    nonzero = set()
    for rec in listed["organizations"]:
        oid = rec["id"]
        expected = _common_counts(emu, http, "organizations", "org_id", rec, listed["files"])
        del expected["last_incoming_mail_time"], expected["last_outgoing_mail_time"]  # not documented on orgs
        expected["people_count"] = len(_v2_all(http, emu.base_url + "/api/v2/persons", org_id=oid))
        mine = own.get(oid, {"open": 0, "won": 0, "lost": 0})
        related = {"open": 0, "won": 0, "lost": 0}
        for d in deals:  # reached through one of the org's persons, not through the deal's own org_id
            if d["person_id"] and org_of.get(d["person_id"]) == oid and d["org_id"] != oid:
                related[d["status"]] += 1
        for prefix, row in (("", mine), ("related_", related)):
            for status in ("open", "won", "lost"):
                expected[f"{prefix}{status}_deals_count"] = row[status]
            expected[f"{prefix}closed_deals_count"] = row["won"] + row["lost"]
        _assert_same(rec, expected, "organizations")
        nonzero |= {k for k, v in expected.items() if v}
    # seeded deals share their contact's organization, so related counts of organizations appear only once deals
    # are added (test_counts_follow_a_mutation); this small account has no file on an organization
    assert nonzero >= {"followers_count", "email_messages_count", "activities_count", "notes_count", "people_count",
                       "open_deals_count", "won_deals_count"}


def test_next_and_last_activity_are_the_earliest_undone_and_latest_done(emu, http, listed):
    checked = 0
    for rec in listed["deals"]:
        acts = _v2_all(http, emu.base_url + "/api/v2/activities", deal_id=rec["id"])
        undone = sorted((a["due_date"], a["id"]) for a in acts if not a["done"])
        done = sorted((a["due_date"], a["id"]) for a in acts if a["done"])
        assert rec["next_activity_id"] == (undone[0][1] if undone else None)
        assert rec["last_activity_id"] == (done[-1][1] if done else None)
        checked += bool(acts)
    assert checked


def test_counts_follow_a_mutation():
    with Emulator(seed=21, scale=60) as fresh:
        s = requests.Session()
        s.headers["x-api-token"] = "test-token"
        deals_url = fresh.base_url + "/api/v2/deals"
        before = {d["id"]: d for d in _v2_all(s, deals_url, include_fields="done_activities_count")}
        fresh.mutate(update_fraction=0.5, entities=["activities"])
        fresh.mutate(update_fraction=0, add=8, entities=["deals"])  # new deals: contact and org drawn apart
        after = _v2_all(s, deals_url, include_fields="done_activities_count")
        changed = 0
        for d in after:
            acts = _v2_all(s, fresh.base_url + "/api/v2/activities", deal_id=d["id"], done="true")
            assert d["done_activities_count"] == len(acts)
            changed += d["id"] in before and d["done_activities_count"] != before[d["id"]]["done_activities_count"]
        assert changed
        org_of = {p["id"]: p["org_id"] for p in _v2_all(s, fresh.base_url + "/api/v2/persons")}
        orgs = _v2_all(s, fresh.base_url + "/api/v2/organizations",
                       include_fields="related_open_deals_count,related_closed_deals_count")
        related = {}
        for d in after:
            if d["person_id"] and org_of.get(d["person_id"]) and org_of[d["person_id"]] != d["org_id"]:
                row = related.setdefault(org_of[d["person_id"]], [0, 0])
                row[d["status"] != "open"] += 1
        assert related
        for o in orgs:
            assert [o["related_open_deals_count"], o["related_closed_deals_count"]] == related.get(o["id"], [0, 0])


# ---- what the data holds ---------------------------------------------------------------------------------------

def test_some_users_have_several_followers_and_nobody_follows_themselves(emu, http):
    followers = {uid: [f["user_id"] for f in http.get(emu.base_url + f"/api/v2/users/{uid}/followers").json()["data"]]
                 for uid in emu.truth("users")}
    assert max(len(f) for f in followers.values()) >= 2
    assert all(uid not in f for uid, f in followers.items())


@pytest.mark.parametrize("seed,scale", [(21, 60), (11, 300), (3, 1600)])
def test_the_token_users_mailbox_holds_more_than_one_500_thread_page_at_any_scale(seed, scale):
    ds = Dataset(seed, scale)
    threads = ds.catalogue_truth("mail_threads")
    inbox = ds.catalogue_truth("mail_threads", folder="inbox")
    assert len(threads) >= MAILBOX_MIN and len(inbox) > 500
    messages = [len(ds.catalogue_truth("mail_thread_messages", t["id"])) for t in threads]
    assert max(messages) <= 4 and sum(messages) < 2 * len(threads)  # small threads


def test_most_deals_are_followed_by_their_owner_and_zero_counts_stay_common(emu, http, listed):
    deals = listed["deals"] + listed["archived"]
    followed_by_owner = 0
    for d in deals:
        followers = http.get(emu.base_url + f"/api/v2/deals/{d['id']}/followers").json()["data"]
        followed_by_owner += d["owner_id"] in {f["user_id"] for f in followers}
    assert followed_by_owner >= 0.8 * len(deals)
    for count in ("email_messages_count", "files_count", "notes_count", "activities_count", "products_count"):
        assert sum(1 for d in deals if d[count] == 0) >= 0.3 * len(deals), count


ARCHIVED_DEAL_CHILDREN = [  # (catalogue truth, url); the truth of followers and products is the generator itself
    ("deal_followers", "/api/v2/deals/{id}/followers?limit=500"),
    ("deal_followers_changelog", "/api/v2/deals/{id}/followers/changelog?limit=500"),
    ("deal_participants", "/v1/deals/{id}/participants?limit=500"),
    ("deal_participants_changelog", "/v1/deals/{id}/participantsChangelog?limit=500"),
    ("deal_discounts", "/api/v2/deals/{id}/discounts"),
    ("deal_flow", "/v1/deals/{id}/flow?limit=500"),
    ("deal_changelog", "/v1/deals/{id}/changelog?limit=500"),
    ("deal_mail_messages", "/v1/deals/{id}/mailMessages?limit=500"),
    ("deal_products", "/api/v2/deals/{id}/products?limit=500"),
    ("deal_installments", "/api/v2/deals/installments?deal_ids={id}&limit=500"),
]


@pytest.mark.parametrize("name,url", ARCHIVED_DEAL_CHILDREN, ids=[x[0] for x in ARCHIVED_DEAL_CHILDREN])
def test_archived_deals_have_every_kind_of_child_and_the_truth_covers_them(emu, http, listed, name, url):
    archived = [d["id"] for d in listed["archived"]]
    truth = {"deal_followers": lambda did: sorted(emu.ds.followers("deals", did), key=lambda f: f["user_id"]),
             "deal_products": emu.ds.deal_products}.get(name, lambda did: emu.catalogue_truth(name, did))
    with_children = 0
    for did in archived:
        resp = http.get(emu.base_url + url.format(id=did))
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"] or []
        assert data == truth(did)
        with_children += bool(data)
    assert with_children, f"no archived deal has {name}"
    if name not in ("deal_followers", "deal_products"):
        assert set(archived) <= set(emu.catalogue_truth(name)), "catalogue_truth(name) must cover archived deals"


def test_archived_projects_have_a_changelog(emu, http):
    archived = [p["id"] for p in _v2_all(http, emu.base_url + "/api/v2/projects/archived")]
    assert archived
    logs = {pid: _v2_all(http, emu.base_url + f"/api/v2/projects/{pid}/changelog") for pid in archived}
    assert all(logs.values()), {pid: len(x) for pid, x in logs.items()}
    assert set(archived) <= set(emu.catalogue_truth("project_changelog"))
