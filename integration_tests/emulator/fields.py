"""Field metadata: built-in and custom fields per entity, custom-field value generation and v1/v2 value shapes.

Custom field types are the 16 creatable ones (openapi v2 addDealField `field_type` enum; CF doc "16 different field
types"): varchar, varchar_auto, text, phone, double, monetary, enum, set, date, daterange, time, timerange, address,
user, org, people. `int` and `boolean` only exist as built-in field types (v2 field_type enum), so they appear on
built-in fields only (inferred: the docs offer no way to create such a custom field).
"""
from __future__ import annotations

import hashlib

from .common import date_str, v1_time, v2_time

ADDRESS_PARTS = (
    "street_number", "route", "subpremise", "sublocality", "locality",
    "admin_area_level_1", "admin_area_level_2", "country", "postal_code", "formatted_address",
)
TIMEZONES = ((1, "Europe/Tallinn"), (2, "Europe/Berlin"), (3, "America/New_York"), (4, "Asia/Tokyo"))
OPTION_COLORS = (None, "green", "yellow", "red", "blue")

# (name, field_type, option labels) -- names collide after slugging on purpose ("Région"/"Region",
# "Deal size"/"Deal Size!", "Value"/"Name"/"Address"/"Code" vs built-ins) and cover non-ASCII scripts.
_COMMON = [
    ("Region", "varchar", None),
    ("Région", "enum", ["Nord", "Süd", "Île-de-France", "Москва", "東京"]),
    ("Deal size", "double", None),
    ("Deal Size!", "monetary", None),
    ("Lead source detail", "varchar_auto", None),
    ("Notes (long)", "text", None),
    ("Hotline", "phone", None),
    ("Produkte", "set", ["Größe S", "Größe M", "Größe L", "Премиум", "标准", "🚀 Launch"]),
    ("Go-live date", "date", None),
    ("Contract period", "daterange", None),
    ("Call slot", "time", None),
    ("Office hours", "timerange", None),
    ("Billing address", "address", None),
    ("Account manager", "user", None),
    ("Partner org", "org", None),
    ("Champion", "people", None),
    ("Бюджет", "double", None),
    ("優先度", "enum", ["高", "中", "低"]),
    ("Stimmung 🎯", "varchar", None),
]
_COLLIDING_BUILTIN = {"deals": "Value", "persons": "Name", "organizations": "Address", "products": "Code"}
CUSTOM_ENTITIES = ("deals", "persons", "organizations", "products")

