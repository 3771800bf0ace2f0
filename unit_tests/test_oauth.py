"""OAuth 2.0 with Pipedrive: refresh with HTTP Basic client auth, persist rotated tokens, reuse a valid access token.

Pipedrive may hand out a new refresh token on every refresh and expires an unused one after 60 days, so whatever
comes back must reach the platform (a CONTROL message) or the next sync cannot sign in.
"""

import base64
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import requests_mock

from builders import API, read, v2_page

TOKEN_URL = "https://oauth.example.test/oauth/token"
PIPELINES = f"{API}/api/v2/pipelines"


def oauth_config(**credentials):
    base = {"auth_type": "oauth2.0", "client_id": "cid-123", "client_secret": "csecret-456",
            "refresh_token": "rt-old-789"}
    return {"credentials": {**base, **credentials}, "oauth_token_url": TOKEN_URL}


def token_response(refresh_token="rt-new-000", access_token="at-new-111"):
    return {"access_token": access_token, "token_type": "Bearer", "refresh_token": refresh_token,
            "scope": "base,deals:read", "expires_in": 3599, "api_domain": API}


def test_refresh_uses_basic_client_auth_and_a_form_body_then_bearer_on_data_requests():
    with requests_mock.Mocker() as http:
        http.post(TOKEN_URL, json=token_response())
        http.get(PIPELINES, json=v2_page([{"id": 1}]))
        read(oauth_config(), ["pipelines"])
    refresh, data = http.request_history
    assert refresh.headers["Authorization"] == "Basic " + base64.b64encode(b"cid-123:csecret-456").decode()
    assert parse_qs(refresh.text) == {"grant_type": ["refresh_token"], "refresh_token": ["rt-old-789"]}
    assert data.headers["Authorization"] == "Bearer at-new-111"


def test_a_rotated_refresh_token_is_written_back_with_the_new_access_token_and_expiry(capsys):
    with requests_mock.Mocker() as http:
        http.post(TOKEN_URL, json=token_response(refresh_token="rt-rotated"))
        http.get(PIPELINES, json=v2_page([{"id": 1}]))
        read(oauth_config(), ["pipelines"])
    # The CDK's authenticator prints the CONTROL message straight to stdout, as the platform reads it.
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"type":"CONTROL"')]
    controls = [m["control"]["connectorConfig"]["config"] for m in lines]
    assert controls, "the new tokens must reach the platform"
    credentials = controls[-1]["credentials"]
    assert credentials["refresh_token"] == "rt-rotated"
    assert credentials["access_token"] == "at-new-111"
    expiry = datetime.fromisoformat(credentials["token_expiry_date"].replace("Z", "+00:00"))
    assert timedelta(minutes=55) < expiry - datetime.now(timezone.utc) < timedelta(minutes=61)


def test_an_access_token_still_valid_is_reused_without_a_refresh():
    expiry = (datetime.now(timezone.utc) + timedelta(minutes=30)).isoformat()
    with requests_mock.Mocker() as http:
        http.post(TOKEN_URL, json=token_response())
        http.get(PIPELINES, json=v2_page([{"id": 1}]))
        read(oauth_config(access_token="at-still-valid", token_expiry_date=expiry), ["pipelines"])
    assert [r.method for r in http.request_history] == ["GET"]
    assert http.request_history[0].headers["Authorization"] == "Bearer at-still-valid"


def _failed_refresh(status, body):
    with requests_mock.Mocker() as http:
        http.post(TOKEN_URL, status_code=status, json=body)
        http.get(PIPELINES, json=v2_page([{"id": 1}]))
        output = read(oauth_config(), ["pipelines"], expect_errors=True)
    return output


def test_a_used_or_revoked_refresh_token_asks_the_user_to_sign_in_again_without_leaking_secrets():
    output = _failed_refresh(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
    message = output.errors[0].trace.error.message
    assert "Re-authenticate" in message or "re-authenticate" in message.lower()
    everything = "\n".join(str(m) for m in output._messages)
    for secret in ("rt-old-789", "csecret-456"):
        assert secret not in everything


def test_a_wrong_client_secret_fails_with_a_config_error():
    output = _failed_refresh(401, {"error": "invalid_client", "error_description": "Invalid client credentials"})
    assert output.errors[0].trace.error.failure_type.value == "config_error"


def test_a_missing_scope_skips_that_stream_with_a_warning_naming_the_scope():
    expiry = (datetime.now(timezone.utc) + timedelta(minutes=30)).isoformat()
    with requests_mock.Mocker() as http:
        http.get(f"{API}/v1/users", status_code=403,
                 json={"success": False, "error": "Scope and URL mismatch", "errorCode": 403})
        http.get(PIPELINES, json=v2_page([{"id": 1}]))
        output = read(oauth_config(access_token="at", token_expiry_date=expiry), ["users", "pipelines"])
    assert [r.record.data["id"] for r in output.records] == [1]
    warnings = [m.log.message for m in output.logs if "users:read" in m.log.message]
    assert warnings and warnings[0].startswith("Skipping users: the Pipedrive app was not granted")


def test_requests_go_to_the_company_domain_named_at_sign_in_unless_the_user_set_one():
    expiry = (datetime.now(timezone.utc) + timedelta(minutes=30)).isoformat()
    company = "https://acme.pipedrive.example"
    with requests_mock.Mocker() as http:
        http.get(f"{company}/api/v2/pipelines", json=v2_page([{"id": 1}]))
        read(oauth_config(access_token="at", token_expiry_date=expiry, api_domain=company), ["pipelines"])
        http.get("https://eu.pipedrive.example/api/v2/pipelines", json=v2_page([{"id": 2}]))
        explicit = oauth_config(access_token="at", token_expiry_date=expiry, api_domain=company)
        read({**explicit, "api_domain": "https://eu.pipedrive.example"}, ["pipelines"])
    assert [r.hostname for r in http.request_history] == ["acme.pipedrive.example", "eu.pipedrive.example"]
