"""check makes one cheap call (v2 pipelines, 5 tokens; every company has a pipeline) and explains each failure.

A bad token, a wrong domain or a missing permission must each answer FAILED with a sentence, not a traceback.
"""

import pytest
import requests
import requests_mock
from airbyte_cdk.models import Status

from builders import API, config, pipedrive_error, v2_page
from source_pipedrive import SourcePipedrive
import logging

LOGGER = logging.getLogger("test")


def check(cfg):
    return SourcePipedrive(config=cfg).check(LOGGER, cfg)


def test_check_succeeds_with_one_request_for_a_valid_token():
    with requests_mock.Mocker() as http:
        http.get(f"{API}/api/v2/pipelines", json=v2_page([{"id": 1, "name": "Sales"}], next_cursor="more"))
        status = check(config())
    assert status.status == Status.SUCCEEDED
    assert len(http.request_history) == 1


@pytest.mark.parametrize(
    "status_code, body, expected",
    [
        (401, pipedrive_error(401, "unauthorized access"), "Pipedrive rejected the credentials (unauthorized access)"),
        (402, pipedrive_error(402, "Company account is not open"), "company account is not open"),
        (403, pipedrive_error(403, "You don't have permission"), "needs permission to read this data set"),
        (404, pipedrive_error(404, "Not found"), "Check api_domain"),
    ],
    ids=["bad token", "closed account", "missing permission", "wrong domain path"],
)
def test_check_fails_with_a_sentence_the_user_understands(status_code, body, expected):
    with requests_mock.Mocker() as http:
        http.get(f"{API}/api/v2/pipelines", status_code=status_code, json=body)
        status = check(config())
    assert status.status == Status.FAILED
    assert expected in status.message
    assert "Traceback" not in status.message


def test_check_fails_at_once_with_a_sentence_when_the_domain_does_not_resolve():
    cfg = config(api_domain="https://no-such-company.invalid")
    dns_failure = requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='no-such-company.invalid', port=443): Max retries exceeded "
        "(Caused by NameResolutionError(\"Failed to resolve 'no-such-company.invalid'\"))"
    )
    with requests_mock.Mocker() as http:
        http.get("https://no-such-company.invalid/api/v2/pipelines", exc=dns_failure)
        status = check(cfg)
    assert status.status == Status.FAILED
    assert "the host name no-such-company.invalid does not resolve. Check api_domain" in status.message
    assert len(http.request_history) == 1  # no minutes of retries against a name that will not resolve


def test_a_refused_connection_is_retried_as_transient():
    with requests_mock.Mocker() as http:
        http.get(f"{API}/api/v2/pipelines", [{"exc": requests.exceptions.ConnectionError("Connection refused")},
                                             {"json": v2_page([{"id": 1}])}])
        status = check(config())
    assert status.status == Status.SUCCEEDED
    assert len(http.request_history) == 2
