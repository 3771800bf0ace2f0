"""API v1 handlers for the secondary data sets (pipedrive-api.md §1.4, §4.1-4.3, §8): flow, changelogs,
participants, mail, note comments, roles, permission sets, user admin data, settings-like singletons, goals,
organization relationships, recents. Served under /v1 and /api/v1 like api_v1.py, with its leniency rules
(undocumented parameters ignored, `limit` above 500 clamped).

Empty offset lists: legacy feeds (flow, participants, mail messages, note comments, relationships) answer
`data: null` like the other legacy lists (§4.1 "commonly observed"); admin lists answer `[]` (inferred).
"""
from __future__ import annotations

import base64
import calendar
import re
import time

from .api_v1 import _int_arg, _paging, list_body, plain_body
from .catalogue import GOAL_EVERYONE_PARAMS, GOAL_TYPES, MAIL_FOLDERS, RECENT_ITEMS
from .common import Response, bad_request, dumps, not_found, v1_time

ROUTES = []


def route(template: str):
    def deco(fn):
        ROUTES.append(("GET", template, fn))
        return fn
    return deco


def _path_int(req, name="id") -> int:
    raw = req.path_params[name]
    if not raw.isdigit():
        raise bad_request(f"Parameter '{name}' must be an integer")
    return int(raw)


def _parent(emu, entity, req) -> int:
    rid = _path_int(req)
    if not emu.ds.exists(entity, rid):
        raise not_found()  # soft-deleted parents still answer (like api_v2._parent)
    return rid


def _offset(items, req, null_when_empty=False, extra=None) -> Response:
    start, limit = _paging(req)
    page = items[start:start + limit]
    body = list_body([dumps(x) for x in page], start, limit, start + limit < len(items), null_when_empty)
    if extra:
        body = body[:-1] + b"," + dumps(extra)[1:]
    return Response(200, body, records=len(page))


def _offset_unannounced(items, req) -> Response:
    """start/limit page the list, but the envelope carries no pagination block: the published 200 response of these
    operations is {"success", "data"} only, although the operation documents start/limit (openapi v1
    getMailThreads, getPermissionSetAssignments). A client learns that the list ended from a page shorter than its
    limit (or an empty page)."""
    start, limit = _paging(req)
    page = items[start:start + limit]
    return Response(200, b'{"success":true,"data":[' + b",".join(dumps(x) for x in page) + b"]}", records=len(page))


def _data(obj, records=1) -> Response:
    return Response(200, plain_body(obj), records=records)


# ---- v1 cursor pagination (§4.3): opaque base64 "id:<n>" like the openapi getDealChangelog example "aWQ6NTQ0" ----

def _encode(n: int) -> str:
    return base64.b64encode(f"id:{n}".encode()).decode().rstrip("=")


def _decode(value: str):
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not raw.startswith("id:") or not raw[3:].isdigit():
        return None
    return int(raw[3:])


def _cursor_page(items: list, keys: list, req) -> Response:
    """Items in output order with unique keys; the cursor names the key of the next page's first item."""
    limit = _int_arg(req, "limit", 100)
    if limit < 1:
        raise bad_request("Parameter 'limit' must be positive")
    limit = min(limit, 500)
    pos = 0
    raw = req.arg("cursor")
    if raw is not None:
        key = _decode(raw)
        if key is None or key not in keys:
            # a devcommunity thread reports cursor=0 being rejected (§4.3); any unknown cursor is a 400 here
            raise bad_request("Invalid cursor")
        pos = keys.index(key)
    page = items[pos:pos + limit]
    nxt = _encode(keys[pos + limit]) if pos + limit < len(items) else None
    body = {"success": True, "data": page, "additional_data": {"next_cursor": nxt}}
    return Response(200, dumps(body), records=len(page))


# ---- flow -------------------------------------------------------------------------------------------------------

