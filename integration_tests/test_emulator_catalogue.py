"""Secondary data sets of the emulator (catalogue.py, api_v2_catalogue.py, api_v1_catalogue.py).

Every endpoint answers in the documented shape (validated against the official OpenAPI response schema), charges its
x-token-cost, checks its OAuth scope, pages to the end exactly like `Emulator.catalogue_truth` says, and shows the
documented quirks (goals visibility rule, required mail folder, ≤100 deal ids, no additional_data on installments,
404 for a permission set without assignments, the recents window). History endpoints follow mutate().
"""
from __future__ import annotations

import base64
import calendar
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `integration_tests` has no __init__.py

from integration_tests.emulator import Emulator  # noqa: E402
from integration_tests.emulator import gen_spec_tables  # noqa: E402
from integration_tests.emulator.catalogue import CATALOGUE  # noqa: E402
from integration_tests.test_emulator_fidelity import _props, _record_props, _resolve, to_json_schema  # noqa: E402

OPENAPI = gen_spec_tables.DEFAULT_OPENAPI_DIR
TOKEN = {"x-api-token": "test-token"}


@pytest.fixture(scope="module")
def emu():
    narrow = {"secret": "narrow-secret", "scopes": ["base", "deals:read"]}
    with Emulator(seed=5, scale=300, oauth_clients={"client-id": "client-secret", "narrow-app": narrow}) as e:
        yield e


@pytest.fixture(scope="module")
def http(emu):
    s = requests.Session()
    s.headers.update(TOKEN)
    return s


# ---- parents with data ------------------------------------------------------------------------------------

def pick(emu, name, at_least=1, **kw):
    """A parent id whose truth for `name` has at least `at_least` items."""
    ds = emu.ds
    for pid in ds.catalogue_parents(name):
        items = ds.catalogue_truth(name, pid, **kw)
        if items is not None and len(items) >= at_least:
            return pid
    raise AssertionError(f"no parent of {name} with {at_least} items")


class _Parents(dict):
    def __init__(self, emu):
        super().__init__()
        self.emu = emu

    def __missing__(self, key):
        name, _, n = key.partition("__")
        ds = self.emu.ds
        if name == "goal":
            value = ds.goals()[0]["id"]
        elif name == "goal_period":
            d = ds.goals()[0]["duration"]
            value = f"period.start={d['start']}&period.end={d['end']}"
        elif name == "permission_set":
            value = ds.permission_set_ids[1]
        elif name == "mail_thread":
            value = pick(self.emu, "mail_thread_messages", 2)
        else:
            value = pick(self.emu, name, int(n or 1))
        self[key] = value
        return value


def concrete(url, emu):
    return url.format_map(_Parents(emu))


# ---- schema validation ---------------------------------------------------------------------------------------

# Nulls the documentation implies although the schema omits `nullable` (same idea as NULLABLE_BEYOND_SCHEMA in
# test_emulator_fidelity): unset optional dates, a party address not linked to a person (the user's own mailbox
# address), a message not sent from a template, and the usual null v1 attributes of records without them (no next
# activity, no mail yet, no organization/person link, no address, no picture, not won/lost yet).
_MAIL_NULLS = {"linked_person_id", "template_id"}
_RECENT_NULLS = {
    "next_activity_date", "next_activity_time", "won_time", "first_won_time", "lost_time", "last_incoming_mail_time",
    "last_outgoing_mail_time", "label", "next_activity_subject", "next_activity_type", "next_activity_duration",
    "next_activity_note", "expected_close_date", "stage_change_time", "person_id", "person_name", "org_id", "org_name",
    "merge_what_id", "deal_id", "reference_id", "last_notification_time", "last_notification_user_id",
    "update_user_id", "rec_master_activity_id", "file", "lead_id", "organization", "person", "project_id", "project",
    "task_id", "task", "icon_url", "deal", "picture_id", "address", "country_code",
    "product_id", "activity_id", "remote_id",  # files not linked to those (as NULLABLE_BEYOND_SCHEMA["/files"])
} | {"address_" + p for p in ("subpremise", "street_number", "route", "sublocality", "locality", "admin_area_level_1",
                              "admin_area_level_2", "country", "postal_code", "formatted_address")}
NULLABLE = {
    "/projects": {"end_date"}, "/projects/archived": {"end_date"},
    "/deals/{id}/mailMessages": _MAIL_NULLS, "/persons/{id}/mailMessages": _MAIL_NULLS,
    "/organizations/{id}/mailMessages": _MAIL_NULLS, "/mailbox/mailThreads": _MAIL_NULLS,
    "/mailbox/mailThreads/{id}/mailMessages": _MAIL_NULLS, "/recents": _RECENT_NULLS,
}
# documented properties that appear only on request
OPTIONAL = {"body"}

