"""API v1 handlers for data sets without a v2 list endpoint (pipedrive-api.md §1.4, §4).

Served under both `/v1/...` and `/api/v1/...` (MIG: v1 accepted both prefixes). v1 is lenient where v2 is strict
(inferred): undocumented query parameters are ignored and a `limit` above the maximum is clamped (§9 "likely
clamped"). Offset pagination: `start` + `limit` with `additional_data.pagination = {start, limit,
more_items_in_collection, next_start}`, `next_start` only when more items exist (§4.1).

Envelopes follow each operation's published 200 response (openapi v1):
- success + data only, no paging: users, filters, activityTypes, currencies, leadLabels, leadSources,
  permissionSets, goals/find (+ statusCode/statusText/service), mailThreads/{id}/mailMessages, users/{id}/followers;
- success + data only although start/limit page the list: mailbox/mailThreads, permissionSets/{id}/assignments
  (api_v1_catalogue._offset_unannounced: the end is a page shorter than `limit`);
- additional_data.pagination: every other start/limit list. Where a schema puts start/limit/more_items_in_collection
  directly under additional_data but the example nests them in `pagination` (flow, mailMessages, participants,
  organizationRelationships, the *Fields lists) or shows no additional_data at all (leads, leads/archived), the
  `pagination` form of the examples and of the pagination concept page is used (inferred, §3.2);
- additional_data.next_cursor: the changelogs and participantsChangelog (§4.3).
"""
from __future__ import annotations

from . import fields as F
from .common import ApiError, Response, bad_request, dumps, not_found, parse_iso_ms
from .data import ARCHIVED, DELETED

ROUTES = []


def route(template: str):
    def deco(fn):
        ROUTES.append(("GET", template, fn))
        return fn
    return deco


def _int_arg(req, name, default=None):
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"Parameter '{name}' must be an integer") from None


def _paging(req, max_limit=500):
    start = _int_arg(req, "start", 0)
    limit = _int_arg(req, "limit", 100)
    if start < 0 or limit < 1:
        raise bad_request("Parameters 'start' and 'limit' must be positive")
    return start, min(limit, max_limit)


def list_body(parts, start, limit, more, null_when_empty=False) -> bytes:
    pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    # inferred (§4.1 "commonly observed"): legacy v1 lists answer data: null when nothing matches
    data = b"null" if (null_when_empty and not parts) else b"[" + b",".join(parts) + b"]"
    return b'{"success":true,"data":' + data + b',"additional_data":{"pagination":' + dumps(pagination) + b"}}"


def plain_body(items) -> bytes:
    return dumps({"success": True, "data": items})


def _offset_page(items, start, limit, null_when_empty=False):
    page = items[start:start + limit]
    return Response(200, list_body([dumps(x) for x in page], start, limit, start + limit < len(items), null_when_empty),
                    records=len(page))


def _sort_spec(raw, allowed, default):
    """`sort` = 'field_1 ASC, field_2 DESC' (openapi v1 getLeads/getNotes)."""
    if not raw:
        return default
    spec = []
    for part in raw.split(","):
        words = part.split()
        if not words or words[0] not in allowed or len(words) > 2:
            raise bad_request(f"Invalid sort field '{part.strip()}'")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise bad_request(f"Invalid sort direction '{words[1]}'")
        spec.append((words[0], direction == "DESC"))
    return tuple(spec)


def _ordered(ds, entity, spec, keep, value_of, cache_key):
    """Filtered + sorted row ids, cached until the table changes (offset pages of one scan stay consistent)."""
    t = ds.tables[entity]
    key = ("v1", entity, spec, cache_key, t.version, t.n)
    hit = ds._derived.get(key)
    if hit is not None:
        return hit
    rows = [k + 1 for k in range(t.n) if keep(k)]
    for field, desc in reversed(spec):  # stable sorts, last key first; ties end up in id order
        rows.sort(key=lambda rid: _none_first(value_of(field, rid)), reverse=desc)
    stale = [k for k in ds._derived if k[:2] == ("v1", entity)]
    for k in stale[:-8]:  # keep a few recent query shapes only
        ds._derived.pop(k, None)
    ds._derived[key] = rows
    return rows


def _none_first(v):
    return (v is not None, v if v is not None else 0)


# ---- leads ------------------------------------------------------------------------------------------------

_LEAD_SORT = ("id", "title", "owner_id", "creator_id", "was_seen", "expected_close_date", "next_activity_id",
              "add_time", "update_time")