def _flow(emu, req, entity):
    ds = emu.ds
    all_changes = req.arg("all_changes") == "1"
    items = [x for x in (req.arg("items") or "").split(",") if x] or None
    start, limit = _paging(req)
    with ds.lock:
        rid = _parent(emu, entity, req)
        feed = ds.flow(entity, rid, all_changes, items)
        page = feed[start:start + limit]
        related = ds.flow_related(entity, rid, page)
    body = list_body([dumps(x) for x in page], start, limit, start + limit < len(feed), null_when_empty=True)
    body = body[:-1] + b',"related_objects":' + dumps(related) + b"}"
    return Response(200, body, records=len(page))


# GET /v1/deals/{id}/flow  (openapi v1 getDealUpdates; cost 40, scope recents:read; start/limit, all_changes, items)
@route("/v1/deals/{id}/flow")
def get_deal_flow(emu, req):
    return _flow(emu, req, "deals")


# GET /v1/persons/{id}/flow  (openapi v1 getPersonUpdates; cost 40)
@route("/v1/persons/{id}/flow")
def get_person_flow(emu, req):
    return _flow(emu, req, "persons")


# GET /v1/organizations/{id}/flow  (openapi v1 getOrganizationUpdates; cost 40)
@route("/v1/organizations/{id}/flow")
def get_organization_flow(emu, req):
    return _flow(emu, req, "organizations")


# ---- field changelogs (cursor) -------------------------------------------------------------------------------

def _changelog(emu, req, entity):
    with emu.ds.lock:
        rid = _parent(emu, entity, req)
        items = emu.ds.changelog(entity, rid)
        keys = emu.ds.changelog_ids(entity, rid)
    return _cursor_page(items, keys, req)


# GET /v1/deals/{id}/changelog  (openapi v1 getDealChangelog; §4.3 cursor; cost 20, scope recents:read)
@route("/v1/deals/{id}/changelog")
def get_deal_changelog(emu, req):
    return _changelog(emu, req, "deals")


# GET /v1/persons/{id}/changelog  (openapi v1 getPersonChangelog; §4.3 cursor)
@route("/v1/persons/{id}/changelog")
def get_person_changelog(emu, req):
    return _changelog(emu, req, "persons")


# GET /v1/organizations/{id}/changelog  (openapi v1 getOrganizationChangelog; §4.3 cursor)
@route("/v1/organizations/{id}/changelog")
def get_organization_changelog(emu, req):
    return _changelog(emu, req, "organizations")


# ---- deal participants ----------------------------------------------------------------------------------------

# GET /v1/deals/{id}/participants  (openapi v1 getDealParticipants; offset; cost 10; nested v1 person objects)
@route("/v1/deals/{id}/participants")
def get_deal_participants(emu, req):
    ds = emu.ds
    with ds.lock:
        did = _parent(emu, "deals", req)
        items = ds.deal_participants(did)
        start, limit = _paging(req)
        page = items[start:start + limit]
        users = sorted({x["added_by_user_id"]["id"] for x in page} | {x["person"]["owner_id"]["id"] for x in page})
        related = {"user": {str(u): ds.rel_user(u) for u in users},
                   "person": {str(x["person"]["id"]): ds.rel_person(x["person"]["id"]) for x in page},
                   "organization": {str(x["person"]["org_id"]["value"]): ds.rel_org(x["person"]["org_id"]["value"])
                                    for x in page if x["person"]["org_id"]}}
    body = list_body([dumps(x) for x in page], start, limit, start + limit < len(items), null_when_empty=True)
    body = body[:-1] + b',"related_objects":' + dumps(related) + b"}"
    return Response(200, body, records=len(page))


# GET /v1/deals/{id}/participantsChangelog  (openapi v1 getDealParticipantsChangelog; cursor, §4.3; cost 10)
@route("/v1/deals/{id}/participantsChangelog")
def get_deal_participants_changelog(emu, req):
    with emu.ds.lock:
        did = _parent(emu, "deals", req)
        items = emu.ds.participants_changelog(did)
    keys = list(range(len(items), 0, -1))  # chronological position, newest first (inferred)
    return _cursor_page(items, keys, req)


# ---- mail -------------------------------------------------------------------------------------------------------