ENDPOINTS = [
    ("v2", "/deals/{id}/followers/changelog", "/api/v2/deals/{deal_followers_changelog__2}/followers/changelog"),
    ("v2", "/persons/{id}/followers/changelog", "/api/v2/persons/{person_followers_changelog}/followers/changelog"),
    ("v2", "/organizations/{id}/followers/changelog",
     "/api/v2/organizations/{organization_followers_changelog}/followers/changelog"),
    ("v2", "/products/{id}/followers/changelog", "/api/v2/products/{product_followers_changelog}/followers/changelog"),
    ("v2", "/deals/{id}/discounts", "/api/v2/deals/{deal_discounts}/discounts"),
    ("v2", "/deals/installments", "/api/v2/deals/installments?limit=500&deal_ids=" + ",".join(map(str, range(1, 101)))),
    ("v2", "/products/{id}/images", "/api/v2/products/{product_images}/images"),
    ("v2", "/projects", "/api/v2/projects?limit=500&status=open,completed,canceled,deleted"),
    ("v2", "/projects/archived", "/api/v2/projects/archived?limit=500"),
    ("v2", "/projectTemplates", "/api/v2/projectTemplates"),
    ("v2", "/projectFields", "/api/v2/projectFields"),
    ("v2", "/projects/{id}/changelog", "/api/v2/projects/{project_changelog}/changelog"),
    ("v2", "/projects/{id}/permittedUsers", "/api/v2/projects/{project_permitted_users}/permittedUsers"),
    ("v2", "/tasks", "/api/v2/tasks?limit=500"),
    ("v2", "/boards", "/api/v2/boards"),
    ("v2", "/phases", "/api/v2/phases?board_id=2"),
    ("v1", "/deals/{id}/flow", "/v1/deals/{deal_flow__4}/flow?all_changes=1"),
    ("v1", "/persons/{id}/flow", "/api/v1/persons/{person_flow__3}/flow"),
    ("v1", "/organizations/{id}/flow", "/v1/organizations/{organization_flow__3}/flow"),
    ("v1", "/deals/{id}/changelog", "/v1/deals/{deal_changelog__2}/changelog"),
    ("v1", "/persons/{id}/changelog", "/v1/persons/{person_changelog}/changelog"),
    ("v1", "/organizations/{id}/changelog", "/api/v1/organizations/{organization_changelog}/changelog"),
    ("v1", "/deals/{id}/participants", "/v1/deals/{deal_participants__2}/participants"),
    ("v1", "/deals/{id}/participantsChangelog", "/v1/deals/{deal_participants_changelog}/participantsChangelog"),
    ("v1", "/deals/{id}/mailMessages", "/v1/deals/{deal_mail_messages}/mailMessages?include_body=1"),
    ("v1", "/persons/{id}/mailMessages", "/v1/persons/{person_mail_messages}/mailMessages"),
    ("v1", "/organizations/{id}/mailMessages", "/v1/organizations/{organization_mail_messages}/mailMessages"),
    ("v1", "/mailbox/mailThreads", "/v1/mailbox/mailThreads?folder=inbox"),
    ("v1", "/mailbox/mailThreads/{id}/mailMessages", "/v1/mailbox/mailThreads/{mail_thread}/mailMessages"),
    ("v1", "/notes/{id}/comments", "/v1/notes/{note_comments}/comments"),
    ("v1", "/roles", "/v1/roles"),
    ("v1", "/roles/{id}/assignments", "/v1/roles/{role_assignments}/assignments"),
    ("v1", "/roles/{id}/settings", "/v1/roles/2/settings"),
    ("v1", "/roles/{id}/pipelines", "/v1/roles/3/pipelines?visible=false"),
    ("v1", "/permissionSets", "/v1/permissionSets"),
    ("v1", "/permissionSets/{id}/assignments", "/v1/permissionSets/{permission_set}/assignments"),
    ("v1", "/users/{id}/permissions", "/v1/users/2/permissions"),
    ("v1", "/users/{id}/roleAssignments", "/v1/users/2/roleAssignments"),
    ("v1", "/users/{id}/roleSettings", "/v1/users/2/roleSettings"),
    ("v1", "/users/{id}/followers", "/v1/users/{user_followers}/followers"),
    ("v1", "/userConnections", "/v1/userConnections"),
    ("v1", "/userSettings", "/v1/userSettings"),
    ("v1", "/webhooks", "/v1/webhooks"),
    ("v1", "/billing/subscriptions/addons", "/v1/billing/subscriptions/addons"),
    ("v1", "/filters/helpers", "/v1/filters/helpers"),
    ("v1", "/goals/find", "/v1/goals/find?assignee.type=person"),
    ("v1", "/goals/{id}/results", "/v1/goals/{goal}/results?{goal_period}"),
    ("v1", "/organizationRelationships", "/v1/organizationRelationships?org_id={organization_relationships}"),
    ("v1", "/recents", "/v1/recents?limit=500&since_timestamp=2019-01-01 00:00:00"),
]


def _schema(specs, version, path):
    spec = specs[version]
    content = _resolve(spec, spec["paths"][path]["get"]["responses"]["200"])["content"]["application/json"]
    return to_json_schema(spec, content["schema"], NULLABLE.get(path, set()) | {"next_cursor"})


@pytest.fixture(scope="module")
def mutated_for_recents(emu):
    # recents only reaches one month back from now: make sure something changed recently
    emu.mutate(update_fraction=0.05, add=2, delete_fraction=0.01)
    return emu


@pytest.mark.parametrize("version,path,url", ENDPOINTS, ids=[f"{v}:{p}" for v, p, _ in ENDPOINTS])
def test_response_validates_against_openapi_schema(specs, mutated_for_recents, http, version, path, url):
    emu = mutated_for_recents
    resp = http.get(emu.base_url + concrete(url, emu))
    assert resp.status_code == 200, resp.text[:300]
    body = resp.json()
    schema = _schema(specs, version, path)
    jsonschema.validate(body, schema)
    data = body["data"]
    assert data, f"{url} returned no data to validate"
    if "data" not in schema.get("properties", {}) and not schema.get("allOf"):
        return  # /filters/helpers: the schema is a bare object
    records = data if isinstance(data, list) else [data]
    documented = set(_record_props(schema)) - OPTIONAL
    for rec in records:
        if isinstance(rec, dict):
            assert not documented - set(rec), f"{url}: record lacks {sorted(documented - set(rec))}"


@pytest.mark.parametrize("version,path,url", ENDPOINTS, ids=[f"{v}:{p}" for v, p, _ in ENDPOINTS])
def test_each_endpoint_charges_its_x_token_cost(specs, emu, http, version, path, url):
    template = ("/api/v2" if version == "v2" else "/v1") + path
    expected = specs[version]["paths"][path]["get"]["x-token-cost"]
    before = emu.stats()["tokens_by_path"].get(f"GET {template}", 0)
    assert http.get(emu.base_url + concrete(url, emu)).status_code == 200
    assert emu.stats()["tokens_by_path"][f"GET {template}"] - before == expected


