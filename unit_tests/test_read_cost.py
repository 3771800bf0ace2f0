"""A read does only the work its catalog needs: it builds only the selected streams and decodes each body once."""

import orjson
import pytest
import requests
import requests_mock
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.declarative.decoders.json_decoder import JsonDecoder

import source_pipedrive.components as components
from builders import API, catalog, config, deal, mock_no_custom_fields, read, v2_page
from source_pipedrive import SourcePipedrive
from source_pipedrive.components import ParsedOnceJsonDecoder


def test_a_read_builds_only_the_streams_of_its_catalog_and_their_parents_still_work():
    everything = {stream.name for stream in SourcePipedrive(config=config()).streams(config())}
    selected = SourcePipedrive(catalog=catalog("deals", "deal_flow"), config=config()).streams(config())
    assert len(everything) > 50
    assert {stream.name for stream in selected} == {"deals", "deal_flow"}


def test_every_stream_read_alone_is_built_as_in_the_whole_manifest():
    # A read prunes the manifest to its catalog's streams and whatever they refer to (parents, schemas, requesters).
    cfg = config()
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        everything = {stream.name: stream for stream in SourcePipedrive(config=cfg).streams(cfg)}
        for name, stream in everything.items():
            alone = SourcePipedrive(catalog=catalog(name), config=cfg).streams(cfg)
            assert [s.name for s in alone] == [name]
            assert alone[0].get_json_schema() == stream.get_json_schema(), name
            assert alone[0].as_airbyte_stream() == stream.as_airbyte_stream(), name


def test_every_page_is_decoded_once_for_error_handling_records_and_pagination(monkeypatch):
    decoded, loads = [], orjson.loads

    def counting_loads(body):  # orjson is one module for all: count only Pipedrive bodies, not Airbyte messages
        if "additional_data" in (body.decode() if isinstance(body, (bytes, bytearray, memoryview)) else str(body)):
            decoded.append(1)
        return loads(body)

    monkeypatch.setattr(components.orjson, "loads", counting_loads)
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/deals", [{"json": v2_page([deal(1, "2024-01-01T00:00:00Z")], next_cursor="c2")},
                                          {"json": v2_page([deal(2, "2024-01-02T00:00:00Z")])}])
        output = read(config(), ["deals"], SyncMode.incremental)
        responses = len([r for r in http.request_history if "summary" not in r.path])  # pages, not the estimate
    assert [r.record.data["id"] for r in output.records] == [1, 2]
    assert len(decoded) == responses


@pytest.mark.parametrize("body", [b'{"data": [1], "additional_data": {"next_cursor": "x"}}', b"[]", b'[{"a": 1}, {"b": 2}]',
                                  b"", b"not json", b"null"])
def test_the_shared_decoder_yields_what_the_cdks_json_decoder_yields(body):
    response = requests.Response()
    response._content, response.status_code = body, 200
    expected = list(JsonDecoder(parameters={}).decode(response))
    assert list(ParsedOnceJsonDecoder().decode(response)) == expected


def test_a_page_is_released_by_its_response_once_the_paginator_has_read_it():
    # Under the burst limit the CDK's rate limiter keeps waiting requests' responses alive in reference cycles;
    # a response must not keep its 500 decoded records alive with it.
    response = requests.Response()
    response._content, response.status_code = b'{"data": [{"id": 1}], "additional_data": {"next_cursor": "c2"}}', 200
    records = components.parsed_body(response)["data"]  # what the extractor read
    page = next(ParsedOnceJsonDecoder().decode(response))
    assert page["additional_data"]["next_cursor"] == "c2" and page["data"] is records
    assert not hasattr(response, components._PARSED)
