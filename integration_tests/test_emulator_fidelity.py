"""The emulator answers in the documented shapes: every implemented endpoint validates against the response schema
of Pipedrive's official OpenAPI files, carries every documented field, and charges the documented x-token-cost.

If any of these fail, the emulator drifted from ../shared/openapi or from pipedrive-api.md, and every connector test
built on it would be testing against a fiction.
"""
from __future__ import annotations

import sys
from pathlib import Path

import jsonschema
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `integration_tests` has no __init__.py

from integration_tests.emulator import Emulator  # noqa: E402
from integration_tests.emulator import gen_spec_tables, spec_tables  # noqa: E402

OPENAPI = gen_spec_tables.DEFAULT_OPENAPI_DIR
TOKEN = {"x-api-token": "test-token"}


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=7, scale=400) as e:
        yield e


@pytest.fixture(scope="module")
def http(emu):
    s = requests.Session()
    s.headers.update(TOKEN)
    return s


# ---- OpenAPI 3.0 -> JSON Schema ---------------------------------------------------------------------------

def _resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def to_json_schema(spec, node, extra_nullable=frozenset()):
    """`nullable: true` -> null allowed; allOf/oneOf kept (JSON Schema semantics); refs inlined.

    `extra_nullable` names properties where the docs imply null although the schema omits `nullable` (each one is
    justified in NULLABLE_BEYOND_SCHEMA below); everything else must match the schema's type exactly.
    """
    node = _resolve(spec, node)
    if isinstance(node, list):
        return [to_json_schema(spec, x, extra_nullable) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("example", "examples", "description", "title", "nullable", "format", "x-tool-description"):
            continue
        if key == "properties":
            out[key] = {}
            for name, sub in value.items():
                conv = to_json_schema(spec, sub, extra_nullable)
                out[key][name] = _nullable(conv) if name in extra_nullable else conv
        elif key in ("items", "additionalProperties", "allOf", "oneOf", "anyOf", "not"):
            out[key] = to_json_schema(spec, value, extra_nullable) if isinstance(value, (dict, list)) else value
        else:
            out[key] = value
    return _nullable(out) if node.get("nullable") else out


def _nullable(schema):
    if "type" in schema and "enum" not in schema and not any(k in schema for k in ("allOf", "oneOf", "anyOf")):
        t = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": t if "null" in t else t + ["null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _union_field_type_enums(schema):
    """v1 *Fields: the spec puts the createField *request* enum and the full Field enum in one allOf, whose
    intersection excludes types its own docs list for existing fields (stage, status, int...). Use the union."""
    found = []

    def collect(node):
        if isinstance(node, dict):
            ft = node.get("properties", {}).get("field_type")
            if ft is not None:
                found.append(ft)
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect(schema)
    union = set()
    for ft in found:
        for sub in [ft] + ft.get("allOf", []):
            union.update(sub.get("enum", []))
    for ft in found:
        ft.clear()
        ft.update({"type": "string", "enum": sorted(union)})
    return schema


# Properties the emulator sets to null although the schema lacks `nullable`: optional links, times of events that
# have not happened, unset optional attributes. Reasons are from pipedrive-api.md §2.4 / MIG (e.g. "null if not done").
_DEAL_NULLS = {"person_id", "org_id", "stage_change_time", "won_time", "lost_time", "expected_close_date"}
_ADDRESS_NULLS = {"subpremise", "sublocality", "admin_area_level_2"}
NULLABLE_BEYOND_SCHEMA = {
    "/deals": _DEAL_NULLS, "/deals/archived": _DEAL_NULLS, "/deals/{id}": _DEAL_NULLS,
    "/persons": {"org_id", "picture_id"}, "/persons/{id}": {"org_id", "picture_id"},
    "/organizations": {"address"} | _ADDRESS_NULLS, "/organizations/{id}": {"address"} | _ADDRESS_NULLS,
    "/activities": {"deal_id", "lead_id", "person_id", "org_id", "project_id", "due_time", "duration",
                    "marked_as_done_time", "location", "conference_meeting_client", "conference_meeting_url",
                    "conference_meeting_id", "public_description", "priority", "note", "user_id"} | _ADDRESS_NULLS,
    "/products": {"code", "description"}, "/products/{id}": {"code", "description"},
    "/dealFields": {"description"}, "/personFields": {"description"}, "/organizationFields": {"description"},
    "/productFields": {"description"}, "/activityFields": {"description"},
    "/notes": {"deal", "lead_id", "deal_id", "org_id", "organization", "person", "person_id", "project_id",
               "project", "task_id", "task", "icon_url"},
    "/callLogs": {"org_id", "deal_id", "lead_id"},
    "/files": {"deal_id", "person_id", "org_id", "product_id", "activity_id", "lead_id", "project_id", "remote_id"},
}
NULLABLE_BEYOND_SCHEMA["/activities/{id}"] = NULLABLE_BEYOND_SCHEMA["/activities"]

# (spec version, openapi path, concrete URL) for every implemented GET endpoint.
ENDPOINTS = [
    ("v2", "/deals", "/api/v2/deals?limit=500&status=open,won,lost,deleted"),
    ("v2", "/deals/archived", "/api/v2/deals/archived?limit=500"),
    ("v2", "/deals/{id}", "/api/v2/deals/3"),
    ("v2", "/persons", "/api/v2/persons?limit=500"),
    ("v2", "/persons/{id}", "/api/v2/persons/2"),
    ("v2", "/organizations", "/api/v2/organizations?limit=500"),
    ("v2", "/organizations/{id}", "/api/v2/organizations/2"),
    ("v2", "/activities", "/api/v2/activities?limit=500&include_fields=attendees"),
    ("v2", "/activities/{id}", "/api/v2/activities/2"),
    ("v2", "/products", "/api/v2/products?limit=500"),
    ("v2", "/products/{id}", "/api/v2/products/2"),
    ("v2", "/pipelines", "/api/v2/pipelines"),
    ("v2", "/stages", "/api/v2/stages?limit=500"),
    ("v2", "/dealFields", "/api/v2/dealFields?limit=500&include_fields=ui_visibility,important_fields,required_fields"),
    ("v2", "/personFields", "/api/v2/personFields?limit=500"),
    ("v2", "/organizationFields", "/api/v2/organizationFields?limit=500"),
    ("v2", "/productFields", "/api/v2/productFields?limit=500"),
    ("v2", "/activityFields", "/api/v2/activityFields?limit=500"),
    ("v2", "/deals/products", "/api/v2/deals/products?deal_ids=" + ",".join(str(i) for i in range(1, 101))),
    ("v2", "/deals/{id}/products", "/api/v2/deals/{deal_with_products}/products"),
    ("v2", "/deals/{id}/followers", "/api/v2/deals/1/followers"),
    ("v2", "/persons/{id}/followers", "/api/v2/persons/1/followers"),
    ("v2", "/organizations/{id}/followers", "/api/v2/organizations/1/followers"),
    ("v2", "/products/{id}/followers", "/api/v2/products/1/followers"),
    ("v2", "/users/{id}/followers", "/api/v2/users/1/followers"),
    ("v2", "/products/{id}/variations", "/api/v2/products/{product_with_variations}/variations"),
    ("v1", "/users", "/v1/users"),
    ("v1", "/users/me", "/v1/users/me"),
    ("v1", "/leads", "/v1/leads?limit=500"),
    ("v1", "/leads/archived", "/api/v1/leads/archived?limit=500"),
    ("v1", "/leadLabels", "/v1/leadLabels"),
    ("v1", "/leadSources", "/v1/leadSources"),
    ("v1", "/leadFields", "/v1/leadFields?limit=500"),
    ("v1", "/notes", "/v1/notes?limit=500"),
    ("v1", "/noteFields", "/v1/noteFields"),
    ("v1", "/activityTypes", "/v1/activityTypes"),
    ("v1", "/currencies", "/v1/currencies"),
    ("v1", "/dealFields", "/v1/dealFields?limit=500"),
    ("v1", "/filters", "/v1/filters"),
    ("v1", "/callLogs", "/v1/callLogs?limit=50"),
    ("v1", "/files", "/v1/files?limit=100"),
]

# Documented properties that only appear on request (include_fields), with an app (Contact Sync, marketing), or only
# when non-empty (options_deleted); everything else in the schema must be present on every record.
OPTIONAL = {"source_lead_id", "attendees", "postal_address", "notes", "im", "birthday", "job_title",
            "ui_visibility", "important_fields", "required_fields", "options_deleted", "subfields", "options"}


def _concrete(url, emu):
    ds = emu.ds
    deal = next(i for i in range(1, ds.tables["deals"].n + 1) if ds.tables["deals"].cols["n_products"][i - 1])
    product = next(i for i in range(1, ds.tables["products"].n + 1) if ds.tables["products"].cols["n_variations"][i - 1])
    url = url.format(deal_with_products=deal, product_with_variations=product)
    if url.endswith("/1/followers"):  # pick a parent that has followers, so there is something to validate
        entity = url.split("/")[3]
        parent = next(i for i in range(1, 200) if ds.followers(entity, i))
        url = url.replace("/1/followers", f"/{parent}/followers")
    return url


def _response_schema(specs, version, path):
    spec = specs[version]
    op = spec["paths"][path]["get"]
    content = _resolve(spec, op["responses"]["200"])["content"]["application/json"]
    # next_cursor: typed string, but its own description says it is null on the last page
    extra = NULLABLE_BEYOND_SCHEMA.get(path, set()) | {"next_cursor"}
    schema = to_json_schema(spec, content["schema"], extra)
    if version == "v1" and path.endswith("Fields"):
        schema = _union_field_type_enums(schema)
    return schema


def _props(schema) -> dict:
    """Properties declared at this level, merged across allOf/oneOf/anyOf branches."""
    out = dict(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            out.update(_props(sub))
    return out


def _record_props(schema) -> dict:
    data = _props(schema)["data"]
    data = next((b for b in data.get("anyOf", []) if b.get("type") != "null"), data)
    return _props(data.get("items", data) if "array" in str(data.get("type")) else data)


@pytest.mark.parametrize("version,path,url", ENDPOINTS, ids=[f"{v}:{p}" for v, p, _ in ENDPOINTS])
def test_response_validates_against_openapi_schema(specs, emu, http, version, path, url):
    resp = http.get(emu.base_url + _concrete(url, emu))
    assert resp.status_code == 200, resp.text[:300]
    body = resp.json()
    schema = _response_schema(specs, version, path)
    jsonschema.validate(body, schema)
    records = body["data"] if isinstance(body["data"], list) else [body["data"]]
    assert records, f"{url} returned no records to validate"
    # the schemas mark nothing as required, so check separately that every documented property is emitted
    documented = set(_record_props(schema)) - OPTIONAL
    for rec in records:
        assert not documented - set(rec), f"{url}: record {rec.get('id')} lacks {sorted(documented - set(rec))}"


def test_v2_list_envelope_has_next_cursor_and_v1_has_pagination(emu, http):
    v2 = http.get(emu.base_url + "/api/v2/deals?limit=2").json()
    assert set(v2) == {"success", "data", "additional_data"} and set(v2["additional_data"]) == {"next_cursor"}
    v1 = http.get(emu.base_url + "/v1/notes?limit=2").json()
    assert v1["additional_data"]["pagination"] == {"start": 0, "limit": 2, "more_items_in_collection": True,
                                                   "next_start": 2}


def test_frozen_spec_tables_match_the_openapi_files():
    fresh = gen_spec_tables.build(OPENAPI)
    assert fresh["COSTS"] == spec_tables.COSTS
    assert fresh["SCOPES"] == spec_tables.SCOPES
    assert fresh["V2_QUERY_PARAMS"] == spec_tables.V2_QUERY_PARAMS


@pytest.mark.parametrize("template,url", [
    ("/api/v2/deals", "/api/v2/deals"), ("/api/v2/deals/archived", "/api/v2/deals/archived"),
    ("/api/v2/deals/{id}", "/api/v2/deals/1"), ("/api/v2/pipelines", "/api/v2/pipelines"),
    ("/api/v2/stages", "/api/v2/stages"), ("/api/v2/dealFields", "/api/v2/dealFields"),
    ("/api/v2/deals/products", "/api/v2/deals/products?deal_ids=1"), ("/v1/leads", "/v1/leads"),
    ("/v1/leads/archived", "/api/v1/leads/archived"), ("/v1/leadSources", "/v1/leadSources"),
    ("/v1/leadLabels", "/v1/leadLabels"), ("/v1/users/me", "/v1/users/me"), ("/v1/notes", "/v1/notes"),
])
def test_each_request_charges_the_x_token_cost_of_its_operation(specs, emu, http, template, url):
    version = "v2" if template.startswith("/api/v2") else "v1"
    path = template[len("/api/v2"):] if version == "v2" else template[len("/v1"):]
    expected = specs[version]["paths"][path]["get"]["x-token-cost"]
    before = emu.stats()["tokens_by_path"].get(f"GET {template}", 0)
    assert http.get(emu.base_url + url).status_code == 200
    assert emu.stats()["tokens_by_path"][f"GET {template}"] - before == expected


def test_custom_field_values_have_the_v2_shape_of_their_field_type(emu, http):
    fields = http.get(emu.base_url + "/api/v2/dealFields?limit=500").json()["data"]
    custom = {f["field_code"]: f for f in fields if f["is_custom_field"]}
    assert all(len(k) == 40 and int(k, 16) >= 0 for k in custom)
    deals = http.get(emu.base_url + "/api/v2/deals?limit=500").json()["data"]
    seen_types, stale_option = set(), False
    for deal in deals:
        assert set(deal["custom_fields"]) == set(custom)  # inferred: unset fields are present as null
        for key, value in deal["custom_fields"].items():
            if value is None:
                continue
            f = custom[key]
            seen_types.add(f["field_type"])
            _assert_v2_shape(f, value)
            ids = {o["id"] for o in f["options"] or []}
            if f["field_type"] == "enum" and value not in ids or f["field_type"] == "set" and set(value) - ids:
                stale_option = True
    assert seen_types == {"varchar", "varchar_auto", "text", "phone", "double", "monetary", "enum", "set", "date",
                          "daterange", "time", "timerange", "address", "user", "org", "people"}
    assert stale_option, "some records should still carry an option id that was deleted from the field"


def _assert_v2_shape(field, value):
    t = field["field_type"]
    if t in ("varchar", "varchar_auto", "text", "phone"):
        assert isinstance(value, str)
    elif t == "double":
        assert isinstance(value, (int, float))
    elif t == "monetary":
        assert set(value) == {"value", "currency"} and isinstance(value["value"], (int, float))
    elif t == "enum" or t in ("user", "org", "people"):
        assert isinstance(value, int) and not isinstance(value, bool)
    elif t == "set":
        assert isinstance(value, list) and value and all(isinstance(x, int) for x in value)
    elif t == "date":
        assert len(value) == 10 and value[4] == "-"
    elif t == "daterange":
        assert set(value) == {"value", "until"}
    elif t == "time":
        assert set(value) == {"value", "timezone_id", "timezone_name"}
    elif t == "timerange":
        assert set(value) == {"value", "until", "timezone_id", "timezone_name"}
    elif t == "address":
        assert {"value", "route", "street_number", "locality", "country", "postal_code",
                "formatted_address"} <= set(value)


def test_include_option_labels_turns_enum_and_set_ids_into_id_label_objects(emu, http):
    fields = {f["field_code"]: f for f in http.get(emu.base_url + "/api/v2/dealFields?limit=500").json()["data"]}
    plain = http.get(emu.base_url + "/api/v2/deals?limit=50").json()["data"]
    labelled = http.get(emu.base_url + "/api/v2/deals?limit=50&include_option_labels=true").json()["data"]
    checked = 0
    for a, b in zip(plain, labelled):
        for key, value in a["custom_fields"].items():
            t = fields[key]["field_type"]
            if value is None or t not in ("enum", "set"):
                assert b["custom_fields"][key] == value
                continue
            labels = {o["id"]: o["label"] for o in fields[key]["options"]}
            expected = ({"id": value, "label": labels.get(value)} if t == "enum"
                        else [{"id": v, "label": labels.get(v)} for v in value])
            assert b["custom_fields"][key] == expected
            checked += 1
    assert checked > 10


def test_builtin_options_have_string_ids_and_custom_options_integer_ids(emu, http):
    fields = http.get(emu.base_url + "/api/v2/dealFields?limit=500").json()["data"]
    builtin = [o for f in fields if not f["is_custom_field"] for o in f["options"] or []]
    custom = [o for f in fields if f["is_custom_field"] for o in f["options"] or []]
    assert builtin and all(isinstance(o["id"], str) for o in builtin)
    assert custom and all(isinstance(o["id"], int) for o in custom)


def test_field_names_collide_after_slugging_and_use_non_ascii(emu, http):
    names = [f["field_name"] for f in http.get(emu.base_url + "/api/v2/dealFields?limit=500").json()["data"]]
    assert {"Région", "Region", "Deal size", "Deal Size!", "Бюджет", "優先度"} <= set(names)
    assert names.count("Value") == 2  # the built-in monetary `value` and a custom field called "Value"


def test_activities_carry_no_custom_fields_although_activity_fields_lists_one(emu, http):
    acts = http.get(emu.base_url + "/api/v2/activities?limit=20").json()["data"]
    assert all("custom_fields" not in a for a in acts)
    fields = http.get(emu.base_url + "/api/v2/activityFields").json()["data"]
    assert any(f["is_custom_field"] for f in fields)


def test_leads_carry_deal_custom_fields_flat_in_v1_format_and_omit_unset_ones(emu, http):
    custom = {f.key: f for f in emu.ds.custom["deals"]}
    leads = http.get(emu.base_url + "/v1/leads?limit=100").json()["data"]
    kinds = set()
    for lead in leads:
        assert "custom_fields" not in lead
        for key, f in custom.items():
            if key not in lead:
                continue
            value = lead[key]
            assert value is not None
            kinds.add(f.type)
            if f.type == "monetary":
                assert isinstance(value, (int, float)) and isinstance(lead[key + "_currency"], str)
            elif f.type == "enum":
                assert isinstance(value, str) and value.isdigit()
            elif f.type == "set":
                assert isinstance(value, str) and all(x.isdigit() for x in value.split(","))
            elif f.type in ("daterange", "timerange"):
                assert key + "_until" in lead
            elif f.type == "address":
                assert isinstance(value, str) and key + "_locality" in lead
        assert lead["add_time"].endswith("Z") and lead["add_time"][19] == "."  # milliseconds (§3.2)
    assert {"monetary", "enum", "set", "daterange", "address"} <= kinds


def test_v1_field_lists_expose_deleted_options_separately(emu, http):
    fields = http.get(emu.base_url + "/v1/dealFields?limit=500").json()["data"]
    with_deleted = [f for f in fields if f.get("options_deleted")]
    assert with_deleted
    for f in with_deleted:
        assert not {o["id"] for o in f["options_deleted"]} & {o["id"] for o in f["options"]}


def test_timestamps_use_the_format_of_their_api_version(emu, http):
    deal = http.get(emu.base_url + "/api/v2/deals/1").json()["data"]
    assert len(deal["update_time"]) == 20 and deal["update_time"].endswith("Z") and "T" in deal["update_time"]
    note = http.get(emu.base_url + "/v1/notes?limit=1").json()["data"][0]
    assert len(note["update_time"]) == 19 and note["update_time"][10] == " "