def _mail_messages(emu, req, entity):
    include_body = req.arg("include_body") == "1"
    with emu.ds.lock:
        rid = _parent(emu, entity, req)
        items = emu.ds.mail_messages(entity, rid, include_body)
    return _offset(items, req, null_when_empty=True)


# GET /v1/deals/{id}/mailMessages  (openapi v1 getDealMailMessages; offset; include_body=1; private mail of other
# users never listed, §8.11)
@route("/v1/deals/{id}/mailMessages")
def get_deal_mail_messages(emu, req):
    return _mail_messages(emu, req, "deals")


# GET /v1/persons/{id}/mailMessages  (openapi v1 getPersonMailMessages)
@route("/v1/persons/{id}/mailMessages")
def get_person_mail_messages(emu, req):
    return _mail_messages(emu, req, "persons")


# GET /v1/organizations/{id}/mailMessages  (openapi v1 getOrganizationMailMessages; inferred: messages of the org's
# persons and of deals linked to the org)
@route("/v1/organizations/{id}/mailMessages")
def get_organization_mail_messages(emu, req):
    return _mail_messages(emu, req, "organizations")


# GET /v1/mailbox/mailThreads?folder=  (openapi v1 getMailThreads; folder required; token user's mailbox only, §8.11;
# most recent message first). `start`/`limit` page the list, but the published 200 response is {success, data}
# with no additional_data, so the envelope says nothing about further pages (see _offset_unannounced). `limit`
# has no documented default or maximum: the generic v1 ones apply (100, at most 500, §4.1; inferred).
@route("/v1/mailbox/mailThreads")
def get_mail_threads(emu, req):
    folder = req.arg("folder")
    if folder is None or folder == "":
        raise bad_request("Parameter 'folder' is required")
    if folder not in MAIL_FOLDERS:
        raise bad_request("Parameter 'folder' must be one of " + ", ".join(MAIL_FOLDERS))
    start, limit = _paging(req)
    with emu.ds.lock:
        ids = emu.ds.mail_thread_ids(folder)
        page = [emu.ds.mail_thread(tid) for tid in ids[start:start + limit]]
    body = b'{"success":true,"data":[' + b",".join(dumps(x) for x in page) + b"]}"
    return Response(200, body, records=len(page))


# GET /v1/mailbox/mailThreads/{id}  (openapi v1 getMailThread; cost 20; the token user's threads only, inferred as
# for the messages below)
@route("/v1/mailbox/mailThreads/{id}")
def get_mail_thread(emu, req):
    tid = _path_int(req)
    with emu.ds.lock:
        if emu.ds.mail_thread_owner(tid) != 1:
            raise not_found()
        return _data(emu.ds.mail_thread(tid))


# GET /v1/mailbox/mailThreads/{id}/mailMessages  (openapi v1 getMailThreadMessages; no pagination; inferred: a
# thread outside the token user's mailbox is a 404)
@route("/v1/mailbox/mailThreads/{id}/mailMessages")
def get_mail_thread_messages(emu, req):
    tid = _path_int(req)
    with emu.ds.lock:
        if emu.ds.mail_thread_owner(tid) != 1:
            raise not_found()
        items = emu.ds.mail_thread_messages(tid)
    return _data(items, len(items))


# ---- note comments ------------------------------------------------------------------------------------------------

# GET /v1/notes/{id}/comments  (openapi v1 getNoteComments; offset; cost 20)
@route("/v1/notes/{id}/comments")
def get_note_comments(emu, req):
    with emu.ds.lock:
        nid = _parent(emu, "notes", req)
        items = emu.ds.note_comments(nid)
    return _offset(items, req, null_when_empty=True)


# ---- roles & permission sets (admin scope) ------------------------------------------------------------------------

def _role_id(emu, req) -> int:
    rid = _path_int(req)
    if emu.ds.role(rid) is None:
        raise not_found()
    return rid


# GET /v1/roles  (openapi v1 getRoles; offset; counts are strings in the schema)
@route("/v1/roles")
def get_roles(emu, req):
    return _offset(emu.ds.roles(), req)