# Built-in fields: (field_code, field_name, field_type, options). Built-in option ids are STRINGS (PHP-CL 17.3.1,
# pipedrive-api.md §3.1). Lists are inferred from the v2 object shapes (§2.4) and the openapi Fields examples.
_VIS = [("1", "Owner & followers"), ("3", "Entire company"), ("5", "Owner's visibility group"), ("7", "Owner's visibility group and sub-groups")]
BUILTIN = {
    "deals": [
        ("id", "ID", "int", None),
        ("title", "Deal Title", "varchar", None),
        ("creator_user_id", "Creator", "user", None),
        ("owner_id", "Owner", "user", None),
        ("value", "Value", "monetary", None),
        ("person_id", "Contact person", "people", None),
        ("org_id", "Organization", "org", None),
        ("pipeline_id", "Pipeline", "int", None),
        ("stage_id", "Stage", "stage", None),
        ("status", "Status", "status", [("open", "Open"), ("won", "Won"), ("lost", "Lost"), ("deleted", "Deleted")]),
        ("probability", "Probability", "double", None),
        ("lost_reason", "Lost reason", "varchar_options", None),
        ("visible_to", "Visible to", "visible_to", _VIS),
        ("add_time", "Deal created", "date", None),
        ("update_time", "Update time", "date", None),
        ("stage_change_time", "Last stage change", "date", None),
        ("close_time", "Deal closed on", "date", None),
        ("won_time", "Won time", "date", None),
        ("lost_time", "Lost time", "date", None),
        ("expected_close_date", "Expected close date", "date", None),
        ("label_ids", "Label", "set", [("1", "Hot"), ("2", "Warm"), ("3", "Cold")]),
        ("is_archived", "Archived", "boolean", None),
        ("archive_time", "Archive time", "date", None),
        ("origin", "Source origin", "varchar", None),
        ("channel", "Source channel", "enum", [("52", "Billboards"), ("53", "Newsletter"), ("54", "Социальные сети")]),
        ("channel_id", "Source channel ID", "varchar", None),
    ],
    "persons": [
        ("id", "ID", "int", None),
        ("name", "Name", "varchar", None),
        ("first_name", "First name", "varchar", None),
        ("last_name", "Last name", "varchar", None),
        ("owner_id", "Owner", "user", None),
        ("org_id", "Organization", "org", None),
        ("emails", "Email", "varchar", None),
        ("phones", "Phone", "phone", None),
        ("label_ids", "Labels", "set", [("1", "Customer"), ("2", "Hot lead"), ("3", "Kalt")]),
        ("visible_to", "Visible to", "visible_to", _VIS),
        ("picture_id", "Profile picture", "picture", None),
        ("add_time", "Person created", "date", None),
        ("update_time", "Update time", "date", None),
    ],
    "organizations": [
        ("id", "ID", "int", None),
        ("name", "Name", "varchar", None),
        ("owner_id", "Owner", "user", None),
        ("address", "Address", "address", None),
        ("label_ids", "Labels", "set", [("1", "Customer"), ("2", "Partner"), ("3", "Konkurrent")]),
        ("visible_to", "Visible to", "visible_to", _VIS),
        ("website", "Website", "varchar", None),
        ("linkedin", "LinkedIn profile", "varchar", None),
        ("industry", "Industry", "enum", [("1", "IT"), ("2", "Finance"), ("3", "Fertigung")]),
        ("annual_revenue", "Annual revenue", "int", None),
        ("employee_count", "Number of employees", "int", None),
        ("add_time", "Organization created", "date", None),
        ("update_time", "Update time", "date", None),
    ],
    "products": [
        ("id", "ID", "int", None),
        ("name", "Name", "varchar", None),
        ("code", "Product code", "varchar", None),
        ("description", "Description", "text", None),
        ("unit", "Unit", "varchar", None),
        ("tax", "Tax", "double", None),
        ("category", "Category", "enum", [("1", "Software"), ("2", "Hardware"), ("3", "Dienstleistung")]),
        ("is_linkable", "Linkable", "boolean", None),
        ("owner_id", "Owner", "user", None),
        ("visible_to", "Visible to", "visible_to", _VIS),
        ("prices", "Unit prices", "price_list", None),
        ("billing_frequency", "Billing frequency", "billing_frequency", None),
        ("add_time", "Product created", "date", None),
        ("update_time", "Update time", "date", None),
    ],
    "activities": [
        ("id", "ID", "int", None),
        ("subject", "Subject", "varchar", None),
        ("type", "Type", "varchar_options", None),
        ("owner_id", "Assigned to user", "user", None),
        ("deal_id", "Deal", "deal", None),
        ("lead_id", "Lead", "lead", None),
        ("person_id", "Contact person", "people", None),
        ("org_id", "Organization", "org", None),
        ("project_id", "Project", "project", None),
        ("due_date", "Due date", "date", None),
        ("due_time", "Due time", "time", None),
        ("duration", "Duration", "time", None),
        ("busy", "Free/busy", "boolean", None),
        ("done", "Done", "boolean", None),
        ("location", "Location", "address", None),
        ("public_description", "Public description", "text", None),
        ("note", "Note", "text", None),
        ("add_time", "Add time", "date", None),
        ("update_time", "Update time", "date", None),
    ],
}
_SINGULAR = {"deals": "deal", "persons": "person", "organizations": "organization", "products": "product",
             "activities": "activity"}
_SUBFIELD_NAMES = {
    "street_number": "House number", "route": "Street/road name", "subpremise": "Apartment/suite",
    "sublocality": "Sublocality", "locality": "District", "admin_area_level_1": "State/province",
    "admin_area_level_2": "County", "country": "Country", "postal_code": "Postal code",
    "formatted_address": "Formatted address",
}


