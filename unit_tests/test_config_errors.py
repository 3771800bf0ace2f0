"""A bad config fails check, discover and read with a sentence that names the field and what to write."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from source_pipedrive import SourcePipedrive
from source_pipedrive.config_errors import config_error

SPEC = SourcePipedrive().spec(logger=None).connectionSpecification
TOKEN = {"auth_type": "api_token", "api_token": "t0k"}


@pytest.mark.parametrize(
    "config, message",
    [
        ({"credentials": TOKEN, "replication_start_date": "25/01/2017"},
         "Config field 'replication_start_date' must be a UTC date like 2017-01-25"),
        ({"credentials": {"auth_type": "magic", "api_token": "t0k"}},
         "Config field 'credentials.auth_type' must be 'api_token' or 'oauth2.0'."),
        ({"credentials": {"auth_type": "api_token", "api_token": ""}},
         "Config field 'credentials.api_token' must not be empty."),
        ({"credentials": {"auth_type": "oauth2.0", "client_id": "c", "client_secret": "s"}},
         "Config field 'credentials.refresh_token' is required."),
        ({}, "Config field 'credentials' is required."),
        ({"credentials": TOKEN, "num_workers": 0}, "Config field 'num_workers' must be a whole number from 1 to 40"),
        ({"credentials": TOKEN, "api_domain": "pipedrive.com/api"}, "Config field 'api_domain' must be a base URL"),
    ],
    ids=["bad date", "unknown auth type", "empty token", "oauth without refresh token", "no credentials",
         "workers out of range", "domain with a path"],
)
def test_a_bad_config_is_named_field_by_field(config, message):
    assert config_error(config, SPEC).startswith(message)


def test_a_valid_config_has_no_error():
    assert config_error({"credentials": TOKEN, "replication_start_date": "2017-01-25", "num_workers": 4}, SPEC) is None


@pytest.mark.parametrize("command", ["check", "discover", "read"])
def test_every_command_reports_the_named_field(tmp_path, command):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credentials": TOKEN, "replication_start_date": "yesterday"}))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": []}))
    args = [sys.executable, "-m", "source_pipedrive.run", command, "--config", str(config)]
    if command == "read":
        args += ["--catalog", str(catalog)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert "Config field 'replication_start_date' must be a UTC date" in out.stdout
