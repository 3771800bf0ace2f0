"""The API token travels in the x-api-token header and nowhere else: not in a URL, a manifest parameter or a log."""

from pathlib import Path

import requests_mock

from builders import data_requests
import yaml

from builders import API, TOKEN, config, mock_no_custom_fields, read, v2_page

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yaml"


def _walk(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, path + (i,))
    else:
        yield path, node


def test_no_manifest_request_parameter_carries_the_token():
    manifest = yaml.safe_load(MANIFEST.read_text())
    offending = [
        path for path, value in _walk(manifest)
        if "request_parameters" in path and "api_token" in str(path[-1]) + str(value)
    ]
    assert offending == []


def test_every_request_carries_the_token_in_the_header_and_never_in_the_query():
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/deals", [
            {"json": v2_page([{"id": 1, "update_time": "2021-01-01T00:00:00Z"}], next_cursor="c2")},
            {"json": v2_page([{"id": 2, "update_time": "2021-01-02T00:00:00Z"}])},
        ])
        output = read(config(), ["deals"])
    assert len(data_requests(http)) == 2
    for request in data_requests(http):
        assert request.headers["x-api-token"] == TOKEN
        assert "api_token" not in request.qs
        assert TOKEN not in request.url
    assert TOKEN not in "\n".join(str(m) for m in output.logs)


def test_the_token_never_appears_in_logs_even_when_the_api_rejects_it():
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/deals", status_code=401, headers={"x-401-by-gw": "true"},
                 json={"success": False, "error": "unauthorized access", "errorCode": 401})
        output = read(config(), ["deals"], expect_errors=True)
    everything = "\n".join(str(m) for m in output._messages)
    assert "unauthorized access" in everything
    assert TOKEN not in everything