@pytest.mark.parametrize("url,allowed", [
    ("/api/v2/deals/1/discounts", True),  # deals:read
    ("/v1/deals/1/participants", True),  # deals:read
    ("/v1/deals/1/flow", False),  # recents:read
    ("/v1/deals/1/changelog", False),  # recents:read
    ("/v1/goals/find", False),  # goals:read
    ("/v1/mailbox/mailThreads?folder=inbox", False),  # mail:read
    ("/api/v2/projects", False),  # projects:read
    ("/v1/roles", False),  # admin
    ("/v1/users/1/permissions", False),  # users:read
    ("/v1/organizationRelationships?org_id=1", False),  # contacts:read
])
def test_oauth_scopes_of_the_new_endpoints(emu, url, allowed):
    refresh = emu.issue_oauth_refresh_token("narrow-app")
    auth = base64.b64encode(b"narrow-app:narrow-secret").decode()
    access = requests.post(emu.base_url + "/oauth/token", headers={"Authorization": "Basic " + auth},
                           data={"grant_type": "refresh_token", "refresh_token": refresh}).json()["access_token"]
    resp = requests.get(emu.base_url + url, headers={"Authorization": "Bearer " + access})
    if allowed:
        assert resp.status_code == 200, resp.text
    else:
        assert resp.status_code == 403 and resp.json()["error"] == "Scope and URL mismatch"


# ---- pagination to the end equals the truth ---------------------------------------------------------------------

def scan_v2(http, url, **params):
    out, pages, cursor = [], 0, None
    while True:
        resp = http.get(url, params=dict(params, **({"cursor": cursor} if cursor else {})))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        out += body["data"]
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return out, pages


def scan_v1_offset(http, url, limit, **params):
    out, pages, start = [], 0, 0
    while True:
        body = http.get(url, params=dict(params, start=start, limit=limit)).json()
        out += body["data"] or []
        pages += 1
        pag = body["additional_data"]["pagination"]
        assert pag["start"] == start and pag["limit"] == limit
        if not pag["more_items_in_collection"]:
            assert "next_start" not in pag
            return out, pages
        start = pag["next_start"]


def scan_v1_unannounced(http, url, limit, **params):
    """start/limit pages of a list whose envelope has no additional_data: the list ends with a short page."""
    out, pages, start = [], 0, 0
    while True:
        body = http.get(url, params=dict(params, start=start, limit=limit)).json()
        assert set(body) == {"success", "data"}, "the published response carries no additional_data"
        out += body["data"]
        pages += 1
        if len(body["data"]) < limit:
            return out, pages
        start += limit


def scan_v1_cursor(http, url, limit):
    out, pages, cursor = [], 0, None
    while True:
        body = http.get(url, params=dict(limit=limit, **({"cursor": cursor} if cursor else {}))).json()
        out += body["data"]
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return out, pages


V2_PAGED = [  # (truth name, url, limit, parent needs at least)
    ("deal_followers_changelog", "/api/v2/deals/{pid}/followers/changelog", 1, 3),
    ("product_followers_changelog", "/api/v2/products/{pid}/followers/changelog", 1, 2),
    ("project_changelog", "/api/v2/projects/{pid}/changelog", 1, 2),
    ("projects", "/api/v2/projects", 3, None),
    ("archived_projects", "/api/v2/projects/archived", 2, None),
    ("tasks", "/api/v2/tasks", 7, None),
    ("project_templates", "/api/v2/projectTemplates", 1, None),
    ("project_fields", "/api/v2/projectFields", 4, None),
]


