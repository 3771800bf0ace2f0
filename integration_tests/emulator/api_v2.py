"""API v2 handlers (prefix /api/v2 only, pipedrive-api.md §2). One handler per documented GET operation.

Common rules implemented here (§2.1, openapi v2):
- strict query validation: a parameter the operation does not document, a non-integer where an integer is expected,
  a boolean other than true/false, a value outside an enum, or an `updated_since`/`updated_until` that is not exactly
  `YYYY-MM-DDTHH:MM:SSZ` is a 400 (UNVERIFIED body, see common.bad_request);
- cursor pagination: `limit` default 100, max 500 (> 500 is a 400, §9 "likely 400"); `additional_data.next_cursor`
  names the first item of the next page, null on the last page;
- the cursor is a keyset on (sort value, id) (inferred): a record updated mid-scan moves behind the scan position
  under sort_by=update_time and is visited again rather than skipped; ties in one second are ordered by id.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right

from . import fields as F
from .common import (Response, bad_request, decode_cursor, dumps, encode_cursor, not_found,
                     parse_v2_time, v2_time)
from .data import ARCHIVED, DELETED, STATUS
from .spec_tables import V2_QUERY_PARAMS

ROUTES = []  # (method, template, handler)
MAX_LIMIT = 500
# parameters documented as comma-separated lists: the enum (if any) applies to each item
COMMA_LISTS = {"ids", "status", "include_fields", "custom_fields", "deal_ids"}


def route(template: str):
    def deco(fn):
        ROUTES.append(("GET", template, fn))
        return fn
    return deco


# ---- parameter validation ---------------------------------------------------------------------------------

def params(req) -> dict:
    spec = V2_QUERY_PARAMS[("GET", req.template)]
    out = {}
    for name, values in req.query.items():
        if name == "api_token":  # legacy auth parameter, consumed by auth (§5.1)
            continue
        if name not in spec:
            raise bad_request(f"Unknown query parameter '{name}'")
        typ, enum, _items, _required = spec[name]
        if typ == "array":  # deal_ids: accept both `a=1,2` (§2.1 / MIG) and repeated `a=1&a=2` (OpenAPI form)
            raw = [x for v in values for x in v.split(",")]
            out[name] = [_int(name, x) for x in raw]
            continue
        if len(values) > 1:
            raise bad_request(f"Parameter '{name}' must not be repeated")
        value = values[0]
        if typ == "integer":
            out[name] = _int(name, value)
        elif typ == "boolean":
            if value not in ("true", "false"):  # v2 booleans are strictly true/false (MIG)
                raise bad_request(f"Parameter '{name}' must be a boolean")
            out[name] = value == "true"
        elif name in COMMA_LISTS:
            parts = value.split(",")
            if enum is not None and any(x not in enum for x in parts):
                raise bad_request(f"Parameter '{name}' must be one of {', '.join(enum)}")
            out[name] = parts
        else:
            if enum is not None and value not in enum:
                raise bad_request(f"Parameter '{name}' must be one of {', '.join(enum)}")
            out[name] = value
    for name, (_, _, _, required) in spec.items():
        if required and name not in out:
            raise bad_request(f"Parameter '{name}' is required")
    limit = out.get("limit", 100)
    if limit > MAX_LIMIT or limit < 1:
        raise bad_request(f"Parameter 'limit' must be between 1 and {MAX_LIMIT}")
    out["limit"] = limit
    for name in ("updated_since", "updated_until"):
        if name in out:
            ts = parse_v2_time(out[name])
            if ts is None:  # §2.1: fractional seconds or a space separator are rejected
                raise bad_request(f"Parameter '{name}' must be an RFC 3339 date-time like 2025-01-01T10:20:00Z")
            out[name] = ts
    if "ids" in out:
        out["ids"] = [_int("ids", x) for x in out["ids"]]
        if len(out["ids"]) > 100:
            raise bad_request("Parameter 'ids' accepts at most 100 ids")
    if "custom_fields" in out and len(out["custom_fields"]) > 15:
        raise bad_request("Parameter 'custom_fields' accepts at most 15 keys")
    return out


def _int(name: str, value: str) -> int:
    v = value.strip()
    if not (v.isdigit() or (v[:1] == "-" and v[1:].isdigit())):
        raise bad_request(f"Parameter '{name}' must be an integer")
    return int(v)


def _path_id(req) -> int:
    raw = req.path_params["id"]
    if not raw.isdigit():
        raise bad_request("Parameter 'id' must be an integer")
    return int(raw)


def _cursor(p: dict, sort_by: str, direction: str):
    if "cursor" not in p:
        return None
    cur = decode_cursor(p["cursor"])
    if not cur or cur.get("field") != sort_by or cur.get("sortDirection") != direction or not isinstance(cur.get("id"), int):
        raise bad_request("Invalid cursor")  # inferred: a cursor only resumes the ordering it came from
    return cur


def page_body(parts: list, next_cursor) -> bytes:
    tail = b"null" if next_cursor is None else dumps(next_cursor)
    # one join: a 500-record page is ~1 MB and every extra concatenation copies it again
    chunks = [b'{"success":true,"data":[']
    for part in parts:
        chunks.append(part)
        chunks.append(b",")
    if parts:
        chunks.pop()
    chunks.append(b'],"additional_data":{"next_cursor":' + tail + b"}}")
    return b"".join(chunks)


def item_body(obj) -> bytes:
    return b'{"success":true,"data":' + (obj if isinstance(obj, bytes) else dumps(obj)) + b"}"


# ---- big tables: keyset pagination over the sorted indexes ----------------------------------------------

def _sort_value(ds, entity, sort_by, rid):
    key = ds.sort_key(entity, sort_by, rid)
    return v2_time(key) if sort_by in ("update_time", "add_time") else (
        v2_time(key)[:10] if sort_by == "due_date" else key)


def _probe_key(sort_by, value):
    if sort_by in ("update_time", "add_time", "due_date"):
        ts = parse_v2_time(value if sort_by != "due_date" else f"{value}T00:00:00Z") if isinstance(value, str) else None
        if ts is None:
            raise bad_request("Invalid cursor")
        return ts
    if sort_by == "id":
        if not isinstance(value, int):
            raise bad_request("Invalid cursor")
        return value
    if not isinstance(value, str):
        raise bad_request("Invalid cursor")
    return value


def scan(ds, entity, pred, p, sort_by, direction, since=None, until=None, candidates=None):
    """Return (ids of this page, next_cursor). `pred(k)` filters by 0-based row index."""
    limit = p["limit"]
    cur = _cursor(p, sort_by, direction)
    t = ds.tables[entity]
    if candidates is not None:  # ids / deal_id filters: a small explicit set, ordered like the full index
        idx = sorted({c for c in candidates if 1 <= c <= t.n},
                     key=lambda rid: (ds.sort_key(entity, sort_by, rid), rid))
        keyed = [((ds.sort_key(entity, sort_by, rid), rid), rid) for rid in idx]
        entries, rid_of = [k for k, _ in keyed], (lambda e: e[1])
        make = lambda key, rid: (key, rid)  # noqa: E731
    else:
        entries = ds.index(entity, sort_by)
        if sort_by == "id":
            rid_of, make = (lambda e: e), (lambda key, rid: rid)
        elif sort_by == "name":
            rid_of, make = (lambda e: e[1]), (lambda key, rid: (key, rid))
        else:
            rid_of, make = (lambda e: e & 0xFFFFFFFF), (lambda key, rid: (key << 32) | rid)
    n = len(entries)
    time_sorted = sort_by == "update_time" and candidates is None
    lo, hi = 0, n  # half-open range of positions worth visiting
    if time_sorted:
        if since is not None:
            lo = bisect_left(entries, since << 32)
        if until is not None:
            hi = bisect_left(entries, until << 32)
    upd = t.upd
    check_time = not time_sorted and (since is not None or until is not None)
    out = []
    if direction == "asc":
        pos = lo
        if cur is not None:
            pos = max(pos, bisect_left(entries, make(_probe_key(sort_by, cur["fieldValue"]), cur["id"])))
        rng = range(pos, hi)
    else:
        pos = hi - 1
        if cur is not None:
            pos = min(pos, bisect_right(entries, make(_probe_key(sort_by, cur["fieldValue"]), cur["id"])) - 1)
        rng = range(pos, lo - 1, -1)
    nxt = None
    for i in rng:
        rid = rid_of(entries[i])
        k = rid - 1
        if check_time:
            u = upd[k]
            if (since is not None and u < since) or (until is not None and u >= until):
                continue
        if not pred(k):
            continue
        if len(out) == limit:
            nxt = rid
            break
        out.append(rid)
    next_cursor = None
    if nxt is not None:
        next_cursor = encode_cursor({"field": sort_by, "fieldValue": _sort_value(ds, entity, sort_by, nxt),
                                     "sortDirection": direction, "id": nxt})
    return out, next_cursor


def make_pred(ds, entity, conds, deals_mode=None, statuses=None):
    """Row predicate: not deleted (or deal status rules), plus column == value conditions."""
    t = ds.tables[entity]
    flags = t.flags
    conds = [(t.cols[c], v) for c, v in conds]
    if entity == "deals":
        want_arch = ARCHIVED if deals_mode == "archived" else 0
        statuses = set(statuses or ("open", "won", "lost"))  # default: all not deleted (openapi getDeals)
        allow_deleted = "deleted" in statuses
        codes = {STATUS.index(s) for s in statuses if s != "deleted"}
        st = t.cols["status"]

        def pred(k):
            f = flags[k]
            if f & ARCHIVED != want_arch:
                return False
            if f & DELETED:
                if not allow_deleted:
                    return False
            elif st[k] not in codes:
                return False
            for arr, v in conds:
                if arr[k] != v:
                    return False
            return True
        return pred

    def pred(k):
        if flags[k] & DELETED:  # inferred: v2 lists of persons/orgs/activities/products omit soft-deleted rows (§9)
            return False
        for arr, v in conds:
            if arr[k] != v:
                return False
        return True
    return pred


# ---- record rendering variants ----------------------------------------------------------------------------

_LABELS = {e: dict(next(f[3] for f in F.BUILTIN[e] if f[0] == "label_ids")) for e in ("deals", "persons", "organizations")}


def render_parts(ds, entity, ids, p) -> list:
    include = set(p.get("include_fields") or ())
    trim = p.get("custom_fields")
    with_labels = p.get("include_option_labels", False)
    with_label_objs = p.get("include_labels", False)
    if not include and trim is None and not with_label_objs:
        if not with_labels:
            return [ds.v2_default_bytes(entity, rid) for rid in ids]
        return [ds.cached_bytes(entity, rid, "v2-option-labels",
                                lambda i: dumps(_variant(ds, entity, ds.record(entity, i), p, include))) for rid in ids]
    return [dumps(_variant(ds, entity, ds.record(entity, rid), p, include)) for rid in ids]


def _variant(ds, entity, rec, p, include):
    if "custom_fields" in rec:
        custom = rec["custom_fields"]
        if p.get("custom_fields") is not None:
            keep = set(p["custom_fields"])  # unknown keys are ignored (inferred)
            custom = {k: v for k, v in custom.items() if k in keep}
        if p.get("include_option_labels"):
            custom = F.with_option_labels(custom, ds.custom_by_key[entity])
        rec["custom_fields"] = custom
    if p.get("include_labels") and entity in _LABELS:
        # inferred key name: openapi says "an array of label objects in the form of { id, label }"
        rec["labels"] = [{"id": i, "label": _LABELS[entity][str(i)]} for i in rec["label_ids"]]
    if include:
        rec.update(_include_fields(ds, entity, rec, include))
    return rec


def _include_fields(ds, entity, rec, include) -> dict:
    """Optional response fields (include_fields): counts equal the child lists (counts.py), times are RFC 3339."""
    rid = rec["id"]
    if entity == "activities":
        return {"attendees": ds.attendees(rec)} if "attendees" in include else {}
    extra = ds.count_fields(entity, rid, [n for n in include if n.endswith("_count") or n in _COUNTED])
    for name in include:
        if name in extra:
            continue
        if name == "first_won_time":
            extra[name] = rec.get("won_time")
        elif name == "smart_bcc_email":
            extra[name] = f"{ds.company_domain}+{entity[:-1]}{rid}@pipedrivemail.com"
        elif name in ("marketing_status", "doi_status"):
            continue  # only with the marketing app (openapi getPersons); this account has none
        else:  # source_lead_id: no deal here was converted from a lead
            extra[name] = None
    return extra


_COUNTED = {"next_activity_id", "last_activity_id", "last_incoming_mail_time", "last_outgoing_mail_time"}


# ---- entity lists -----------------------------------------------------------------------------------------

def _list(emu, req, entity, conds_from, deals_mode=None):
    ds = emu.ds
    p = params(req)
    sort_by, direction = p.get("sort_by", "id"), p.get("sort_direction", "asc")
    with ds.lock:
        conds, candidates = conds_from(ds, p)
        statuses = p.get("status")
        if "filter_id" in p:
            conds, candidates, statuses = _saved_filter(ds, entity, p["filter_id"])
        pred = make_pred(ds, entity, conds, deals_mode, statuses)
        ids, nxt = scan(ds, entity, pred, p, sort_by, direction, p.get("updated_since"), p.get("updated_until"),
                        candidates)
        parts = render_parts(ds, entity, ids, p)
    return Response(200, page_body(parts, nxt), records=len(ids))


FILTER_ENTITY = {"deals": "deals", "org": "organizations", "people": "persons", "activity": "activities",
                 "products": "products", "leads": "leads", "projects": "projects"}


def _saved_filter(ds, entity, filter_id):
    # filter_id overrides every other filter param (openapi). Emulated filters: 1 = open deals, 2 = deals owned by
    # user 1, 4/5/6/7 = every org/person/activity/product, filters added later = every record of their type
    # (inferred semantics; the real ones are user-defined). A deleted filter is not found.
    f = next((x for x in ds.filters() if x["id"] == filter_id), None)
    if f is None or FILTER_ENTITY.get(f["type"]) != entity:
        raise bad_request(f"Filter with id {filter_id} not found or not applicable")
    if filter_id == 1:
        return [], None, ["open"]
    if filter_id == 2:
        return [("owner_id", 1)], None, None
    return [], None, None


def _ids(p):
    return p.get("ids")


def _deal_conds(ds, p):
    conds = [(c, p[c]) for c in ("owner_id", "person_id", "org_id", "pipeline_id", "stage_id") if c in p]
    return conds, _ids(p)


def _person_conds(ds, p):
    conds = [(c, p[c]) for c in ("owner_id", "org_id") if c in p]
    cand = _ids(p)
    if "deal_id" in p:  # persons linked to the deal = its participants (the v1 /deals/{id}/persons it replaces)
        d = p["deal_id"]
        t = ds.tables["deals"]
        linked = set(ds.participant_person_ids(d)) if 1 <= d <= t.n else set()
        cand = sorted(linked & set(cand)) if cand is not None else sorted(linked)
    return conds, cand


def _org_conds(ds, p):
    return [("owner_id", p["owner_id"])] if "owner_id" in p else [], _ids(p)


def _activity_conds(ds, p):
    conds = [(c, p[c]) for c in ("owner_id", "deal_id", "person_id", "org_id") if c in p]
    if "done" in p:
        conds.append(("done", 1 if p["done"] else 0))
    if "lead_id" in p:
        conds.append(("lead", ds.lead_index.get(p["lead_id"], -2) + 1))
    return conds, _ids(p)


def _product_conds(ds, p):
    return [("owner_id", p["owner_id"])] if "owner_id" in p else [], _ids(p)


# GET /api/v2/deals  (openapi v2 getDeals; pipedrive-api.md §2.2, §2.6: archived deals excluded)
@route("/api/v2/deals")
def get_deals(emu, req):
    return _list(emu, req, "deals", _deal_conds, deals_mode="active")


# GET /api/v2/deals/archived  (openapi v2 getArchivedDeals; §2.6: only archived deals, same params)
@route("/api/v2/deals/archived")
def get_archived_deals(emu, req):
    return _list(emu, req, "deals", _deal_conds, deals_mode="archived")


# GET /api/v2/persons  (openapi v2 getPersons; §2.2)
@route("/api/v2/persons")
def get_persons(emu, req):
    return _list(emu, req, "persons", _person_conds)


# GET /api/v2/organizations  (openapi v2 getOrganizations; §2.2)
@route("/api/v2/organizations")
def get_organizations(emu, req):
    return _list(emu, req, "organizations", _org_conds)


# GET /api/v2/activities  (openapi v2 getActivities; §2.2; no custom_fields on activities, §8.15)
@route("/api/v2/activities")
def get_activities(emu, req):
    return _list(emu, req, "activities", _activity_conds)


# GET /api/v2/products  (openapi v2 getProducts; §2.2: updated_since but no updated_until)
@route("/api/v2/products")
def get_products(emu, req):
    return _list(emu, req, "products", _product_conds)


def _single(emu, req, entity):
    ds = emu.ds
    p = params(req)
    rid = _path_id(req)
    with ds.lock:
        t = ds.tables[entity]
        if not 1 <= rid <= t.n:
            raise not_found()
        # inferred: a soft-deleted (or archived) record is still readable by id within the 30-day window (§2.6)
        part = render_parts(ds, entity, [rid], p)[0]
    return Response(200, item_body(part), records=1)


# GET /api/v2/deals/{id}  (openapi v2 getDeal; cost 1)
@route("/api/v2/deals/{id}")
def get_deal(emu, req):
    return _single(emu, req, "deals")


# GET /api/v2/persons/{id}  (openapi v2 getPerson; cost 1)
@route("/api/v2/persons/{id}")
def get_person(emu, req):
    return _single(emu, req, "persons")


# GET /api/v2/organizations/{id}  (openapi v2 getOrganization; cost 1)
@route("/api/v2/organizations/{id}")
def get_organization(emu, req):
    return _single(emu, req, "organizations")


# GET /api/v2/activities/{id}  (openapi v2 getActivity; cost 1)
@route("/api/v2/activities/{id}")
def get_activity(emu, req):
    return _single(emu, req, "activities")


# GET /api/v2/products/{id}  (openapi v2 getProduct; cost 1)
@route("/api/v2/products/{id}")
def get_product(emu, req):
    return _single(emu, req, "products")


# ---- small lists: same cursor semantics over in-memory item lists -------------------------------------------

def page_list(items: list, p: dict, sort_by: str = "id", direction: str = "asc", id_of=None, value_of=None):
    """Keyset pagination over a small list of dicts (pipelines, stages, fields, followers, children)."""
    page, nxt = page_rows(items, p, sort_by, direction, id_of, value_of)
    return Response(200, page_body([dumps(it) for it in page], nxt), records=len(page))


def page_rows(items: list, p: dict, sort_by: str = "id", direction: str = "asc", id_of=None, value_of=None):
    """(items of this page, next_cursor) for page_list and for endpoints with another envelope."""
    id_of = id_of or (lambda it: it["id"])
    value_of = value_of or (lambda it: it.get(sort_by))
    # None sorts first; (has_value, value, id) keeps mixed None/value columns comparable
    rows = sorted(((v is not None, v if v is not None else 0, id_of(it)), it) for it, v in ((it, value_of(it)) for it in items))
    if direction == "desc":
        rows.reverse()
    cur = _cursor(p, sort_by, direction)
    if cur is not None:
        fv = cur["fieldValue"]
        probe = (fv is not None, fv if fv is not None else 0, cur["id"])
        try:
            rows = [r for r in rows if (r[0] >= probe if direction == "asc" else r[0] <= probe)]
        except TypeError:
            raise bad_request("Invalid cursor") from None
    page, rest = rows[: p["limit"]], rows[p["limit"]:]
    nxt = None
    if rest:
        key = rest[0][0]
        nxt = encode_cursor({"field": sort_by, "fieldValue": key[1] if key[0] else None,
                             "sortDirection": direction, "id": key[2]})
    return [it for _, it in page], nxt


# GET /api/v2/pipelines  (openapi v2 getPipelines; §2.2: no updated_since)
@route("/api/v2/pipelines")
def get_pipelines(emu, req):
    p = params(req)
    items = [x for x in emu.ds.pipelines if not x["is_deleted"]]  # inferred: deleted pipelines are not listed (§2.6)
    return page_list(items, p, p.get("sort_by", "id"), p.get("sort_direction", "asc"))


# GET /api/v2/stages  (openapi v2 getStages; filter pipeline_id)
@route("/api/v2/stages")
def get_stages(emu, req):
    p = params(req)
    items = [s for s in emu.ds.stages if not s["is_deleted"]  # inferred: deleted stages are not listed (§2.6)
             and ("pipeline_id" not in p or s["pipeline_id"] == p["pipeline_id"])]
    return page_list(items, p, p.get("sort_by", "id"), p.get("sort_direction", "asc"))


def _row_by_id(emu, req, rows):
    params(req)  # documents no query parameters
    rid = _path_id(req)
    with emu.ds.lock:
        row = next((x for x in rows() if x["id"] == rid), None)
    if row is None:
        raise not_found()
    return Response(200, item_body(row), records=1)


# GET /api/v2/pipelines/{id}  (openapi v2 getPipeline; cost 1; inferred: a soft-deleted pipeline is still readable by
# id, is_deleted true, as the core entities within the 30-day window)
@route("/api/v2/pipelines/{id}")
def get_pipeline(emu, req):
    return _row_by_id(emu, req, lambda: emu.ds.pipelines)


# GET /api/v2/stages/{id}  (openapi v2 getStage; cost 1; deleted stages as pipelines)
@route("/api/v2/stages/{id}")
def get_stage(emu, req):
    return _row_by_id(emu, req, lambda: emu.ds.stages)


def _field_items(ds, entity):
    if entity == "activities":
        return F.v2_field_items("activities", ds.activity_custom)
    return F.v2_field_items(entity, ds.custom[entity])


def _fields(emu, req, entity):
    p = params(req)
    items = _field_items(emu.ds, entity)
    wanted = set(p.get("include_fields") or ())
    if wanted:
        items = [F.v2_field_extras(it, wanted) for it in items]
    # fields have no numeric id: the keyset is the position in the (stable) field order
    pos = {it["field_code"]: i for i, it in enumerate(items)}
    return page_list(items, p, "order", "asc", id_of=lambda it: pos[it["field_code"]],
                     value_of=lambda it: pos[it["field_code"]])


def _field_single(emu, req, entity):
    p = params(req)
    code = req.path_params["field_code"]
    for it in _field_items(emu.ds, entity):
        if it["field_code"] == code:
            wanted = set(p.get("include_fields") or ())
            return Response(200, item_body(F.v2_field_extras(it, wanted) if wanted else it), records=1)
    raise not_found()


# GET /api/v2/dealFields  (openapi v2 getDealFields; §3.1)
@route("/api/v2/dealFields")
def get_deal_fields(emu, req):
    return _fields(emu, req, "deals")


# GET /api/v2/personFields  (openapi v2 getPersonFields; §3.1)
@route("/api/v2/personFields")
def get_person_fields(emu, req):
    return _fields(emu, req, "persons")


# GET /api/v2/organizationFields  (openapi v2 getOrganizationFields; §3.1)
@route("/api/v2/organizationFields")
def get_organization_fields(emu, req):
    return _fields(emu, req, "organizations")


# GET /api/v2/productFields  (openapi v2 getProductFields; §3.1)
@route("/api/v2/productFields")
def get_product_fields(emu, req):
    return _fields(emu, req, "products")


# GET /api/v2/activityFields  (openapi v2 getActivityFields; §3.1, OAuth scope admin only)
@route("/api/v2/activityFields")
def get_activity_fields(emu, req):
    return _fields(emu, req, "activities")


# GET /api/v2/dealFields/{field_code}  (openapi v2 getDealField; cost 1)
@route("/api/v2/dealFields/{field_code}")
def get_deal_field(emu, req):
    return _field_single(emu, req, "deals")


# GET /api/v2/personFields/{field_code}  (openapi v2 getPersonField; cost 1)
@route("/api/v2/personFields/{field_code}")
def get_person_field(emu, req):
    return _field_single(emu, req, "persons")


# GET /api/v2/organizationFields/{field_code}  (openapi v2 getOrganizationField; cost 1)
@route("/api/v2/organizationFields/{field_code}")
def get_organization_field(emu, req):
    return _field_single(emu, req, "organizations")


# GET /api/v2/productFields/{field_code}  (openapi v2 getProductField; cost 1)
@route("/api/v2/productFields/{field_code}")
def get_product_field(emu, req):
    return _field_single(emu, req, "products")


# GET /api/v2/activityFields/{field_code}  (openapi v2 getActivityField; cost 1)
@route("/api/v2/activityFields/{field_code}")
def get_activity_field(emu, req):
    return _field_single(emu, req, "activities")


# ---- children ---------------------------------------------------------------------------------------------

def _parent(ds, entity, req) -> int:
    rid = _path_id(req)
    n = len(ds.users) if entity == "users" else ds.tables[entity].n
    if not 1 <= rid <= n:
        raise not_found()  # inferred: unknown parent -> 404 (soft-deleted parents still answer, §2.6)
    return rid


def _followers(emu, req, entity):
    p = params(req)
    with emu.ds.lock:
        rid = _parent(emu.ds, entity, req)
        items = emu.ds.followers(entity, rid)
    return page_list(items, p, "user_id", "asc", id_of=lambda it: it["user_id"])


# GET /api/v2/deals/{id}/followers  (openapi v2 getDealFollowers; CL-FOL)
@route("/api/v2/deals/{id}/followers")
def get_deal_followers(emu, req):
    return _followers(emu, req, "deals")


# GET /api/v2/persons/{id}/followers  (openapi v2 getPersonFollowers)
@route("/api/v2/persons/{id}/followers")
def get_person_followers(emu, req):
    return _followers(emu, req, "persons")


# GET /api/v2/organizations/{id}/followers  (openapi v2 getOrganizationFollowers)
@route("/api/v2/organizations/{id}/followers")
def get_organization_followers(emu, req):
    return _followers(emu, req, "organizations")


# GET /api/v2/products/{id}/followers  (openapi v2 getProductFollowers)
@route("/api/v2/products/{id}/followers")
def get_product_followers(emu, req):
    return _followers(emu, req, "products")


# GET /api/v2/users/{id}/followers  (openapi v2 getUserFollowers; scope users:read)
@route("/api/v2/users/{id}/followers")
def get_user_followers(emu, req):
    return _followers(emu, req, "users")


# GET /api/v2/products/{id}/variations  (openapi v2 getProductVariations)
@route("/api/v2/products/{id}/variations")
def get_product_variations(emu, req):
    p = params(req)
    with emu.ds.lock:
        rid = _parent(emu.ds, "products", req)
        items = emu.ds.variations(rid)
    return page_list(items, p)


# GET /api/v2/deals/{id}/products  (openapi v2 getDealProducts; §2.2 sort id/add_time/update_time/order_nr)
@route("/api/v2/deals/{id}/products")
def get_deal_products(emu, req):
    p = params(req)
    with emu.ds.lock:
        rid = _parent(emu.ds, "deals", req)
        items = emu.ds.deal_products(rid)
    return page_list(items, p, p.get("sort_by", "id"), p.get("sort_direction", "asc"))


# GET /api/v2/deals/products?deal_ids=  (openapi v2 getDealsProducts; ≤ 100 deal ids, MIG)
@route("/api/v2/deals/products")
def get_deals_products(emu, req):
    p = params(req)
    deal_ids = p["deal_ids"]
    if len(deal_ids) > 100:
        raise bad_request("Parameter 'deal_ids' accepts at most 100 ids")
    items = []
    with emu.ds.lock:
        n = emu.ds.tables["deals"].n
        for did in dict.fromkeys(deal_ids):  # unknown ids are silently omitted, like `ids` (§2.1)
            if 1 <= did <= n:
                items.extend(emu.ds.deal_products(did))
    return page_list(items, p, p.get("sort_by", "id"), p.get("sort_direction", "asc"))
