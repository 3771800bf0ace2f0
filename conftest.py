# Puts the repository root on sys.path, so tests import `integration_tests.emulator` and Airbyte's standard test
# suite finds the connector root, wherever pytest is started from.
#
# The standard-suite emulator fixture lives here, where Airbyte's tooling looks: `airbyte-cdk connector test`
# writes its own test file under .tmp/ and loads only this root conftest.
import errno
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

STANDARD_CONFIG = Path(__file__).parent / "integration_tests" / "standard_configs" / "config.json"


@pytest.fixture(scope="class", autouse=True)
def standard_tests_emulator(request):
    """Serves the emulator at the fixed address acceptance-test-config.yml's config files name, for the standard suite.

    The suite reads its configs from files listed in acceptance-test-config.yml, so the port cannot be chosen at
    run time. Class scope holds the port only while the suite runs (seconds); a second test session started at the
    same time waits for it instead of failing.
    """
    if request.cls is None or not _is_standard_suite(request.cls):
        yield None
        return
    from integration_tests.emulator import Emulator

    config = json.loads(STANDARD_CONFIG.read_text())
    port = urlsplit(config["api_domain"]).port
    emulator = Emulator(seed=11, scale=300, api_tokens=(config["credentials"]["api_token"],))
    deadline = time.monotonic() + 120
    while True:
        try:
            emulator.start(port=port)
            break
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            if time.monotonic() > deadline:
                raise RuntimeError(f"127.0.0.1:{port} ({STANDARD_CONFIG.name}) stayed busy for 120 s") from error
            time.sleep(0.5)
    yield emulator
    emulator.stop()


def _is_standard_suite(cls) -> bool:
    from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

    return issubclass(cls, SourceTestSuiteBase)
