"""The installed `source-pipedrive` command against the emulator over real HTTP: spec, check, discover, read.

A full read must return every record the API lists exactly once, typed as discover says; an incremental read after
changes must return every changed record. Truth comes from the emulator's own store, never from the connector.
"""

from datetime import datetime, timezone

import jsonschema
import pytest
import requests

from integration_tests.connector import configured_catalog, run
from integration_tests.emulator import Emulator

TOKEN = "e2e-secret-token-5b8d21c4"


def not_deleted(record):
    return not record.get("is_deleted")


# Which records each stream must return, by Pipedrive's documented list rules (pipedrive-api.md §2.6):
# lists leave out deleted records, and since 2025-07 deals and leads lists leave out archived ones. Deals are the
# exception the connector uses: asked with status=...,deleted they include deleted deals, so deletes reach the
# destination.
VISIBLE = {
    "deals": ("deals", lambda r: not r["is_archived"]),
    "deals_archived": ("deals", lambda r: r["is_archived"]),
    "persons": ("persons", not_deleted),
    "organizations": ("organizations", not_deleted),
    "activities": ("activities", not_deleted),
    "products": ("products", not_deleted),
    "pipelines": ("pipelines", not_deleted),
    "stages": ("stages", not_deleted),
    "leads": ("leads", lambda r: not_deleted(r) and not r["is_archived"]),
    "leads_archived": ("leads", lambda r: not_deleted(r) and r["is_archived"]),
    "notes": ("notes", not_deleted),
    "users": ("users", lambda r: True),
}


# The core data sets and everything read without one request per parent; per-parent children are checked on a
# smaller company in test_catalogue_end_to_end.py.
STREAMS = sorted(set(VISIBLE) | {
    "deal_products", "product_variations", "deal_fields", "person_fields", "organization_fields", "product_fields",
    "activity_fields", "activity_types", "currencies", "filters", "files", "call_logs", "lead_labels", "lead_sources",
    "lead_fields", "note_fields",
})


@pytest.fixture(scope="module")
def emulator():
    with Emulator(seed=11, scale=700, api_tokens=(TOKEN,)) as emu:
        yield emu


@pytest.fixture(scope="module")
def config(emulator):
    return {"credentials": {"auth_type": "api_token", "api_token": TOKEN}, "api_domain": emulator.base_url}


@pytest.fixture(scope="module")
def outputs():
    """Every run of this module, so the last test can scan all of them for the secret."""
    return []


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, config, outputs):
    result = run(tmp_path_factory.mktemp("discover"), "discover", config)
    outputs.append(result)
    assert result.returncode == 0, result.stdout[-2000:]
    return result.of_type("CATALOG")[0]


@pytest.fixture(scope="module")
def full_read(tmp_path_factory, config, catalog, outputs, emulator):
    emulator.reset_stats()
    result = run(tmp_path_factory.mktemp("read"), "read", config, configured_catalog(catalog, streams=STREAMS))
    outputs.append(result)
    assert result.returncode == 0 and not result.errors(), result.errors() or result.stderr[-2000:]
    result.api_stats = emulator.stats()
    return result


def test_spec_names_every_secret(tmp_path, outputs):
    result = run(tmp_path, "spec")
    outputs.append(result)
    spec = result.of_type("SPEC")[0]["spec"]["connectionSpecification"]
    token_option = spec["properties"]["credentials"]["oneOf"][0]
    assert token_option["properties"]["api_token"]["airbyte_secret"] is True


def test_check_succeeds_with_the_right_token(tmp_path, config, outputs):
    result = run(tmp_path, "check", config)
    outputs.append(result)
    assert result.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "SUCCEEDED"


def test_check_fails_with_a_readable_message_for_a_wrong_token(tmp_path, config, outputs):
    result = run(tmp_path, "check", {**config, "credentials": {"auth_type": "api_token", "api_token": "wrong"}})
    outputs.append(result)
    status = result.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED"
    assert "Pipedrive rejected the credentials (unauthorized access)" in status["message"]


def test_discover_lists_every_stream_with_a_primary_key(catalog):
    streams = {s["name"]: s for s in catalog["catalog"]["streams"]}
    assert set(VISIBLE) <= set(streams)
    assert all(s.get("source_defined_primary_key") for s in streams.values())
    assert "incremental" in streams["deals"]["supported_sync_modes"]
    assert streams["deals"]["default_cursor_field"] == ["update_time"]


