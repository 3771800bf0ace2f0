"""The spec users see, and the three config shapes Airbyte's Pipedrive connectors have written over the years."""

import json
import re

import pytest
import requests_mock

from builders import data_requests
from airbyte_cdk.models import SyncMode

from builders import API, TOKEN, config, mock_no_custom_fields, read, v2_page
from source_pipedrive import SourcePipedrive


def spec():
    return SourcePipedrive().spec(logger=None).connectionSpecification


def test_credentials_are_a_one_of_token_or_oauth_with_every_secret_hidden():
    options = {o["properties"]["auth_type"]["const"]: o for o in spec()["properties"]["credentials"]["oneOf"]}
    assert set(options) == {"api_token", "oauth2.0"}
    assert options["api_token"]["properties"]["api_token"]["airbyte_secret"] is True
    for secret in ("client_id", "client_secret", "refresh_token", "access_token"):
        assert options["oauth2.0"]["properties"][secret]["airbyte_secret"] is True


@pytest.mark.parametrize(
    "value, accepted",
    [
        ("2017-01-25T00:00:00Z", True),
        ("2017-01-25 00:00:00Z", True),
        ("2017-01-25", True),
        ("2017-01-25T00:00:00", True),
        ("25/01/2017", False),
        ("2017-1-25", False),
        ("yesterday", False),
    ],
    ids=lambda v: str(v),
)
def test_start_date_pattern_accepts_the_documented_forms(value, accepted):
    pattern = spec()["properties"]["replication_start_date"]["pattern"]
    assert bool(re.match(pattern, value)) is accepted


@pytest.mark.parametrize("value", ["2017-01-25T00:00:00Z", "2017-01-25 00:00:00Z", "2017-01-25"])
def test_each_start_date_form_reaches_the_api_as_an_rfc3339_updated_since(value):
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/deals", json=v2_page([]))
        read(config(replication_start_date=value), ["deals"], SyncMode.incremental)
    assert data_requests(http)[0].qs["updated_since"] == ["2017-01-25t00:00:00z"]  # requests_mock lower-cases


def test_without_a_start_date_the_first_sync_reads_all_history():
    with requests_mock.Mocker() as http:
        mock_no_custom_fields(http)
        http.get(f"{API}/api/v2/deals", json=v2_page([]))
        read(config(), ["deals"], SyncMode.incremental)
    assert data_requests(http)[0].qs["updated_since"] == ["2000-01-01t00:00:00z"]


@pytest.mark.parametrize("workers, valid", [(1, True), (40, True), (0, False), (41, False)])
def test_num_workers_is_bounded(workers, valid):
    props = spec()["properties"]["num_workers"]
    assert (props["minimum"] <= workers <= props["maximum"]) is valid


LEGACY = {
    "2.x api_token at the root": (
        {"api_token": TOKEN, "replication_start_date": "2017-01-25 00:00:00Z", "num_workers": 10},
        {"credentials": {"auth_type": "api_token", "api_token": TOKEN},
         "replication_start_date": "2017-01-25 00:00:00Z", "num_workers": 10},
    ),
    "0.1.x authorization Token": (
        {"authorization": {"auth_type": "Token", "api_token": TOKEN}, "replication_start_date": "2017-01-25T00:00:00Z"},
        {"credentials": {"auth_type": "api_token", "api_token": TOKEN}, "replication_start_date": "2017-01-25T00:00:00Z"},
    ),
    "0.1.x authorization Client": (
        {"authorization": {"auth_type": "Client", "client_id": "cid", "client_secret": "csec", "refresh_token": "rt"}},
        {"credentials": {"auth_type": "oauth2.0", "client_id": "cid", "client_secret": "csec", "refresh_token": "rt"}},
    ),
}


@pytest.mark.parametrize("legacy, migrated", LEGACY.values(), ids=LEGACY.keys())
def test_legacy_configs_are_migrated_written_back_and_announced(tmp_path, capsys, legacy, migrated):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(legacy))
    SourcePipedrive(config=legacy, config_path=str(path))
    assert json.loads(path.read_text()) == migrated
    control = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CONTROL"' in line]
    assert [c["control"]["connectorConfig"]["config"] for c in control] == [migrated]


def test_current_configs_are_left_alone_and_not_announced(tmp_path, capsys):
    current = config(num_workers=3)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(current))
    SourcePipedrive(config=current, config_path=str(path))
    assert json.loads(path.read_text()) == current
    assert "CONTROL" not in capsys.readouterr().out


def test_a_legacy_2x_config_reads_with_the_token_in_the_header():
    legacy = {"api_token": TOKEN, "replication_start_date": "2017-01-25 00:00:00Z", "num_workers": 10}
    with requests_mock.Mocker() as http:
        http.get(f"{API}/api/v2/pipelines", json=v2_page([{"id": 1, "name": "Sales", "update_time": "2020-01-01T00:00:00Z"}]))
        output = read(legacy, ["pipelines"])
    assert [r.record.data["id"] for r in output.records] == [1]
    assert data_requests(http)[0].headers["x-api-token"] == TOKEN