@pytest.mark.parametrize("name,url,limit,at_least", V2_PAGED, ids=[x[0] for x in V2_PAGED])
def test_v2_cursor_pages_reach_the_end_and_equal_the_truth(emu, http, name, url, limit, at_least):
    pid = pick(emu, name, at_least) if at_least else None
    truth = emu.catalogue_truth(name, pid) if pid else emu.catalogue_truth(name)
    limit = min(limit, max(1, len(truth) - 1))  # always more than one page
    records, pages = scan_v2(http, emu.base_url + url.format(pid=pid), limit=limit)
    assert records == truth and len(truth) > limit
    assert pages == -(-len(truth) // limit)


V1_OFFSET = [
    ("deal_flow", "/v1/deals/{pid}/flow", 2, 5),
    ("person_flow", "/v1/persons/{pid}/flow", 2, 3),
    ("organization_flow", "/api/v1/organizations/{pid}/flow", 2, 3),
    ("deal_participants", "/v1/deals/{pid}/participants", 1, 2),
    ("deal_mail_messages", "/v1/deals/{pid}/mailMessages", 1, 2),
    ("organization_mail_messages", "/v1/organizations/{pid}/mailMessages", 1, 2),
    ("note_comments", "/v1/notes/{pid}/comments", 1, 2),
    ("roles", "/v1/roles", 2, None),
    ("role_assignments", "/v1/roles/{pid}/assignments", 1, 1),
    ("organization_relationships", "/v1/organizationRelationships?org_id={pid}", 100, 1),
]


@pytest.mark.parametrize("name,url,limit,at_least", V1_OFFSET, ids=[x[0] for x in V1_OFFSET])
def test_v1_offset_pages_reach_the_end_and_equal_the_truth(emu, http, name, url, limit, at_least):
    pid = pick(emu, name, at_least) if at_least else None
    records, pages = scan_v1_offset(http, emu.base_url + url.format(pid=pid), limit)
    truth = emu.catalogue_truth(name, pid) if pid else emu.catalogue_truth(name)
    assert records == truth
    assert pages == max(1, -(-len(truth) // limit))


def test_mail_threads_page_per_folder_and_together_are_the_token_users_mailbox(emu, http):
    seen = []
    for folder in ("inbox", "drafts", "sent", "archive"):
        records, pages = scan_v1_unannounced(http, emu.base_url + "/v1/mailbox/mailThreads", 500, folder=folder)
        assert records == emu.catalogue_truth("mail_threads", folder=folder)
        if folder == "inbox":
            assert len(records) > 500 and pages == -(-(len(records) + 1) // 500)  # more than one full page
        assert all(r["folders"] == [folder] and r["user_id"] == 1 for r in records)
        stamps = [r["last_message_timestamp"] for r in records]
        assert stamps == sorted(stamps, reverse=True)  # "ordered by the most recent message within"
        seen += records
    assert sorted(r["id"] for r in seen) == sorted(r["id"] for r in emu.catalogue_truth("mail_threads"))


def test_mail_threads_envelope_has_no_pagination_block_and_limit_is_100_by_default_500_at_most(emu, http):
    url = emu.base_url + "/v1/mailbox/mailThreads"
    inbox = emu.catalogue_truth("mail_threads", folder="inbox")
    first = http.get(url, params={"folder": "inbox"}).json()
    assert set(first) == {"success", "data"} and first["data"] == inbox[:100]
    assert len(http.get(url, params={"folder": "inbox", "limit": 1000}).json()["data"]) == 500
    last = http.get(url, params={"folder": "inbox", "start": 500, "limit": 500}).json()
    assert last == {"success": True, "data": inbox[500:1000]}
    beyond = http.get(url, params={"folder": "inbox", "start": len(inbox), "limit": 500}).json()
    assert beyond == {"success": True, "data": []}


# Each v1 list the connector reads, with the envelope its published 200 response has (openapi v1): "plain" = only
# success + data; "pagination" = additional_data.pagination (the examples' form; a few schemas put the same keys
# directly under additional_data, see pipedrive-api.md §3.2); "cursor" = additional_data.next_cursor.
V1_ENVELOPES = [
    ("/users", "/v1/users", "plain"), ("/filters", "/v1/filters", "plain"),
    ("/activityTypes", "/v1/activityTypes", "plain"), ("/currencies", "/v1/currencies", "plain"),
    ("/leadLabels", "/v1/leadLabels", "plain"), ("/leadSources", "/v1/leadSources", "plain"),
    ("/permissionSets", "/v1/permissionSets", "plain"), ("/goals/find", "/v1/goals/find?assignee.type=person", "plain"),
    ("/mailbox/mailThreads", "/v1/mailbox/mailThreads?folder=inbox", "plain"),
    ("/permissionSets/{id}/assignments", "/v1/permissionSets/{permission_set}/assignments", "plain"),
    ("/mailbox/mailThreads/{id}/mailMessages", "/v1/mailbox/mailThreads/{mail_thread}/mailMessages", "plain"),
    ("/users/{id}/followers", "/v1/users/{user_followers}/followers", "plain"),
    ("/roles", "/v1/roles", "pagination"), ("/files", "/v1/files", "pagination"),
    ("/callLogs", "/v1/callLogs", "pagination"), ("/leads", "/v1/leads", "pagination"),
    ("/leads/archived", "/v1/leads/archived", "pagination"), ("/notes", "/v1/notes", "pagination"),
    ("/organizationRelationships", "/v1/organizationRelationships?org_id={organization_relationships}", "pagination"),
    ("/deals/{id}/flow", "/v1/deals/{deal_flow}/flow", "pagination"),
    ("/persons/{id}/flow", "/v1/persons/{person_flow}/flow", "pagination"),
    ("/organizations/{id}/flow", "/v1/organizations/{organization_flow}/flow", "pagination"),
    ("/deals/{id}/mailMessages", "/v1/deals/{deal_mail_messages}/mailMessages", "pagination"),
    ("/persons/{id}/mailMessages", "/v1/persons/{person_mail_messages}/mailMessages", "pagination"),
    ("/organizations/{id}/mailMessages", "/v1/organizations/{organization_mail_messages}/mailMessages", "pagination"),
    ("/deals/{id}/participants", "/v1/deals/{deal_participants}/participants", "pagination"),
    ("/notes/{id}/comments", "/v1/notes/{note_comments}/comments", "pagination"),
    ("/roles/{id}/assignments", "/v1/roles/{role_assignments}/assignments", "pagination"),
    ("/users/{id}/roleAssignments", "/v1/users/2/roleAssignments", "pagination"),
    ("/deals/{id}/changelog", "/v1/deals/{deal_changelog}/changelog", "cursor"),
    ("/deals/{id}/participantsChangelog", "/v1/deals/{deal_participants_changelog}/participantsChangelog", "cursor"),
]


@pytest.mark.parametrize("path,url,kind", V1_ENVELOPES, ids=[x[0] for x in V1_ENVELOPES])
def test_v1_list_envelopes_are_the_published_ones(specs, emu, http, path, url, kind):
    ok = _resolve(specs["v1"], specs["v1"]["paths"][path]["get"]["responses"]["200"])
    content = ok["content"]["application/json"]
    published = set(_props(to_json_schema(specs["v1"], content["schema"])))
    body = http.get(emu.base_url + concrete(url, emu)).json()
    assert body["success"] is True and body["data"]
    assert ("additional_data" in body) == ("additional_data" in published) == (kind != "plain")
    if kind == "pagination":
        keys = {"start", "limit", "more_items_in_collection", "next_start"}
        assert set(body["additional_data"]["pagination"]) <= keys
    if kind == "cursor":
        assert set(body["additional_data"]) == {"next_cursor"}


def test_permission_set_and_user_role_assignments_page_like_the_truth(emu, http):
    for psid in emu.ds.permission_set_ids:
        truth = emu.catalogue_truth("permission_set_assignments", psid)
        if truth:
            got = scan_v1_unannounced(http, emu.base_url + f"/v1/permissionSets/{psid}/assignments", 1)[0]
            assert got == truth
    for uid in (1, 2, 3):
        got = scan_v1_offset(http, emu.base_url + f"/v1/users/{uid}/roleAssignments", 1)[0]
        assert got == emu.catalogue_truth("user_role_assignments", uid)
        assert got[0]["role_id"] == emu.truth("users")[uid]["role_id"]


V1_CURSOR = [
    ("deal_changelog", "/v1/deals/{pid}/changelog", 2, 4),
    ("person_changelog", "/v1/persons/{pid}/changelog", 1, 2),
    ("organization_changelog", "/api/v1/organizations/{pid}/changelog", 1, 2),
    ("deal_participants_changelog", "/v1/deals/{pid}/participantsChangelog", 1, 2),
]


@pytest.mark.parametrize("name,url,limit,at_least", V1_CURSOR, ids=[x[0] for x in V1_CURSOR])
def test_v1_cursor_pages_reach_the_end_and_equal_the_truth(emu, http, name, url, limit, at_least):
    pid = pick(emu, name, at_least)
    records, pages = scan_v1_cursor(http, emu.base_url + url.format(pid=pid), limit)
    assert records == emu.catalogue_truth(name, pid)
    assert pages == -(-len(records) // limit)


def test_v1_changelog_cursor_is_opaque_and_rejects_cursor_zero(emu, http):
    pid = pick(emu, "deal_changelog", 3)
    body = http.get(emu.base_url + f"/v1/deals/{pid}/changelog", params={"limit": 1}).json()
    cursor = body["additional_data"]["next_cursor"]
    assert base64.b64decode(cursor + "=" * (-len(cursor) % 4)).decode().startswith("id:")  # like "aWQ6NTQ0"
    assert http.get(emu.base_url + f"/v1/deals/{pid}/changelog", params={"cursor": "0"}).status_code == 400


def test_changelog_is_newest_first_and_ends_in_the_current_values(emu, http):
    pid = pick(emu, "deal_changelog", 3)
    items = http.get(emu.base_url + f"/v1/deals/{pid}/changelog", params={"limit": 500}).json()["data"]
    times = [x["time"] for x in items]
    assert times == sorted(times, reverse=True)
    assert all(x["old_value"] is None or isinstance(x["old_value"], str) for x in items)
    deal = emu.truth("deals")[pid]
    latest = {}
    for x in reversed(items):
        latest[x["field_key"]] = x["new_value"]
    for key in ("title", "stage_id", "owner_id"):
        if key in latest:
            assert latest[key] == str(deal[key])


# ---- children: discounts, installments, images, projects -----------------------------------------------------------

def test_installments_reject_more_than_100_deal_ids_and_have_no_additional_data(emu, http):
    url = emu.base_url + "/api/v2/deals/installments"
    too_many = http.get(url, params={"deal_ids": ",".join(map(str, range(1, 102)))})
    assert too_many.status_code == 400
    assert http.get(url).status_code == 400  # deal_ids is required
    ids = list(range(1, 101))
    full = http.get(url, params={"deal_ids": ",".join(map(str, ids)), "limit": 500}).json()
    assert set(full) == {"success", "data"}
    truth = sorted((x for d in ids for x in emu.catalogue_truth("deal_installments", d)), key=lambda x: x["id"])
    assert full["data"] == truth and len(truth) > 5
    # the trap: `limit` truncates silently, there is no next_cursor to notice it
    cut = http.get(url, params={"deal_ids": ",".join(map(str, ids)), "limit": 5}).json()
    assert cut["data"] == truth[:5] and "additional_data" not in cut
    by_date = http.get(url, params={"deal_ids": ",".join(map(str, ids)), "limit": 500, "sort_by": "billing_date",
                                    "sort_direction": "desc"}).json()["data"]
    assert [x["billing_date"] for x in by_date] == sorted((x["billing_date"] for x in truth), reverse=True)


def test_discounts_have_no_additional_data_and_no_parameters(emu, http):
    did = pick(emu, "deal_discounts")
    body = http.get(emu.base_url + f"/api/v2/deals/{did}/discounts").json()
    assert set(body) == {"success", "data"} and body["data"] == emu.catalogue_truth("deal_discounts", did)
    assert http.get(emu.base_url + f"/api/v2/deals/{did}/discounts?limit=10").status_code == 400


def test_product_images_404_for_a_product_without_image_and_for_an_unknown_product(emu, http):
    ds = emu.ds
    with_image = pick(emu, "product_images")
    without = next(p for p in ds.catalogue_parents("product_images") if not ds.catalogue_truth("product_images", p))
    ok = http.get(emu.base_url + f"/api/v2/products/{with_image}/images").json()
    assert [ok["data"]] == emu.catalogue_truth("product_images", with_image)
    assert http.get(emu.base_url + f"/api/v2/products/{without}/images").status_code == 404
    assert http.get(emu.base_url + "/api/v2/products/999999/images").status_code == 404


def test_projects_hide_deleted_by_default_and_archived_ones_live_on_their_own_endpoint(emu, http):
    url = emu.base_url + "/api/v2/projects"
    all_projects = emu.ds.projects()
    default = scan_v2(http, url, limit=500)[0]
    deleted = scan_v2(http, url, limit=500, status="deleted")[0]
    archived = scan_v2(http, url + "/archived", limit=500)[0]
    assert deleted and all(p["status"] == "deleted" for p in deleted)
    assert archived and all(p["archive_time"] for p in archived)
    assert not {p["id"] for p in default} & {p["id"] for p in deleted + archived}
    assert {p["id"] for p in default + deleted + archived} == {p["id"] for p in all_projects if not (
        p["archive_time"] and p["status"] == "deleted")}
    deal = next(p["deal_ids"][0] for p in default if p["deal_ids"])
    by_deal = scan_v2(http, url, limit=500, deal_id=deal)[0]
    assert by_deal and all(deal in p["deal_ids"] for p in by_deal)
    assert http.get(url, params={"status": "archived"}).status_code == 400
    assert http.get(url + "/archived", params={"deal_id": 1}).status_code == 400  # not a parameter there
    assert http.get(url, params={"updated_since": "2024-01-01T00:00:00Z"}).status_code == 400


def test_tasks_filters_and_parent_task_null(emu, http):
    url = emu.base_url + "/api/v2/tasks"
    tasks = emu.catalogue_truth("tasks")
    roots = scan_v2(http, url, limit=500, parent_task_id="null")[0]
    assert roots == [t for t in tasks if t["parent_task_id"] is None]
    sub = next(t for t in tasks if t["parent_task_id"])
    children = scan_v2(http, url, limit=500, parent_task_id=sub["parent_task_id"])[0]
    assert sub in children and all(t["parent_task_id"] == sub["parent_task_id"] for t in children)
    done = scan_v2(http, url, limit=500, is_done="true")[0]
    assert done == [t for t in tasks if t["is_done"]]
    assert http.get(url, params={"parent_task_id": "root"}).status_code == 400
    assert http.get(url, params={"is_done": "1"}).status_code == 400


def test_boards_and_phases(emu, http):
    boards = http.get(emu.base_url + "/api/v2/boards").json()
    assert boards["additional_data"] is None and boards["data"] == emu.catalogue_truth("boards")
    assert http.get(emu.base_url + "/api/v2/boards?limit=1").status_code == 400  # no parameters documented
    assert http.get(emu.base_url + "/api/v2/phases").status_code == 400  # board_id is required
    for b in boards["data"]:
        phases = http.get(emu.base_url + "/api/v2/phases", params={"board_id": b["id"]}).json()["data"]
        assert phases == emu.catalogue_truth("phases", b["id"]) and all(p["board_id"] == b["id"] for p in phases)


@pytest.mark.parametrize("url", [
    "/api/v2/deals/999999/followers/changelog", "/api/v2/deals/999999/discounts", "/api/v2/projects/999999/changelog",
    "/api/v2/projects/999999/permittedUsers", "/v1/deals/999999/flow", "/v1/persons/999999/changelog",
    "/v1/deals/999999/participants", "/v1/organizations/999999/mailMessages", "/v1/notes/999999/comments",
    "/v1/roles/99/assignments", "/v1/users/999/permissions", "/v1/goals/nope/results?period.start=2026-01-01&period.end=2026-01-02",
    "/v1/permissionSets/unknown/assignments", "/v1/organizationRelationships?org_id=999999",
])
def test_children_of_unknown_parents_are_404(emu, http, url):
    resp = http.get(emu.base_url + url)
    assert resp.status_code == 404 and resp.json()["success"] is False


# ---- documented quirks ------------------------------------------------------------------------------------------------

def test_goals_find_returns_only_my_goals_unless_an_everyone_filter_is_given(emu, http):
    url = emu.base_url + "/v1/goals/find"
    goals = emu.catalogue_truth("goals")
    mine = http.get(url).json()
    assert mine["statusCode"] == 20000 and mine["service"] == "statistics-goals-api"
    assert mine["data"]["goals"] == [g for g in goals if g["assignee"] == {"id": 1, "type": "person"} and g["is_active"]]
    everyone = http.get(url, params={"assignee.type": "person"}).json()["data"]["goals"]
    assert {g["assignee"]["id"] for g in everyone} > {1}
    company = [g for a in ("true", "false")
               for g in http.get(url, params={"assignee.type": "company", "is_active": a}).json()["data"]["goals"]]
    assert company and all(g["assignee"]["type"] == "company" for g in company)
    inactive = http.get(url, params={"is_active": "false"}).json()["data"]["goals"]
    assert inactive == [g for g in goals if g["assignee"] == {"id": 1, "type": "person"} and not g["is_active"]]
    other = [g for a in ("true", "false")
             for g in http.get(url, params={"assignee.id": 2, "is_active": a}).json()["data"]["goals"]]
    assert other == [g for g in goals if g["assignee"] == {"id": 2, "type": "person"}]
    by_type = http.get(url, params={"type.name": "deals_won"}).json()["data"]["goals"]
    assert by_type == [g for g in goals if g["type"]["name"] == "deals_won" and g["is_active"]]
    # a full read: every assignee type, active and inactive
    union = [g for t in ("person", "company", "team") for a in ("true", "false")
             for g in http.get(url, params={"assignee.type": t, "is_active": a}).json()["data"]["goals"]]
    assert sorted(g["id"] for g in union) == sorted(g["id"] for g in goals)
    assert http.get(url, params={"period.start": "2026-01-01"}).status_code == 400  # period.end missing
    assert http.get(url, params={"type.name": "calls_made"}).status_code == 400


def test_goal_results_need_a_period_inside_the_goal_duration(emu, http):
    goal = emu.catalogue_truth("goals")[0]
    url = emu.base_url + f"/v1/goals/{goal['id']}/results"
    start, end = goal["duration"]["start"], goal["duration"]["end"]
    ok = http.get(url, params={"period.start": start, "period.end": end}).json()
    assert ok["data"] == emu.catalogue_truth("goal_results", goal["id"], start=start, end=end)
    assert 0 <= ok["data"]["progress"] <= goal["expected_outcome"]["target"]
    assert http.get(url).status_code == 400
    assert http.get(url, params={"period.start": start}).status_code == 400
    assert http.get(url, params={"period.start": "2000-01-01", "period.end": end}).status_code == 400


def test_mail_threads_need_a_folder_and_other_users_threads_are_invisible(emu, http):
    url = emu.base_url + "/v1/mailbox/mailThreads"
    assert http.get(url).status_code == 400
    assert http.get(url, params={"folder": "spam"}).status_code == 400
    ds = emu.ds
    foreign = next(t["id"] for t in ds._mail()["threads"] if t["user_id"] != 1)
    assert http.get(emu.base_url + f"/v1/mailbox/mailThreads/{foreign}/mailMessages").status_code == 404
    own = pick(emu, "mail_thread_messages")
    got = http.get(emu.base_url + f"/v1/mailbox/mailThreads/{own}/mailMessages").json()
    assert set(got) == {"success", "data"} and got["data"] == emu.catalogue_truth("mail_thread_messages", own)


def test_private_mail_of_other_users_never_shows_on_deals(emu, http):
    ds = emu.ds
    private = next(t for t in ds._mail()["threads"] if t["user_id"] != 1 and not t["shared"] and t["deal_id"])
    listed = {m["data"]["mail_thread_id"] for m in ds.catalogue_truth("deal_mail_messages", private["deal_id"])}
    assert private["id"] not in listed
    got = http.get(emu.base_url + f"/v1/deals/{private['deal_id']}/mailMessages").json()["data"] or []
    assert private["id"] not in {m["data"]["mail_thread_id"] for m in got}


def test_mail_message_body_only_with_include_body(emu, http):
    did = pick(emu, "deal_mail_messages")
    plain = http.get(emu.base_url + f"/v1/deals/{did}/mailMessages").json()["data"]
    full = http.get(emu.base_url + f"/v1/deals/{did}/mailMessages", params={"include_body": 1}).json()["data"]
    assert all("body" not in m["data"] for m in plain) and all(m["data"]["body"] for m in full)


def test_permission_set_without_assignments_is_a_404(emu, http):
    sets = http.get(emu.base_url + "/v1/permissionSets").json()["data"]
    empty = [s for s in sets if s["assignment_count"] == 0]
    assert empty
    for s in empty:
        assert http.get(emu.base_url + f"/v1/permissionSets/{s['id']}/assignments").status_code == 404
    sales = http.get(emu.base_url + "/v1/permissionSets", params={"app": "sales"}).json()["data"]
    assert sales and all(s["app"] == "sales" for s in sales)
    # users' access entries point at these sets
    ids = {s["id"] for s in sets}
    assert all(a["permission_set_id"] in ids for u in emu.truth("users").values() for a in u["access"])


def test_organization_relationships_need_org_id_and_are_seen_from_that_org(emu, http):
    assert http.get(emu.base_url + "/v1/organizationRelationships").status_code == 400
    oid = pick(emu, "organization_relationships")
    body = http.get(emu.base_url + "/v1/organizationRelationships", params={"org_id": oid}).json()
    for rel in body["data"]:
        assert oid in (rel["rel_owner_org_id"]["value"], rel["rel_linked_org_id"]["value"])
        assert rel["calculated_related_org_id"] != oid
        assert str(rel["calculated_related_org_id"]) in body["related_objects"]["organization"]


def test_roles_pipelines_and_settings(emu, http):
    for rid in (1, 2, 3):
        shown = http.get(emu.base_url + f"/v1/roles/{rid}/pipelines").json()["data"]
        hidden = http.get(emu.base_url + f"/v1/roles/{rid}/pipelines", params={"visible": "false"}).json()["data"]
        assert shown["visible"] is True and hidden["visible"] is False
        assert sorted(shown["pipeline_ids"] + hidden["pipeline_ids"]) == [1, 2, 3]
    roles = http.get(emu.base_url + "/v1/roles").json()["data"]
    users = emu.truth("users").values()
    for role in roles:
        assert role["assignment_count"] == str(sum(1 for u in users if u["role_id"] == role["id"]))


def test_user_followers_v1_match_the_v2_followers(emu, http):
    for uid in (1, 2, 3):
        v1 = http.get(emu.base_url + f"/v1/users/{uid}/followers").json()["data"]
        v2 = http.get(emu.base_url + f"/api/v2/users/{uid}/followers").json()["data"]
        assert v1 == [f["user_id"] for f in v2]


def test_followers_changelog_matches_the_current_followers(emu, http):
    pid = pick(emu, "deal_followers_changelog", 3)
    log = scan_v2(http, emu.base_url + f"/api/v2/deals/{pid}/followers/changelog", limit=500)[0]
    state = set()
    for e in reversed(log):  # replay oldest first
        (state.add if e["action"] == "added" else state.discard)(e["follower_user_id"])
    current = {f["user_id"] for f in http.get(emu.base_url + f"/api/v2/deals/{pid}/followers").json()["data"]}
    assert state == current


def test_flow_items_filter_and_all_changes(emu, http):
    ds = emu.ds
    did = pick(emu, "deal_flow", 5)
    feed = http.get(emu.base_url + f"/v1/deals/{did}/flow", params={"limit": 500}).json()
    assert feed["related_objects"]["deal"][str(did)]["id"] == did
    stamps = [x["timestamp"] for x in feed["data"]]
    assert stamps == sorted(stamps, reverse=True)
    objects = {x["object"] for x in feed["data"]}
    one = sorted(objects)[0]
    only = http.get(emu.base_url + f"/v1/deals/{did}/flow", params={"limit": 500, "items": one}).json()["data"]
    assert only == ds.catalogue_truth("deal_flow", did, items=[one]) and {x["object"] for x in only} == {one}


def test_recents_window_items_filter_and_pagination(mutated_for_recents, http):
    emu = mutated_for_recents
    now = int(time.time())
    url = emu.base_url + "/v1/recents"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 20 * 86400))
    records, pages = scan_v1_offset(http, url, 7, since_timestamp=since)
    truth = emu.catalogue_truth("recents", since_timestamp=now - 20 * 86400)
    assert records == truth and pages > 1
    assert {"deal", "person", "organization"} <= {r["item"] for r in records}
    # however old since_timestamp is, nothing older than one month comes back (§4.2)
    ancient = http.get(url, params={"since_timestamp": "2019-01-01 00:00:00", "limit": 500}).json()
    oldest = min(r["data"]["update_time"] if "update_time" in r["data"] else r["data"]["modified"]
                 for r in ancient["data"])
    assert calendar.timegm(time.strptime(oldest, "%Y-%m-%d %H:%M:%S")) > now - 31 * 86400
    assert ancient["additional_data"]["since_timestamp"] == "2019-01-01 00:00:00"
    deals = http.get(url, params={"since_timestamp": since, "items": "deal", "limit": 500}).json()["data"]
    assert deals and all(r["item"] == "deal" for r in deals)
    assert http.get(url).status_code == 400  # since_timestamp is required
    assert http.get(url, params={"since_timestamp": since, "items": "lead"}).status_code == 400


# ---- history follows mutate() ---------------------------------------------------------------------------------------

def test_mutations_append_changelog_and_flow_entries_one_per_field_even_within_one_second():
    with Emulator(seed=3, scale=120) as emu:
        s = requests.Session()
        s.headers.update(TOKEN)
        first = emu.mutate(update_fraction=0.2, entities=["deals", "persons", "organizations"])
        second = emu.mutate(update_fraction=0.2, entities=["deals"])  # usually within the same second
        both = set(first["deals"]["updated"]) & set(second["deals"]["updated"])
        did = min(both) if both else first["deals"]["updated"][0]
        log = scan_v1_cursor(s, emu.base_url + f"/v1/deals/{did}/changelog", 2)[0]
        assert log == emu.catalogue_truth("deal_changelog", did)
        deal = emu.truth("deals")[did]
        assert log[0]["change_source"] == "api"
        newest = {x["field_key"]: x for x in reversed(log) if x["time"] == log[0]["time"]}
        assert newest["title"]["new_value"] == deal["title"]
        titles = [x for x in log if x["field_key"] == "title" and "✎" in (x["new_value"] or "")]
        assert len(titles) == (2 if both else 1)  # two edits, two entries, even in one second
        custom = [x for x in log if len(x["field_key"]) == 40]
        flow_plain = s.get(emu.base_url + f"/v1/deals/{did}/flow", params={"limit": 500}).json()["data"]
        flow_all = s.get(emu.base_url + f"/v1/deals/{did}/flow", params={"limit": 500, "all_changes": 1}).json()["data"]
        changes = [x for x in flow_all if x["object"] == "dealChange"]
        assert len(changes) == len(log)
        assert len([x for x in flow_plain if x["object"] == "dealChange"]) == len(log) - len(custom)
        assert flow_all == emu.catalogue_truth("deal_flow", did, all_changes=True)
        pid = first["persons"]["updated"][0]
        plog = s.get(emu.base_url + f"/v1/persons/{pid}/changelog").json()["data"]
        assert plog[0]["field_key"] in ("name",) + tuple(f.key for f in emu.ds.custom["persons"])
        assert any(x["field_key"] == "name" and x["new_value"] == emu.truth("persons")[pid]["name"] for x in plog)


def test_deletion_is_logged_and_a_cursor_scan_is_not_disturbed_by_new_entries():
    with Emulator(seed=4, scale=120) as emu:
        s = requests.Session()
        s.headers.update(TOKEN)
        flags = emu.ds.tables["deals"].flags
        did = next(d for d in emu.ds.catalogue_parents("deal_changelog")
                   if not flags[d - 1] and len(emu.catalogue_truth("deal_changelog", d)) >= 3)
        url = emu.base_url + f"/v1/deals/{did}/changelog"
        before = emu.catalogue_truth("deal_changelog", did)
        page = s.get(url, params={"limit": 1}).json()
        # every deal is edited between two page requests: the scan still returns exactly the entries it started with
        assert did in emu.mutate(update_fraction=1.0, entities=["deals"])["deals"]["updated"]
        assert len(emu.catalogue_truth("deal_changelog", did)) > len(before)
        rest, cursor = [], page["additional_data"]["next_cursor"]
        while cursor:
            body = s.get(url, params={"limit": 1, "cursor": cursor}).json()
            rest += body["data"]
            cursor = body["additional_data"]["next_cursor"]
        assert page["data"] + rest == before
        gone = emu.mutate(update_fraction=0, delete_fraction=0.2, entities=["deals"])["deals"]["deleted"][0]
        log = s.get(emu.base_url + f"/v1/deals/{gone}/changelog").json()["data"]
        assert log[0]["field_key"] == "status" and log[0]["new_value"] == "deleted"
        # soft-deleted parents keep answering their child endpoints (§2.6)
        assert s.get(emu.base_url + f"/v1/deals/{gone}/participants").status_code == 200


# ---- the truth catalogue ---------------------------------------------------------------------------------------------

def test_every_catalogue_entry_answers_and_the_http_hook_serves_it(emu):
    for name, (parent, _fn, endpoint) in CATALOGUE.items():
        truth = emu.catalogue_truth(name)
        assert truth is not None, name
        if parent is not None:
            assert isinstance(truth, dict) and set(truth) == set(emu.ds.catalogue_parents(name)), name
    hook = requests.get(emu.base_url + "/_emulator/catalogue_truth",
                        params={"name": "deal_changelog", "parent_id": pick(emu, "deal_changelog")}).json()
    assert hook == emu.catalogue_truth("deal_changelog", pick(emu, "deal_changelog"))
    threads = requests.get(emu.base_url + "/_emulator/catalogue_truth", params={"name": "mail_threads", "folder": "sent"}).json()
    assert threads == emu.catalogue_truth("mail_threads", folder="sent")