@pytest.mark.parametrize("stream", sorted(VISIBLE))
def test_a_full_read_returns_every_listed_record_exactly_once(stream, full_read, emulator):
    entity, visible = VISIBLE[stream]
    expected = sorted(str(r["id"]) for r in emulator.truth(entity).values() if visible(r))
    got = sorted(str(r["id"]) for r in full_read.records(stream))
    assert expected, f"the emulator lists no {stream}: the comparison would prove nothing"
    assert got == expected


def test_deal_products_cover_every_deal_through_the_batch_endpoint(full_read, emulator):
    deals = [d for d in emulator.truth("deals").values() if not d["is_deleted"]]
    expected = sorted((p["deal_id"], p["id"]) for d in deals for p in emulator.ds.deal_products(d["id"]))
    got = sorted((r["deal_id"], r["id"]) for r in full_read.records("deal_products"))
    assert expected and got == expected
    # 100 deals a request (plus pages of 500 products), never one request per deal.
    batches = full_read.api_stats["requests"]["GET /api/v2/deals/products"]
    assert batches <= len(deals) // 100 + 2 + len(expected) // 500


def test_product_variations_cover_every_product(full_read, emulator):
    products = [p for p in emulator.truth("products").values() if not p["is_deleted"]]
    expected = sorted(v["id"] for p in products for v in emulator.ds.variations(p["id"]))
    assert expected and sorted(r["id"] for r in full_read.records("product_variations")) == expected


def test_deleted_deals_and_only_they_carry_the_cdc_deletion_mark(full_read, emulator):
    truth = emulator.truth("deals")
    marked = {r["id"] for r in full_read.records("deals") + full_read.records("deals_archived")
              if r.get("_ab_cdc_deleted_at")}
    assert marked == {i for i, d in truth.items() if d["is_deleted"]}
    assert marked, "the emulator has no deleted deal: the test would prove nothing"


def test_every_record_matches_the_discovered_schema(full_read, catalog):
    schemas = {s["name"]: s["json_schema"] for s in catalog["catalog"]["streams"]}
    for message in full_read.of_type("RECORD"):
        jsonschema.validate(message["record"]["data"], schemas[message["record"]["stream"]])


def _v1_raw(record, code, field_type):
    """A lead's custom value (v1: flat at the root, enum ids as strings, sets as comma strings) in v2 shape."""
    value = record.get(code)
    if value is None:
        return None
    if field_type == "monetary":
        return {"value": value, "currency": record.get(f"{code}_currency")}
    if field_type in ("daterange", "timerange"):
        return {"value": value, "until": record.get(f"{code}_until")}
    if field_type == "enum":
        return int(value)
    if field_type == "set":
        return [int(v) for v in str(value).split(",") if v]
    return value


CUSTOM_FIELD_STREAMS = {
    # stream: (fields endpoint, truth entity, API version of the records)
    "deals": ("dealFields", "deals", "v2"),
    "persons": ("personFields", "persons", "v2"),
    "organizations": ("organizationFields", "organizations", "v2"),
    "products": ("productFields", "products", "v2"),
    "leads": ("dealFields", "leads", "v1"),
}