# GET /v1/roles/{id}  (openapi v1 getRole; cost 2, scope admin; additional_data.settings = the role's default
# visibilities, as the example)
@route("/v1/roles/{id}")
def get_role(emu, req):
    with emu.ds.lock:
        rid = _role_id(emu, req)
        role = next(x for x in emu.ds.roles() if x["id"] == rid)
        settings = {k: v for k, v in emu.ds.role_settings(rid).items() if k.endswith("_default_visibility")}
    return Response(200, dumps({"success": True, "data": role, "additional_data": {"settings": settings}}), records=1)


# GET /v1/roles/{id}/assignments  (openapi v1 getRoleAssignments; offset; cost 10)
@route("/v1/roles/{id}/assignments")
def get_role_assignments(emu, req):
    return _offset(emu.ds.role_assignments(_role_id(emu, req)), req)


# GET /v1/roles/{id}/settings  (openapi v1 getRoleSettings)
@route("/v1/roles/{id}/settings")
def get_role_settings(emu, req):
    return _data(emu.ds.role_settings(_role_id(emu, req)))


# GET /v1/roles/{id}/pipelines  (openapi v1 getRolePipelines; `visible` default true)
@route("/v1/roles/{id}/pipelines")
def get_role_pipelines(emu, req):
    raw = req.arg("visible", "true")
    if raw not in ("true", "false", "1", "0"):
        raise bad_request("Parameter 'visible' must be a boolean")
    return _data(emu.ds.role_pipelines(_role_id(emu, req), raw in ("true", "1")))


_APPS = ("sales", "projects", "campaigns", "global", "account_settings", "partnership", "nova")


# GET /v1/permissionSets  (openapi v1 getPermissionSets; no pagination; optional `app` filter)
@route("/v1/permissionSets")
def get_permission_sets(emu, req):
    app = req.arg("app")
    if app is not None and app not in _APPS:
        raise bad_request("Parameter 'app' must be one of " + ", ".join(_APPS))
    items = [x for x in emu.ds.permission_sets() if app is None or x["app"] == app]
    return _data(items, len(items))


# GET /v1/permissionSets/{id}/assignments  (openapi v1 getPermissionSetAssignments; start/limit page the list but
# the published response has no additional_data, like mailThreads; 404 for an unknown set and -- documented -- for
# a set without assignments)
@route("/v1/permissionSets/{id}/assignments")
def get_permission_set_assignments(emu, req):
    psid = req.path_params["id"]
    items = emu.ds.permission_set_assignments(psid) if psid in emu.ds.permission_set_ids else []
    if not items:
        raise not_found()
    return _offset_unannounced(items, req)


# ---- user admin data (users:read) ----------------------------------------------------------------------------------

# GET /v1/users/{id}/permissions  (openapi v1 getUserPermissions; cost 10)
@route("/v1/users/{id}/permissions")
def get_user_permissions(emu, req):
    return _data(emu.ds.user_permissions(_parent(emu, "users", req)))


# GET /v1/users/{id}/roleAssignments  (openapi v1 getUserRoleAssignments; offset; cost 10)
@route("/v1/users/{id}/roleAssignments")
def get_user_role_assignments(emu, req):
    return _offset(emu.ds.user_role_assignments(_parent(emu, "users", req)), req)


# GET /v1/users/{id}/roleSettings  (openapi v1 getUserRoleSettings; cost 10)
@route("/v1/users/{id}/roleSettings")
def get_user_role_settings(emu, req):
    return _data(emu.ds.user_role_settings(_parent(emu, "users", req)))


# GET /v1/users/{id}/followers  (openapi v1 getUserFollowers; cost 20; data = array of user ids, same followers as
# GET /api/v2/users/{id}/followers)
@route("/v1/users/{id}/followers")
def get_user_followers(emu, req):
    items = emu.ds.user_followers_v1(_parent(emu, "users", req))
    return _data(items, len(items))


# ---- singletons and small company lists -----------------------------------------------------------------------------

