"""API v2 handlers for the secondary data sets: followers changelogs, deal discounts/installments, product images,
projects, project templates/fields/changelog/permitted users, tasks, boards, phases (pipedrive-api.md §1.3, §1.4,
§2.2; openapi v2). Same strict parameter validation and cursor rules as api_v2.py.
"""
from __future__ import annotations

from .api_v2 import _int, _parent, _path_id, _row_by_id, item_body, page_body, page_rows, params
from .common import Response, bad_request, dumps, not_found

ROUTES = []
_PROJECT_STATUSES = ("open", "completed", "canceled", "deleted")


def route(template: str):
    def deco(fn):
        ROUTES.append(("GET", template, fn))
        return fn
    return deco


def _plain(items) -> Response:
    """{"success": true, "data": [...]} without additional_data (openapi v2 getAdditionalDiscounts/getInstallments)."""
    return Response(200, dumps({"success": True, "data": items}), records=len(items))


def _newest_first(items: list, p: dict, field: str) -> Response:
    """Cursor pages over a newest-first list; the keyset id is the item's chronological position (inferred)."""
    n = len(items)
    pairs = [(n - i, it) for i, it in enumerate(items)]
    page, nxt = page_rows(pairs, p, field, "desc", id_of=lambda x: x[0], value_of=lambda x: x[1][field])
    return Response(200, page_body([dumps(it) for _, it in page], nxt), records=len(page))


# ---- followers changelog ------------------------------------------------------------------------------------

def _followers_changelog(emu, req, entity):
    p = params(req)
    with emu.ds.lock:
        rid = _parent(emu.ds, entity, req)
        items = emu.ds.followers_changelog(entity, rid)
    return _newest_first(items, p, "time")


# GET /api/v2/deals/{id}/followers/changelog  (openapi v2 getDealFollowersChangelog; cost 10; inferred: newest first)
@route("/api/v2/deals/{id}/followers/changelog")
def get_deal_followers_changelog(emu, req):
    return _followers_changelog(emu, req, "deals")


# GET /api/v2/persons/{id}/followers/changelog  (openapi v2 getPersonFollowersChangelog)
@route("/api/v2/persons/{id}/followers/changelog")
def get_person_followers_changelog(emu, req):
    return _followers_changelog(emu, req, "persons")


# GET /api/v2/organizations/{id}/followers/changelog  (openapi v2 getOrganizationFollowersChangelog)
@route("/api/v2/organizations/{id}/followers/changelog")
def get_organization_followers_changelog(emu, req):
    return _followers_changelog(emu, req, "organizations")


# GET /api/v2/products/{id}/followers/changelog  (openapi v2 getProductFollowersChangelog)
@route("/api/v2/products/{id}/followers/changelog")
def get_product_followers_changelog(emu, req):
    return _followers_changelog(emu, req, "products")


# ---- deal discounts / installments, product images ------------------------------------------------------------

# GET /api/v2/deals/{id}/discounts  (openapi v2 getAdditionalDiscounts; no pagination, no additional_data, §2.1)
@route("/api/v2/deals/{id}/discounts")
def get_deal_discounts(emu, req):
    params(req)  # documents no query parameters: any is a 400
    with emu.ds.lock:
        rid = _parent(emu.ds, "deals", req)
        items = emu.ds.deal_discounts(rid)
    return _plain(items)


# GET /api/v2/deals/installments?deal_ids=  (openapi v2 getInstallments; ≤ 100 deal ids; the 200 schema has no
# additional_data (§1.4 "no additional_data"): `limit` cuts the list and no next_cursor says so -- a client must ask
# for limit=500 (≤ 4 installments per deal here, so 100 deals always fit). `cursor` is accepted (inferred: resumes
# the keyset like every v2 cursor) but never emitted.
@route("/api/v2/deals/installments")
def get_deals_installments(emu, req):
    p = params(req)
    deal_ids = p["deal_ids"]
    if len(deal_ids) > 100:
        raise bad_request("Parameter 'deal_ids' accepts at most 100 ids")
    items = []
    with emu.ds.lock:
        n = emu.ds.tables["deals"].n
        for did in dict.fromkeys(deal_ids):  # unknown ids are silently omitted (§2.1)
            if 1 <= did <= n:
                items.extend(emu.ds.deal_installments(did))
    page, _ = page_rows(items, p, p.get("sort_by", "id"), p.get("sort_direction", "asc"))
    return _plain(page)