def _leads(emu, req, archived: bool):
    ds = emu.ds
    start, limit = _paging(req)
    spec = _sort_spec(req.arg("sort"), _LEAD_SORT, (("add_time", False),))  # default: oldest first (openapi)
    since = None
    if not archived and req.arg("updated_since") is not None:
        since = parse_iso_ms(req.arg("updated_since"))
        if since is None:
            raise bad_request("Parameter 'updated_since' must be an ISO 8601 date-time")
    owner, person, org = _int_arg(req, "owner_id"), _int_arg(req, "person_id"), _int_arg(req, "organization_id")
    if _int_arg(req, "filter_id") is not None:
        owner = person = org = None  # filter_id takes precedence (openapi); emulated filters match every lead
    with ds.lock:
        t = ds.tables["leads"]
        c, flags, upd = t.cols, t.flags, t.upd
        want = ARCHIVED if archived else 0

        def keep(k):
            f = flags[k]
            # leads are hard-deleted (no is_deleted on the lead object): DELETED rows are simply gone
            return (not f & DELETED and f & ARCHIVED == want and (since is None or upd[k] >= since)
                    and (owner is None or c["owner_id"][k] == owner) and (person is None or c["person_id"][k] == person)
                    and (org is None or c["org_id"][k] == org))

        def value_of(field, rid):
            k = rid - 1
            if field == "add_time":
                return t.add[k]
            if field == "update_time":
                return t.upd[k]
            if field == "id":
                return ds.lead_uuids[k]
            if field == "owner_id":
                return c["owner_id"][k]
            return ds.lead(rid).get(field)

        rows = _ordered(ds, "leads", spec, keep, value_of, (archived, since, owner, person, org))
        page = rows[start:start + limit]
        parts = [ds.cached_bytes("leads", rid, "v1", lambda i: dumps(ds.lead(i))) for rid in page]
    return Response(200, list_body(parts, start, limit, start + limit < len(rows)), records=len(parts))


# GET /v1/leads  (openapi v1 getLeads; §1.4: not archived, add_time asc, updated_since >= ISO 8601)
@route("/v1/leads")
def get_leads(emu, req):
    return _leads(emu, req, archived=False)


# GET /v1/leads/archived  (openapi v1 getArchivedLeads; no updated_since)
@route("/v1/leads/archived")
def get_archived_leads(emu, req):
    return _leads(emu, req, archived=True)


# GET /v1/leads/{id}  (openapi v1 getLead; cost 2)
@route("/v1/leads/{id}")
def get_lead(emu, req):
    ds = emu.ds
    with ds.lock:
        k = ds.lead_index.get(req.path_params["id"])
        if k is None or ds.tables["leads"].flags[k] & DELETED:
            raise not_found()
        body = ds.cached_bytes("leads", k + 1, "v1", lambda i: dumps(ds.lead(i)))
    return Response(200, b'{"success":true,"data":' + body + b"}", records=1)


# GET /v1/leadLabels  (openapi v1 getLeadLabels; no pagination)
@route("/v1/leadLabels")
def get_lead_labels(emu, req):
    return Response(200, plain_body(emu.ds.lead_labels), records=len(emu.ds.lead_labels))


# GET /v1/leadSources  (openapi v1 getLeadSources; fixed list)
@route("/v1/leadSources")
def get_lead_sources(emu, req):
    items = emu.ds.lead_sources()
    return Response(200, plain_body(items), records=len(items))


_V1_DEAL_BUILTIN = [
    ("title", "Title", "varchar", None), ("value", "Value", "monetary", None), ("user_id", "Owner", "user", None),
    ("person_id", "Contact person", "people", None), ("org_id", "Organization", "org", None),
    ("stage_id", "Stage", "stage", None),
    ("status", "Status", "status", [("open", "Open"), ("won", "Won"), ("lost", "Lost"), ("deleted", "Deleted")]),
    ("probability", "Probability", "double", None), ("lost_reason", "Lost reason", "varchar_options", None),
    ("visible_to", "Visible to", "visible_to", [("1", "Owner & followers"), ("3", "Entire company")]),
    ("add_time", "Deal created", "date", None), ("update_time", "Update time", "date", None),
    ("close_time", "Deal closed on", "date", None), ("expected_close_date", "Expected close date", "date", None),
    ("label", "Label", "set", [(1, "Hot"), (2, "Warm"), (3, "Cold")]),
]
_V1_LEAD_BUILTIN = [
    ("title", "Title", "varchar", None), ("owner_id", "Owner", "user", None),
    ("person_id", "Person", "people", None), ("organization_id", "Organization", "org", None),
    ("value", "Value", "monetary", None), ("expected_close_date", "Expected close date", "date", None),
    ("source_name", "Source", "varchar", None), ("visible_to", "Visible to", "visible_to", None),
    ("add_time", "Lead created", "date", None), ("update_time", "Update time", "date", None),
]


