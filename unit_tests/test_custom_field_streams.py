"""Streams with custom fields: discover shows typed readable columns, read fills them, one Fields call per sync."""

import requests_mock
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test import entrypoint_wrapper

from builders import API, config, deal, read, v2_page
from source_pipedrive import SourcePipedrive

REGION = "9dc80c50d78a15643bfc4ca79d76156a73a1ca0e"
BUDGET = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
TAGS = "ffffeeeeddddccccbbbbaaaa9999888877776666"
DEAL_FIELDS = [
    {"field_code": "title", "field_name": "Title", "field_type": "varchar", "is_custom_field": False, "options": None},
    {"field_code": REGION, "field_name": "Région", "field_type": "enum", "is_custom_field": True,
     "options": [{"id": 1, "label": "Europe"}, {"id": 2, "label": "Amériques"}]},
    {"field_code": BUDGET, "field_name": "Budget", "field_type": "monetary", "is_custom_field": True, "options": None},
    {"field_code": TAGS, "field_name": "Title", "field_type": "set", "is_custom_field": True,
     "options": [{"id": 7, "label": "hot"}, {"id": 8, "label": "cold"}]},
]


def _mock_deal_fields(http):
    http.get(f"{API}/api/v2/dealFields", json=v2_page(DEAL_FIELDS))


def test_discover_lists_each_custom_field_as_a_typed_readable_column():
    with requests_mock.Mocker() as http:
        _mock_deal_fields(http)
        for entity in ("personFields", "organizationFields", "productFields"):
            http.get(f"{API}/api/v2/{entity}", json=v2_page([]))
        output = entrypoint_wrapper.discover(SourcePipedrive(config=config()), config())
    deals = next(s for s in output.catalog.catalog.streams if s.name == "deals")
    props = deals.json_schema["properties"]
    assert props["region"]["type"] == ["null", "string"]
    assert REGION in props["region"]["description"] and "Région" in props["region"]["description"]
    assert props["budget"]["type"] == ["null", "number"]
    assert props["budget_currency"]["type"] == ["null", "string"]
    assert props["title_ffffee"]["type"] == ["null", "array"]  # "Title" collides with the built-in title
    assert props["title"]["type"] == ["null", "string"]


def test_read_replaces_hash_keys_with_labelled_values():
    record = deal(1, "2024-01-01T00:00:00Z", custom_fields={
        REGION: 2, BUDGET: {"value": 1200.5, "currency": "EUR"}, TAGS: [8, 99]})
    with requests_mock.Mocker() as http:
        _mock_deal_fields(http)
        http.get(f"{API}/api/v2/deals", [{"json": v2_page([record], next_cursor="p2")},
                                         {"json": v2_page([deal(2, "2024-01-02T00:00:00Z")])}])
        output = read(config(), ["deals"])
    data = output.records[0].record.data
    assert data["region"] == "Amériques"
    assert (data["budget"], data["budget_currency"]) == (1200.5, "EUR")
    assert data["title_ffffee"] == ["cold", "99"]  # a deleted option keeps its raw id
    assert data.get("custom_fields") is None  # the protocol serializer omits null values
    # One read of the definitions serves the schema and the flattening; never one per page or record.
    assert len([r for r in http.request_history if r.path.endswith("/dealfields")]) == 1


def test_deals_and_archived_deals_share_one_read_and_the_next_sync_sees_an_option_renamed_since():
    renamed = [{**item, "options": [{"id": 1, "label": "EMEA"}, {"id": 2, "label": "Amériques"}]}
               if item["field_code"] == REGION else item for item in DEAL_FIELDS]
    cfg, labels = config(), []
    for fields in (DEAL_FIELDS, renamed):  # two syncs in one process, as PyAirbyte or a test runner would do
        with requests_mock.Mocker() as http:
            http.get(f"{API}/api/v2/dealFields", json=v2_page(fields))
            http.get(f"{API}/api/v2/deals", json=v2_page([deal(1, "2024-01-01T00:00:00Z", custom_fields={REGION: 1})]))
            http.get(f"{API}/api/v2/deals/archived", json=v2_page([]))
            output = read(cfg, ["deals", "deals_archived"])
            assert len([r for r in http.request_history if r.path.endswith("/dealfields")]) == 1
        labels.append(output.records[0].record.data["region"])
    assert labels == ["Europe", "EMEA"]


def test_hash_naming_mode_keeps_field_keys_as_column_names():
    record = deal(1, "2024-01-01T00:00:00Z", custom_fields={REGION: 1, BUDGET: None, TAGS: None})
    with requests_mock.Mocker() as http:
        _mock_deal_fields(http)
        http.get(f"{API}/api/v2/deals", json=v2_page([record]))
        output = read(config(custom_field_names="hash"), ["deals"], SyncMode.incremental)
    data = output.records[0].record.data
    assert data[REGION] == "Europe"
    assert data.get(BUDGET) is None and data.get(f"{BUDGET}_currency") is None