# GET /api/v2/products/{id}/images  (openapi v2 getProductImage; cost 10; inferred: 404 when the product has none)
@route("/api/v2/products/{id}/images")
def get_product_image(emu, req):
    params(req)
    with emu.ds.lock:
        rid = _parent(emu.ds, "products", req)
        image = emu.ds.product_image(rid)
    if image is None:
        raise not_found()
    return Response(200, item_body(image), records=1)


# ---- projects ---------------------------------------------------------------------------------------------------

def _projects(emu, req, archived: bool):
    p = params(req)
    statuses = p.get("status")
    if statuses is not None and any(s not in _PROJECT_STATUSES for s in statuses):
        raise bad_request("Parameter 'status' must be one of " + ", ".join(_PROJECT_STATUSES))
    if "filter_id" in p:  # no project filters exist in this account (GET /v1/filters?type=projects is empty)
        raise bad_request(f"Filter with id {p['filter_id']} not found or not applicable")
    wanted = set(statuses) if statuses else set(_PROJECT_STATUSES) - {"deleted"}  # deleted hidden by default
    out = []
    with emu.ds.lock:
        for pr in emu.ds.projects(copy=False):
            if (pr["archive_time"] is not None) != archived or pr["status"] not in wanted:
                continue
            if "phase_id" in p and pr["phase_id"] != p["phase_id"]:
                continue
            if any(key in p and p[key] not in pr[key + "s"] for key in ("deal_id", "person_id", "org_id")):
                continue
            out.append(pr)
    page, nxt = page_rows(out, p)
    return Response(200, page_body([dumps(x) for x in page], nxt), records=len(page))


# GET /api/v2/projects  (openapi v2 getProjects; not archived; status default excludes deleted; no updated_since)
@route("/api/v2/projects")
def get_projects(emu, req):
    return _projects(emu, req, archived=False)


# GET /api/v2/projects/archived  (openapi v2 getArchivedProjects; no deal_id/person_id/org_id params)
@route("/api/v2/projects/archived")
def get_archived_projects(emu, req):
    return _projects(emu, req, archived=True)


def _project_id(emu, req) -> int:
    rid = _path_id(req)
    if emu.ds.project(rid) is None:
        raise not_found()
    return rid


# GET /api/v2/projects/{id}/changelog  (openapi v2 getProjectChangelog; cost 10; newest first like the example)
@route("/api/v2/projects/{id}/changelog")
def get_project_changelog(emu, req):
    p = params(req)
    with emu.ds.lock:
        items = emu.ds.project_changelog(_project_id(emu, req))
    return _newest_first(items, p, "time")


# GET /api/v2/projects/{id}/permittedUsers  (openapi v2 getProjectUsers; cost 5; data = array of user ids)
@route("/api/v2/projects/{id}/permittedUsers")
def get_project_permitted_users(emu, req):
    params(req)
    with emu.ds.lock:
        users = emu.ds.project_permitted_users(_project_id(emu, req))
    return _plain(users)


# GET /api/v2/projectTemplates  (openapi v2 getProjectTemplates; cursor, id order)
@route("/api/v2/projectTemplates")
def get_project_templates(emu, req):
    p = params(req)
    page, nxt = page_rows(emu.ds.project_templates(), p)
    return Response(200, page_body([dumps(x) for x in page], nxt), records=len(page))