def v1_fields(ds, entity):
    """Items of GET /v1/{entity}Fields (also leadFields)."""
    if entity == "deals":
        return F.v1_field_items(_V1_DEAL_BUILTIN, ds.custom["deals"], ds.start)
    if entity == "leads":
        labels = [(x["id"], x["name"]) for x in ds.lead_labels]
        builtins = _V1_LEAD_BUILTIN + [("label_ids", "Labels", "set", labels)]
        return F.v1_field_items(builtins, ds.custom["deals"], ds.start)  # leads inherit deal custom fields (CF)
    if entity == "activities":
        return F.v1_field_items(F.BUILTIN["activities"], ds.activity_custom, ds.start)
    return F.v1_field_items(F.BUILTIN[entity], ds.custom[entity], ds.start)


def _paged_fields(emu, req, entity):
    start, limit = _paging(req)
    return _offset_page(v1_fields(emu.ds, entity), start, limit)


# GET /v1/leadFields  (openapi v1 getLeadFields; added 2025-11; deal custom fields, §3.2)
@route("/v1/leadFields")
def get_lead_fields(emu, req):
    return _paged_fields(emu, req, "leads")


# GET /v1/dealFields  (openapi v1 getDealFields; supported v1, start/limit; options_deleted, §3.2)
@route("/v1/dealFields")
def get_deal_fields(emu, req):
    return _paged_fields(emu, req, "deals")


# GET /v1/personFields  (openapi v1 getPersonFields)
@route("/v1/personFields")
def get_person_fields(emu, req):
    return _paged_fields(emu, req, "persons")


# GET /v1/organizationFields  (openapi v1 getOrganizationFields)
@route("/v1/organizationFields")
def get_organization_fields(emu, req):
    return _paged_fields(emu, req, "organizations")


# GET /v1/productFields  (openapi v1 getProductFields)
@route("/v1/productFields")
def get_product_fields(emu, req):
    return _paged_fields(emu, req, "products")


# GET /v1/activityFields  (openapi v1 getActivityFields; no paging parameters)
@route("/v1/activityFields")
def get_activity_fields(emu, req):
    items = v1_fields(emu.ds, "activities")
    return Response(200, list_body([dumps(x) for x in items], 0, len(items), False), records=len(items))


# ---- notes ------------------------------------------------------------------------------------------------

_NOTE_SORT = ("id", "user_id", "deal_id", "person_id", "org_id", "content", "add_time", "update_time")


