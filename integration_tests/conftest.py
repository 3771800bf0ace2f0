import pytest
import yaml

from integration_tests.emulator import gen_spec_tables


@pytest.fixture(scope="session")
def specs():
    """Pipedrive's OpenAPI descriptions (v1, v2), parsed once per test session: each is a megabyte of YAML."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = {}
    for version in ("v1", "v2"):
        with open(gen_spec_tables.DEFAULT_OPENAPI_DIR / f"pipedrive-{version}.yaml", encoding="utf-8") as fh:
            out[version] = yaml.load(fh, Loader=loader)
    return out