def v2_subfields(field_type: str, name: str):
    # Shapes follow the openapi getDealFields / getActivityFields examples (value/currency, address parts).
    if field_type == "monetary":
        return [{"field_code": "value", "field_name": f"Amount of {name}", "field_type": "double"},
                {"field_code": "currency", "field_name": f"Currency of {name}", "field_type": "varchar"}]
    if field_type in ("daterange", "timerange"):
        sub = "date" if field_type == "daterange" else "time"
        return [{"field_code": "value", "field_name": f"Start of {name}", "field_type": sub},
                {"field_code": "until", "field_name": f"End of {name}", "field_type": sub}]
    if field_type == "address":
        return [{"field_code": "value", "field_name": f"Address value of {name}", "field_type": "varchar"}] + [
            {"field_code": p, "field_name": f"{_SUBFIELD_NAMES[p]} of {name}", "field_type": "varchar"}
            for p in ADDRESS_PARTS if p != "sublocality"
        ]
    return None


class CustomField:
    __slots__ = ("key", "name", "type", "options", "deleted_options", "order", "add_time", "update_time")

    def __init__(self, key, name, ftype, options, deleted_options, order, add_time, update_time=None):
        self.key, self.name, self.type = key, name, ftype
        self.options = options  # list of (int id, label, color)
        self.deleted_options = deleted_options  # options removed from the field but still on old records
        # order: position at creation -- also fixes the v1 id, which a later deletion must not shift (inferred)
        self.order, self.add_time = order, add_time
        self.update_time = update_time if update_time is not None else add_time


def build_custom_fields(seed: int, entity: str, id_base: int, start_ts: int) -> list:
    defs = list(_COMMON) + [(_COLLIDING_BUILTIN[entity], "varchar", None)]
    out, next_option = [], id_base
    for order, (name, ftype, labels) in enumerate(defs):
        # 40 hex chars, stable per (seed, entity, name), like Pipedrive's per-account random hashes (§2.5)
        key = hashlib.sha1(f"{seed}:{entity}:{name}".encode()).hexdigest()
        options, deleted = None, []
        if labels:
            options = []
            for j, label in enumerate(labels):
                options.append((next_option, label, OPTION_COLORS[j % len(OPTION_COLORS)]))
                next_option += 1
            # one option per options field was deleted after records used it (v1 exposes it as options_deleted)
            deleted = [(next_option, "Veraltet ✝", None)]
            next_option += 1
        out.append(CustomField(key, name, ftype, options, deleted, order, start_ts + 86400 * (order + 1)))
    return out


# ---- values -----------------------------------------------------------------------------------------------

_TEXTS = ("Ja", "Nein", "Très bien", "Grüße aus München", "Привет", "你好世界", "ok 👍", "n/a", "Straße 5", "Åland")
_AUTO = ("Messe Berlin", "Website", "Cold call", "Партнёр", "展示会")
_STREETS = (("Hauptstraße", "Berlin", "DE", "Berlin"), ("Rue de la Paix", "Paris", "FR", "Île-de-France"),
            ("Тверская улица", "Москва", "RU", "Москва"), ("銀座", "東京", "JP", "東京都"),
            ("Main St", "Sunnyvale", "US", "CA"))


def address_value(r) -> dict:
    rnd = r.random
    street, city, country, area = _STREETS[int(rnd() * len(_STREETS))]
    num = str(1 + int(rnd() * 250))
    postal = str(10000 + int(rnd() * 90000))
    formatted = f"{street} {num}, {postal} {city}, {country}"
    return {"value": formatted, "street_number": num, "route": street, "subpremise": None,
            "sublocality": None, "locality": city, "admin_area_level_1": area, "admin_area_level_2": None,
            "country": country, "postal_code": postal, "formatted_address": formatted}


def custom_value(r, f: CustomField, ctx):
    """A v2-shaped value (pipedrive-api.md §2.5 left column); None means unset.

    Uses r.random() arithmetic instead of choice/randint: this runs ~20 times per record on the cold path.
    """
    rnd = r.random
    if rnd() < 0.3:
        return None
    pool = ctx.pools.get(f.key)
    if pool is not None:  # composite values come from a per-field pool: fewer allocations on the cold path
        return pool[int(rnd() * len(pool))]
    return fresh_value(r, f, ctx)


POOLED_TYPES = ("phone", "monetary", "daterange", "time", "timerange", "address")