# GET /v1/notes  (openapi v1 getNotes; §1.4: updated_since >= RFC 3339, sort e.g. "update_time ASC")
@route("/v1/notes")
def get_notes(emu, req):
    ds = emu.ds
    start, limit = _paging(req)
    spec = _sort_spec(req.arg("sort"), _NOTE_SORT, (("id", False),))  # inferred default: id ascending
    since = None
    if req.arg("updated_since") is not None:
        ms = parse_iso_ms(req.arg("updated_since"))
        if ms is None:
            raise bad_request("Parameter 'updated_since' must be an RFC 3339 date-time")
        since = -(-ms // 1000)  # note times are whole seconds: >= ceil(value)
    filters = {col: _int_arg(req, arg) for arg, col in
               (("user_id", "user_id"), ("deal_id", "deal_id"), ("person_id", "person_id"), ("org_id", "org_id"))}
    filters = {c: v for c, v in filters.items() if v is not None}
    lead = req.arg("lead_id")
    day_from, day_to = req.arg("start_date"), req.arg("end_date")
    pinned = {name: req.arg(name) for name in ("pinned_to_lead_flag", "pinned_to_deal_flag",
                                               "pinned_to_organization_flag", "pinned_to_person_flag")
              if req.arg(name) in ("0", "1")}
    with ds.lock:
        t = ds.tables["notes"]
        c, flags, upd = t.cols, t.flags, t.upd
        lead_ref = ds.lead_index.get(lead, -2) + 1 if lead else None

        def keep(k):
            if flags[k] & DELETED or (since is not None and upd[k] < since):
                return False  # inferred: deleted notes are not listed (v1 notes carry active_flag only)
            for col, v in filters.items():
                if c[col][k] != v:
                    return False
            if lead_ref is not None and c["lead"][k] != lead_ref:
                return False
            if day_from or day_to:
                day = ds.note(k + 1)["add_time"][:10]
                if (day_from and day < day_from) or (day_to and day > day_to):
                    return False
            if pinned:
                rec = ds.note(k + 1)
                if any(rec[name] != (v == "1") for name, v in pinned.items()):
                    return False
            return True

        def value_of(field, rid):
            k = rid - 1
            if field == "id":
                return rid
            if field == "add_time":
                return t.add[k]
            if field == "update_time":
                return t.upd[k]
            if field == "content":
                return ds.note(rid)["content"]
            return c[field][k] or None

        cache_key = (since, tuple(sorted(filters.items())), lead, day_from, day_to, tuple(sorted(pinned.items())))
        rows = _ordered(ds, "notes", spec, keep, value_of, cache_key)
        page = rows[start:start + limit]
        parts = [ds.cached_bytes("notes", rid, "v1", lambda i: dumps(ds.note(i))) for rid in page]
    return Response(200, list_body(parts, start, limit, start + limit < len(rows), null_when_empty=True),
                    records=len(parts))


def note_field_items() -> list:
    """Items of GET /v1/noteFields (openapi v1 getNoteFields; small items, §3.2)."""
    yes_no = [{"id": 1, "label": "Yes"}, {"id": 0, "label": "No"}]
    specs = [("content", "Content", "text", None, True)] + [
        (f"pinned_to_{x}_flag", f"Note is pinned to {x}", "enum", yes_no, False)
        for x in ("lead", "deal", "organization", "person", "project")
    ] + [("deal_id", "Deal", "deal", None, False), ("lead_id", "Lead", "lead", None, False),
         ("person_id", "Person", "people", None, False), ("org_id", "Organization", "org", None, False),
         ("user_id", "User", "user", None, False), ("add_time", "Add time", "date", None, False),
         ("update_time", "Update time", "date", None, False)]
    items = []
    for i, (key, name, ftype, options, mandatory) in enumerate(specs, 1):
        item = {"id": i, "key": key, "name": name, "field_type": ftype, "active_flag": True, "edit_flag": False,
                "bulk_edit_allowed": True, "mandatory_flag": mandatory}
        if options:
            item["options"] = options
        items.append(item)
    return items


# GET /v1/noteFields  (openapi v1 getNoteFields; small items, §3.2)
@route("/v1/noteFields")
def get_note_fields(emu, req):
    items = note_field_items()
    return Response(200, list_body([dumps(x) for x in items], 0, 100, False), records=len(items))


# ---- users, settings-like lists ---------------------------------------------------------------------------

# GET /v1/users  (openapi v1 getUsers; no pagination, deactivated users included with active_flag false)
@route("/v1/users")
def get_users(emu, req):
    return Response(200, plain_body(emu.ds.users), records=len(emu.ds.users))


# GET /v1/users/me  (openapi v1 getCurrentUser; cost 2, scope base; company_domain, §5.2)
@route("/v1/users/me")
def get_me(emu, req):
    ds = emu.ds
    me = dict(ds.users[0])  # inferred: every token and OAuth grant belongs to user 1, the company admin
    me.update(company_id=1000 + ds.seed, company_name=f"Emulated Company {ds.seed}", company_domain=ds.company_domain,
              company_country="EE", company_industry="IT Services",
              language={"language_code": "en", "country_code": "US"})
    return Response(200, plain_body(me), records=1)


# GET /v1/activityTypes  (openapi v1 getActivityTypes; no pagination)
@route("/v1/activityTypes")
def get_activity_types(emu, req):
    items = emu.ds.activity_types()
    return Response(200, plain_body(items), records=len(items))


# GET /v1/currencies  (openapi v1 getCurrencies; optional `term` search on name/code)
@route("/v1/currencies")
def get_currencies(emu, req):
    items = emu.ds.currencies()
    term = (req.arg("term") or "").lower()
    if term:
        items = [c for c in items if term in c["name"].lower() or term in c["code"].lower()]
    return Response(200, plain_body(items), records=len(items))


# GET /v1/filters  (openapi v1 getFilters; optional `type`)
@route("/v1/filters")
def get_filters(emu, req):
    typ = req.arg("type")
    allowed = ("deals", "leads", "org", "people", "products", "activity", "projects")
    if typ is not None and typ not in allowed:
        raise bad_request("Parameter 'type' must be one of " + ", ".join(allowed))
    items = [f for f in emu.ds.filters() if typ is None or f["type"] == typ]
    return Response(200, plain_body(items), records=len(items))


# GET /v1/callLogs  (openapi v1 getUserCallLogs; limit <= 50, token user's logs only, string ids)
@route("/v1/callLogs")
def get_call_logs(emu, req):
    start, limit = _paging(req, max_limit=50)
    return _offset_page(emu.ds.call_logs(), start, limit, null_when_empty=True)


# GET /v1/files  (openapi v1 getFiles; limit <= 100, sort by id / update_time)
@route("/v1/files")
def get_files(emu, req):
    start, limit = _paging(req, max_limit=100)
    spec = _sort_spec(req.arg("sort"), ("id", "update_time"), (("id", False),))
    items = list(emu.ds.files())
    for field, desc in reversed(spec):
        items.sort(key=lambda f: f[field], reverse=desc)
    return _offset_page(items, start, limit, null_when_empty=True)


# ---- single items of the reference lists (v1 getUser / getFile / getCallLog) ----------------------------------

def _v1_by_id(req, items, as_int=True):
    raw = req.path_params["id"]
    if as_int and not raw.isdigit():
        raise bad_request("Parameter 'id' must be an integer")
    key = int(raw) if as_int else raw
    item = next((x for x in items if x["id"] == key), None)
    if item is None:
        raise not_found()
    return Response(200, plain_body(item), records=1)


# GET /v1/users/{id}  (openapi v1 getUser; cost 2, scope users:read; deactivated users too)
@route("/v1/users/{id}")
def get_user(emu, req):
    return _v1_by_id(req, emu.ds.users)


# GET /v1/files/{id}  (openapi v1 getFile; cost 2; inferred: a file deleted within the 30 days is still readable by
# id, active_flag false, like the soft-deleted core records)
@route("/v1/files/{id}")
def get_file(emu, req):
    with emu.ds.lock:
        return _v1_by_id(req, emu.ds.files(with_deleted=True))


# GET /v1/callLogs/{id}  (openapi v1 getCallLog; cost 2; string ids; the token user's logs only)
@route("/v1/callLogs/{id}")
def get_call_log(emu, req):
    with emu.ds.lock:
        return _v1_by_id(req, emu.ds.call_logs(), as_int=False)


# ---- deals summary ------------------------------------------------------------------------------------------

def _summary(emu, req, archived: bool):
    status = req.arg("status")
    if status is not None and status not in ("open", "won", "lost"):
        raise bad_request("Parameter 'status' must be one of open, won, lost")
    owner, pipeline, stage = _int_arg(req, "user_id"), _int_arg(req, "pipeline_id"), _int_arg(req, "stage_id")
    statuses = [status] if status else None
    filter_id = _int_arg(req, "filter_id")
    ds = emu.ds
    with ds.lock:
        if filter_id is not None:
            f = next((x for x in ds.filters() if x["id"] == filter_id), None)
            if f is None or f["type"] != "deals":  # inferred status and message, as /api/v2/deals?filter_id=
                raise bad_request(f"Filter with id {filter_id} not found or not applicable")
            owner = None  # "user_id will not be considered" (openapi)
            # emulated filters: 1 = open deals, 2 = deals owned by user 1, others = every deal (api_v2._saved_filter)
            if filter_id == 1:
                statuses = [s for s in (statuses or ("open",)) if s == "open"]
            elif filter_id == 2:
                owner = 1
        data = ds.deals_summary(archived, statuses, owner, pipeline, stage)
    return Response(200, dumps({"success": True, "data": data}), records=1)


# GET /v1/deals/summary  (openapi v1 getDealsSummary; cost 40, scope deals:read; "a summary of all not archived
# deals": open, won and lost ones (deleted never), optionally one status; filter_id overrides user_id)
@route("/v1/deals/summary")
def get_deals_summary(emu, req):
    return _summary(emu, req, archived=False)


# GET /v1/deals/summary/archived  (openapi v1 getArchivedDealsSummary; cost 80; same parameters, archived deals only;
# flagged deprecated in the spec but still listed there, §1.2)
@route("/v1/deals/summary/archived")
def get_archived_deals_summary(emu, req):
    return _summary(emu, req, archived=True)


# ---- deprecated v1 lists (CL-DEP / CL-OOS) ----------------------------------------------------------------

def _gone(emu, req):
    # inferred: after 2026-08-01 the deprecated paths are out of support and absent from SPEC1; answer 410 so a
    # client still calling them fails loudly instead of reading stale data (§1.2)
    raise ApiError(410, "This endpoint is deprecated and no longer supported",
                   "Use the API v2 replacement, see developers.pipedrive.com/changelog")


for _path in ("/v1/deals", "/v1/persons", "/v1/organizations", "/v1/activities", "/v1/products", "/v1/pipelines",
              "/v1/stages", "/v1/deals/{id}", "/v1/persons/{id}", "/v1/organizations/{id}", "/v1/activities/{id}",
              "/v1/products/{id}", "/v1/deals/{id}/products", "/v1/deals/archived"):
    ROUTES.append(("GET", _path, _gone))