# GET /v1/userConnections  (openapi v1 getUserConnections; token user only)
@route("/v1/userConnections")
def get_user_connections(emu, req):
    return _data(emu.ds.user_connections())


# GET /v1/userSettings  (openapi v1 getUserSettings; cost 2; token user only)
@route("/v1/userSettings")
def get_user_settings(emu, req):
    return _data(emu.ds.user_settings())


# GET /v1/webhooks  (openapi v1 getWebhooks; cost 10, scope admin; envelope carries "status": "ok")
@route("/v1/webhooks")
def get_webhooks(emu, req):
    items = emu.ds.webhooks()
    return Response(200, dumps({"status": "ok", "success": True, "data": items}), records=len(items))


# GET /v1/billing/subscriptions/addons  (openapi v1 getCompanyAddons; scope users:read)
@route("/v1/billing/subscriptions/addons")
def get_billing_addons(emu, req):
    items = emu.ds.billing_addons()
    return _data(items, len(items))


# GET /v1/filters/helpers  (openapi v1 getFilterHelpers; static payload = the openapi example)
@route("/v1/filters/helpers")
def get_filter_helpers(emu, req):
    return _data(emu.ds.filter_helpers())


# ---- goals ------------------------------------------------------------------------------------------------------------

def _goal_envelope(data) -> bytes:
    # openapi v1 getGoals example: statusCode/statusText/service next to success (§1.4 "non-standard envelope")
    return dumps({"success": True, "statusCode": 20000, "statusText": "OK", "service": "statistics-goals-api",
                  "data": data})


def _date_arg(req, name):
    v = req.arg(name)
    if v is None:
        return None
    try:
        time.strptime(v, "%Y-%m-%d")
    except ValueError:
        raise bad_request(f"Parameter '{name}' must be a date YYYY-MM-DD") from None
    return v


# GET /v1/goals/find  (openapi v1 getGoals; no pagination; records under data.goals; only the caller's goals unless a
# parameter documented with "If provided, everyone's goals will be returned" is given (§8.12); period.start and
# period.end only together)
@route("/v1/goals/find")
def get_goals(emu, req):
    q = {}
    for name in GOAL_EVERYONE_PARAMS + ("title", "is_active", "assignee.id", "period.start", "period.end"):
        if req.arg(name) is None:
            continue
        raw = req.arg(name)
        if name == "type.name" and raw not in GOAL_TYPES:
            raise bad_request("Parameter 'type.name' must be one of " + ", ".join(GOAL_TYPES))
        if name == "assignee.type" and raw not in ("person", "company", "team"):
            raise bad_request("Parameter 'assignee.type' must be one of person, company, team")
        if name == "expected_outcome.tracking_metric" and raw not in ("quantity", "sum"):
            raise bad_request("Parameter 'expected_outcome.tracking_metric' must be quantity or sum")
        if name == "is_active":
            if raw not in ("true", "false", "1", "0"):
                raise bad_request("Parameter 'is_active' must be a boolean")
            q[name] = raw in ("true", "1")
        elif name in ("assignee.id", "expected_outcome.currency_id", "type.params.stage_id"):
            q[name] = _int_arg(req, name)
        elif name == "expected_outcome.target":
            try:
                q[name] = float(raw)
            except ValueError:
                raise bad_request("Parameter 'expected_outcome.target' must be a number") from None
        elif name in ("type.params.pipeline_id", "type.params.activity_type_id"):
            try:
                q[name] = [int(x) for v in req.query[name] for x in v.split(",") if x]
            except ValueError:
                raise bad_request(f"Parameter '{name}' must be a list of integers") from None
        elif name in ("period.start", "period.end"):
            q[name] = _date_arg(req, name)
        else:
            q[name] = raw
    if ("period.start" in q) != ("period.end" in q):
        raise bad_request("period.start and period.end must be provided together")
    with emu.ds.lock:
        goals = emu.ds.goals_find(q)
    return Response(200, _goal_envelope({"goals": goals}), records=len(goals))