def fresh_value(r, f: CustomField, ctx):
    rnd = r.random
    t = f.type
    if t == "varchar":
        return _TEXTS[int(rnd() * 10)]
    if t == "text":
        return "\n".join((_TEXTS[int(rnd() * 10)], _TEXTS[int(rnd() * 10)], _TEXTS[int(rnd() * 10)]))
    if t == "varchar_auto":
        return _AUTO[int(rnd() * 5)]
    if t == "phone":
        return f"+{1 + int(rnd() * 99)} {100 + int(rnd() * 900)} {1000000 + int(rnd() * 9000000)}"
    if t == "double":
        return round(rnd() * 100000, 2)
    if t == "monetary":
        return {"value": round(rnd() * 100000, 2), "currency": ctx.currency_codes[int(rnd() * 5)]}
    if t == "enum":
        if rnd() < 0.05:
            return f.deleted_options[0][0]
        return f.options[int(rnd() * len(f.options))][0]
    if t == "set":
        n = len(f.options)
        ids = sorted({f.options[int(rnd() * n)][0] for _ in range(1 + int(rnd() * 3))})
        if rnd() < 0.05:
            ids.append(f.deleted_options[0][0])
        return ids
    if t == "date":
        return day_str(ctx.start // 86400 + int(rnd() * (ctx.span // 86400)))
    if t == "daterange":
        a = ctx.start // 86400 + int(rnd() * (ctx.span // 86400))
        return {"value": day_str(a), "until": day_str(a + 1 + int(rnd() * 400))}
    if t in ("time", "timerange"):
        tz_id, tz_name = TIMEZONES[int(rnd() * 4)]
        h = 6 + int(rnd() * 13)
        v = {"value": f"{h:02d}:{(0, 15, 30, 45)[int(rnd() * 4)]:02d}:00"}
        if t == "timerange":
            v["until"] = f"{h + 1 + int(rnd() * 4):02d}:00:00"
        v["timezone_id"], v["timezone_name"] = tz_id, tz_name
        return v
    if t == "address":
        return address_value(r)
    if t == "user":
        return 1 + int(rnd() * ctx.n_users)
    if t == "org":
        return 1 + int(rnd() * ctx.n_orgs)
    if t == "people":
        return 1 + int(rnd() * ctx.n_persons)
    raise ValueError(t)


_DAY_CACHE: dict = {}


def day_str(day: int) -> str:
    """YYYY-MM-DD for a day number since the epoch (memoised: date formatting is hot on the cold path)."""
    s = _DAY_CACHE.get(day)
    if s is None:
        s = _DAY_CACHE[day] = date_str(day * 86400)
    return s


def with_option_labels(custom: dict, fields_by_key: dict) -> dict:
    """include_option_labels=true: enum/set ids become {id, label}; a deleted option keeps label null (inferred)."""
    out = dict(custom)
    for key, value in custom.items():
        f = fields_by_key.get(key)
        if value is None or f is None or f.type not in ("enum", "set"):
            continue
        labels = {o[0]: o[1] for o in f.options}
        if f.type == "enum":
            out[key] = {"id": value, "label": labels.get(value)}
        else:
            out[key] = [{"id": v, "label": labels.get(v)} for v in value]
    return out


def to_v1_flat(custom: dict, fields: list) -> dict:
    """v1 representation at record root (§2.5 right column); unset fields are omitted, as /v1/leads documents."""
    out = {}
    for f in fields:
        v = custom.get(f.key)
        if v is None:
            continue
        k, t = f.key, f.type
        if t == "monetary":
            out[k], out[k + "_currency"] = v["value"], v["currency"]
        elif t == "enum":
            out[k] = str(v)
        elif t == "set":
            out[k] = ",".join(str(x) for x in v)
        elif t in ("daterange", "timerange"):
            out[k], out[k + "_until"] = v["value"], v["until"]
        elif t == "time":
            out[k] = v["value"]
        elif t == "address":
            out[k] = v["value"]
            for part in ADDRESS_PARTS:
                out[f"{k}_{part}"] = v[part]
        else:
            out[k] = v
    return out


# ---- field metadata documents -----------------------------------------------------------------------------

def _opt_v2(o, ts):
    return {"id": o[0], "label": o[1], "color": o[2], "add_time": v2_time(ts), "update_time": v2_time(ts)}


def v2_field_items(entity: str, custom: list) -> list:
    """Items of GET /api/v2/{entity}Fields (openapi v2 getDealFields schema). Built-ins first (inferred order)."""
    items = []
    for code, name, ftype, options in BUILTIN[entity]:
        items.append({
            "field_name": name, "field_code": code, "description": f"{name} of the {_SINGULAR[entity]}", "field_type": ftype,
            "options": [{"id": oid, "label": lab, "color": None, "add_time": None, "update_time": None}
                        for oid, lab in options] if options else None,
            "subfields": v2_subfields(ftype, name), "is_custom_field": False, "is_optional_response_field": False,
        })
    for f in custom:
        items.append({
            "field_name": f.name, "field_code": f.key, "description": None, "field_type": f.type,
            "options": [_opt_v2(o, f.add_time) for o in f.options] if f.options else None,
            "subfields": v2_subfields(f.type, f.name), "is_custom_field": True, "is_optional_response_field": False,
        })
    return items


def v2_field_extras(item: dict, wanted: set) -> dict:
    # include_fields namespaces (openapi v2 getDealFields: ui_visibility / important_fields / required_fields)
    item = dict(item)
    if "ui_visibility" in wanted:
        item["ui_visibility"] = {"add_visible_flag": True, "details_visible_flag": True,
                                 "projects_detail_visible_flag": False,
                                 "show_in_pipelines": {"show_in_all": True, "pipeline_ids": []}}
    if "important_fields" in wanted:
        item["important_fields"] = {"enabled": False, "stage_ids": []}
    if "required_fields" in wanted:
        item["required_fields"] = {"enabled": False, "stage_ids": [], "statuses": {}}
    return item


_V1_TYPE = {"stage": "stage", "status": "status", "int": "int", "boolean": "boolean", "picture": "picture",
            "price_list": "price_list", "billing_frequency": "billing_frequency", "deal": "deal", "lead": "lead",
            "project": "project"}


def v1_subfields(f: CustomField):
    """Flat v1 sub-keys of a composite custom field (DealFields tag text: `<key>_currency` etc.); inferred shape."""
    if f.type == "monetary":
        parts = [("currency", "Currency", "varchar")]
    elif f.type in ("daterange", "timerange"):
        parts = [("until", "End", "date" if f.type == "daterange" else "time")]
    elif f.type == "address":
        parts = [(p, _SUBFIELD_NAMES[p], "varchar") for p in ADDRESS_PARTS]
    else:
        return None
    return [{"key": f"{f.key}_{suffix}", "name": f"{label} of {f.name}", "field_type": ftype}
            for suffix, label, ftype in parts]


def v1_field_items(builtins: list, custom: list, start_ts: int, id_offset: int = 0) -> list:
    """Items of GET /v1/{entity}Fields (openapi v1 GetField schema, §3.2); `options_deleted` only when non-empty."""
    items, fid = [], id_offset
    for code, name, ftype, options in builtins:
        fid += 1
        items.append(_v1_item(fid, code, name, _V1_TYPE.get(ftype, ftype), start_ts, False,
                              [{"id": oid, "label": lab} for oid, lab in options] if options else None, None))
    n_builtin = fid
    for f in custom:
        fid = n_builtin + f.order + 1  # stable: deleting a field leaves the other ids as they were
        opts = [{"id": o[0], "label": o[1]} for o in f.options] if f.options else None
        deleted = [{"id": o[0], "label": o[1]} for o in f.deleted_options] or None
        item = _v1_item(fid, f.key, f.name, f.type, f.add_time, True, opts, deleted)
        item["update_time"] = v1_time(f.update_time)
        sub = v1_subfields(f)
        if sub:
            item["subfields"] = sub
        items.append(item)
    return items


def _v1_item(fid, key, name, ftype, ts, custom, options, options_deleted):
    item = {
        "id": fid, "key": key, "name": name, "order_nr": fid, "field_type": ftype,
        "add_time": v1_time(ts), "update_time": v1_time(ts), "last_updated_by_user_id": 1 if custom else None,
        "created_by_user_id": 1 if custom else None, "active_flag": True, "edit_flag": custom,
        "index_visible_flag": True, "details_visible_flag": True, "add_visible_flag": True, "important_flag": False,
        "bulk_edit_allowed": True, "searchable_flag": ftype in ("varchar", "text", "phone"),
        "filtering_allowed": True, "sortable_flag": True, "mandatory_flag": key == "title", "options": options,
        "is_subfield": False,
    }
    if options_deleted:
        item["options_deleted"] = options_deleted
    return item