# GET /api/v2/projectFields  (openapi v2 getProjectFields; Beta; no include_fields parameter -- the example carries
# ui_visibility/important_fields/required_fields on every item, so they are always present)
@route("/api/v2/projectFields")
def get_project_fields(emu, req):
    p = params(req)
    items = emu.ds.project_fields()
    pos = {it["field_code"]: i for i, it in enumerate(items)}
    page, nxt = page_rows(items, p, "order", "asc", id_of=lambda it: pos[it["field_code"]],
                          value_of=lambda it: pos[it["field_code"]])
    return Response(200, page_body([dumps(x) for x in page], nxt), records=len(page))


# GET /api/v2/tasks  (openapi v2 getTasks; Beta; filters is_done, is_milestone, assignee_id, project_id,
# parent_task_id = "null" (root tasks only) or an id (its subtasks))
@route("/api/v2/tasks")
def get_tasks(emu, req):
    p = params(req)
    parent = p.get("parent_task_id")
    if parent is not None and parent != "null":
        parent = _int("parent_task_id", parent)
    items = []
    for t in emu.ds.tasks(copy=False):
        if "is_done" in p and t["is_done"] != p["is_done"]:
            continue
        if "is_milestone" in p and t["is_milestone"] != p["is_milestone"]:
            continue
        if "assignee_id" in p and p["assignee_id"] not in t["assignee_ids"]:
            continue
        if "project_id" in p and t["project_id"] != p["project_id"]:
            continue
        if parent == "null" and t["parent_task_id"] is not None:
            continue
        if isinstance(parent, int) and t["parent_task_id"] != parent:
            continue
        items.append(t)
    page, nxt = page_rows(items, p)
    return Response(200, page_body([dumps(x) for x in page], nxt), records=len(page))


# GET /api/v2/boards  (openapi v2 getProjectsBoards; no parameters, no pagination; "additional_data": null)
@route("/api/v2/boards")
def get_boards(emu, req):
    params(req)
    items = emu.ds.boards()
    return Response(200, dumps({"success": True, "data": items, "additional_data": None}), records=len(items))


# GET /api/v2/projects/{id}  (openapi v2 getProject; cost 1; archived and status=deleted projects too, inferred)
@route("/api/v2/projects/{id}")
def get_project(emu, req):
    return _row_by_id(emu, req, lambda: emu.ds.projects(copy=False))


def _with_null_additional_data(resp: Response) -> Response:
    resp.body = resp.body[:-1] + b',"additional_data":null}'  # the operation's example carries it
    return resp


# GET /api/v2/tasks/{id}  (openapi v2 getTask; cost 1; inferred: a task of a deleted project answers 404 like the
# lists, which hide it)
@route("/api/v2/tasks/{id}")
def get_task(emu, req):
    return _with_null_additional_data(_row_by_id(emu, req, lambda: emu.ds.tasks(copy=False)))


# GET /api/v2/projectTemplates/{id}  (openapi v2 getProjectTemplate; cost 1)
@route("/api/v2/projectTemplates/{id}")
def get_project_template(emu, req):
    return _with_null_additional_data(_row_by_id(emu, req, emu.ds.project_templates))


# GET /api/v2/boards/{id}  (openapi v2 getProjectsBoard; cost 10)
@route("/api/v2/boards/{id}")
def get_board(emu, req):
    return _row_by_id(emu, req, emu.ds.boards)


# GET /api/v2/phases/{id}  (openapi v2 getProjectsPhase; cost 10)
@route("/api/v2/phases/{id}")
def get_phase(emu, req):
    return _row_by_id(emu, req, lambda: emu.ds._projects()["phases"])


# GET /api/v2/phases?board_id=  (openapi v2 getProjectsPhases; board_id required; inferred: unknown board -> [])
@route("/api/v2/phases")
def get_phases(emu, req):
    p = params(req)
    items = emu.ds.phases(p["board_id"])
    return Response(200, dumps({"success": True, "data": items, "additional_data": None}), records=len(items))