# GET /v1/goals/{id}/results  (openapi v1 getGoalResult; period.start and period.end required and inside the goal's
# duration -- documented constraints, enforced with a 400 (inferred status))
@route("/v1/goals/{id}/results")
def get_goal_results(emu, req):
    start, end = _date_arg(req, "period.start"), _date_arg(req, "period.end")
    if start is None or end is None:
        raise bad_request("Parameters 'period.start' and 'period.end' are required")
    with emu.ds.lock:
        goal = emu.ds.goal(req.path_params["id"])
        if goal is None:
            raise not_found()
        if start < goal["duration"]["start"] or end > goal["duration"]["end"] or start > end:
            raise bad_request("The period must lie within the goal's duration")
        data = emu.ds.goal_result(goal["id"], start, end)
    return Response(200, _goal_envelope(data), records=1)


# ---- organization relationships ---------------------------------------------------------------------------------------

# GET /v1/organizationRelationships?org_id=  (openapi v1 getOrganizationRelationships; org_id required; the operation
# documents no paging parameters, the response carries the pagination block of the example and related_objects)
@route("/v1/organizationRelationships")
def get_organization_relationships(emu, req):
    oid = _int_arg(req, "org_id")
    if oid is None:
        raise bad_request("Parameter 'org_id' is required")
    ds = emu.ds
    with ds.lock:
        if not ds.exists("organizations", oid):
            raise not_found()
        items = ds.org_relationships(oid)
        others = sorted({x["calculated_related_org_id"] for x in items} | ({oid} if items else set()))
        related = {"organization": {str(o): ds.rel_org(o) for o in others}}
    body = list_body([dumps(x) for x in items], 0, 100, False, null_when_empty=True)
    body = body[:-1] + b',"related_objects":' + dumps(related) + b"}"
    return Response(200, body, records=len(items))


# ---- recents ----------------------------------------------------------------------------------------------------------

_SINCE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def parse_since(raw: str):
    """Epoch seconds of a since_timestamp in the one documented form "YYYY-MM-DD HH:MM:SS" (UTC), else None.
    Inferred: other forms (ISO "T", a zone, fractions) are refused rather than guessed at."""
    if not _SINCE.match(raw):
        return None
    try:
        return calendar.timegm(time.strptime(raw, "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return None


# GET /v1/recents?since_timestamp=  (openapi v1 getRecents; §4.2: since_timestamp required "YYYY-MM-DD HH:MM:SS" UTC,
# changes strictly after it, at most one month back from now (the emulator's clock) whatever it says; `items` filter
# (comma list, "Multiple selection"); start/limit: the operation documents neither default nor maximum for limit, so
# the v1 ones apply (100, at most 500; inferred); additional_data adds since_timestamp and last_timestamp_on_page;
# `data: null` when nothing changed, like the other legacy v1 feeds (§4.1)
@route("/v1/recents")
def get_recents(emu, req):
    raw = req.arg("since_timestamp")
    if not raw:
        raise bad_request("Parameter 'since_timestamp' is required")
    since = parse_since(raw)
    if since is None:
        raise bad_request("Parameter 'since_timestamp' must be 'YYYY-MM-DD HH:MM:SS'")
    items = [x for v in req.query.get("items", []) for x in v.split(",") if x] or None
    if items and any(x not in RECENT_ITEMS for x in items):
        raise bad_request("Parameter 'items' must be among " + ", ".join(RECENT_ITEMS))
    start, limit = _paging(req)
    with emu.ds.lock:
        rows = emu.ds.recent_rows(since, items, int(emu.clock()))
        page = [emu.ds.recent_item(row) for row in rows[start:start + limit]]
    # inferred: an empty page reports since_timestamp as its last timestamp
    last = rows[start:start + limit][-1][0] if page else since
    pagination = {"start": start, "limit": limit, "more_items_in_collection": start + limit < len(rows)}
    if pagination["more_items_in_collection"]:
        pagination["next_start"] = start + limit
    body = {"success": True, "data": page or None,
            "additional_data": {"since_timestamp": raw, "last_timestamp_on_page": v1_time(last),
                                "pagination": pagination}}
    return Response(200, dumps(body), records=len(page))
