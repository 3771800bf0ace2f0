"""Two OAuth syncs in a row against a token endpoint that rotates refresh tokens and rejects a used one.

The second sync must start from the config the first one announced (CONTROL message), as the Airbyte platform does;
starting from the original config must fail, which proves the emulator really rotates.
"""

import pytest

from integration_tests.connector import configured_catalog, run
from integration_tests.emulator import Emulator

CLIENT_ID, CLIENT_SECRET = "e2e-client-id", "e2e-client-secret-91c2"


@pytest.fixture(scope="module")
def emulator():
    with Emulator(seed=5, scale=60, api_tokens=("unused",), oauth_clients={CLIENT_ID: CLIENT_SECRET}) as emu:
        yield emu


def _config(emulator, refresh_token):
    return {
        "credentials": {"auth_type": "oauth2.0", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                        "refresh_token": refresh_token},
        "oauth_token_url": f"{emulator.base_url}/oauth/token",
        "api_domain": emulator.base_url,
    }


def _announced_config(result):
    controls = [m["control"]["connectorConfig"]["config"] for m in result.of_type("CONTROL")]
    assert controls, "a refreshed token must be announced"
    return controls[-1]


def test_two_syncs_in_a_row_keep_working_after_the_refresh_token_rotates(tmp_path, emulator):
    first_refresh_token = emulator.issue_oauth_refresh_token(CLIENT_ID)
    config = _config(emulator, first_refresh_token)
    discover = run(tmp_path, "discover", config)
    assert discover.returncode == 0, discover.stdout[-1500:]
    config = _announced_config(discover)
    catalog = configured_catalog(discover.of_type("CATALOG")[0], streams=["deals", "pipelines"])

    first = run(tmp_path, "read", config, catalog)
    assert first.returncode == 0 and not first.errors(), first.errors()
    # The access token from discover is still valid: reused, not refreshed again.
    assert first.of_type("CONTROL") == []
    truth = emulator.truth("deals")
    visible = {d["id"] for d in truth.values() if not d["is_deleted"] and not d["is_archived"]}
    assert {r["id"] for r in first.records("deals")} == visible

    emulator.expire_oauth_access_tokens()
    second_config = {**config, "credentials": {**config["credentials"], "token_expiry_date": "2000-01-01T00:00:00Z"}}
    second = run(tmp_path, "read", second_config, catalog)
    assert second.returncode == 0 and not second.errors(), second.errors()
    rotated = _announced_config(second)["credentials"]
    assert rotated["refresh_token"] not in (first_refresh_token, config["credentials"]["refresh_token"])
    assert {r["id"] for r in second.records("deals")} == visible

    stale = run(tmp_path, "read", _config(emulator, first_refresh_token), catalog)
    assert stale.errors(), "a used refresh token must be rejected"
    assert "Re-authenticate" in stale.errors()[0] or "re-authenticate" in stale.errors()[0].lower()

    for result in (discover, first, second, stale):
        for secret in (CLIENT_SECRET, first_refresh_token, rotated["refresh_token"], rotated["access_token"]):
            assert secret not in result.stderr
        # The platform needs the new tokens in the CONTROL message; nowhere else may they appear.
        for message in result.messages:
            if message["type"] != "CONTROL":
                text = str(message)
                assert CLIENT_SECRET not in text and first_refresh_token not in text