@pytest.mark.parametrize("stream", sorted(CUSTOM_FIELD_STREAMS))
def test_custom_fields_arrive_as_labelled_columns_that_match_the_raw_api_data(stream, full_read, catalog, emulator):
    endpoint, entity, version = CUSTOM_FIELD_STREAMS[stream]
    fields = requests.get(f"{emulator.base_url}/api/v2/{endpoint}", params={"limit": 500},
                          headers={"x-api-token": TOKEN}).json()["data"]
    properties = next(s for s in catalog["catalog"]["streams"] if s["name"] == stream)["json_schema"]["properties"]
    custom = [f for f in fields if f["is_custom_field"]]
    column = {}
    for f in custom:
        # The column whose description names the field's key; its sub-columns name it too, so take the shortest.
        named = [name for name, prop in properties.items() if f"key {f['field_code']}," in prop.get("description", "")]
        assert named, f"{stream}: no column for custom field {f['field_name']!r}"
        column[f["field_code"]] = min(named, key=len)
    truth = emulator.truth(entity)
    checked = set()
    for record in full_read.records(stream):
        raw_record = truth[record["id"]]
        for f in custom:
            code, kind = f["field_code"], f["field_type"]
            value = _v1_raw(raw_record, code, kind) if version == "v1" else raw_record["custom_fields"].get(code)
            out = record.get(column[code])
            labels = {o["id"]: o["label"] for o in f.get("options") or []}
            if value is None:
                assert out is None, (stream, f["field_name"])
                continue
            checked.add(kind)
            if kind in ("varchar", "varchar_auto", "text", "phone", "double", "date") or (
                    version == "v2" and kind in ("int", "user", "org", "people")):
                assert out == value, (stream, f["field_name"])
            elif kind == "enum":
                assert out == labels.get(value, str(value)), (stream, f["field_name"])
            elif kind == "set":
                assert out == [labels.get(v, str(v)) for v in value], (stream, f["field_name"])
            elif kind == "monetary":
                assert (out, record.get(column[code] + "_currency")) == (value["value"], value["currency"])
            elif kind in ("daterange", "timerange"):
                assert (out, record.get(column[code] + "_until")) == (value["value"], value["until"])
    assert {"varchar", "monetary", "enum", "set", "date"} <= checked, checked


def _cursor(value: str) -> datetime:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise ValueError(value)


def test_an_incremental_read_returns_every_changed_record_and_little_else(tmp_path, config, catalog, full_read,
                                                                          emulator, outputs):
    states = full_read.final_states()
    before = {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"].get("update_time") for s in states}
    changed = emulator.mutate(update_fraction=0.03, add=4, delete_fraction=0.01,
                              entities=["deals", "persons", "organizations", "activities", "products", "leads",
                                        "notes"])
    emulator.reset_stats()
    result = run(tmp_path, "read", config, configured_catalog(catalog, streams=STREAMS), state=states)
    outputs.append(result)
    assert result.returncode == 0 and not result.errors(), result.errors()
    for stream, entity in [("deals", "deals"), ("persons", "persons"), ("organizations", "organizations"),
                           ("activities", "activities"), ("products", "products"), ("leads", "leads"),
                           ("notes", "notes")]:
        _, visible = VISIBLE[stream]
        truth = emulator.truth(entity)
        want = {str(i) for kind in ("updated", "added", "deleted") for i in changed[entity][kind] if visible(truth[i])}
        got = [r for r in result.records(stream)]
        assert want, f"no visible change in {stream}: the test would prove nothing"
        assert want <= {str(r["id"]) for r in got}, stream
        # A deletion reaches the destination with this sync: Pipedrive reports the change (/v1/recents), and the
        # record, no longer listed, is confirmed gone (deals are listed with their deleted ones).
        if stream in ("persons", "organizations", "activities", "products", "notes"):
            tombstones = {str(r["id"]) for r in got if r.get("_ab_cdc_deleted_at")}
            assert tombstones == {str(i) for i in changed[entity]["deleted"]}, stream
            got = [r for r in got if not r.get("_ab_cdc_deleted_at")]
        # Besides the changes, only records of the previous cursor's second may come back (leads carry
        # milliseconds, so compare whole seconds).
        boundary = _cursor(before[stream]).replace(microsecond=0)
        extra = [r for r in got if str(r["id"]) not in want]
        assert all(_cursor(r["update_time"]).replace(microsecond=0) == boundary for r in extra), stream
    deleted_deals = {r["id"]: r for r in result.records("deals") if r["id"] in changed["deals"]["deleted"]}
    visible_deleted = {i for i in changed["deals"]["deleted"] if not emulator.truth("deals")[i]["is_archived"]}
    assert set(deleted_deals) == visible_deleted and visible_deleted
    assert all(r["_ab_cdc_deleted_at"] == r["update_time"] for r in deleted_deals.values())
    requests_per_path = emulator.stats()["requests"]
    # One page of changes each for deals and for deal_products' parent, not the whole table again; and deal
    # products only for the changed deals (one batch).
    assert requests_per_path["GET /api/v2/deals"] == 2
    assert requests_per_path["GET /api/v2/deals/products"] == 1


def test_no_secret_appears_in_any_output(outputs):
    assert outputs
    for result in outputs:
        assert TOKEN not in result.stdout
        assert TOKEN not in result.stderr
