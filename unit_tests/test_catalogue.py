"""Every read-only list endpoint in Pipedrive's published API descriptions has a stream, or a documented reason not to.

The catalogue is derived from the OpenAPI files (v1 and v2, August 2026) rather than from anyone's memory: when
Pipedrive adds a list endpoint and the copies in integration_tests/emulator/openapi are refreshed, this test names it.
"""

import re
from pathlib import Path

import yaml

from test_docs_match_manifest import manifest_streams

OPENAPI = Path(__file__).resolve().parents[1] / "integration_tests" / "emulator" / "openapi"

# Whole families left out, by rule.
RULES = [
    (r"search|/itemSearch|/users/find", "search endpoints: a query, not a data set"),
    (r"/\{[^}]+\}$", "one item by id: the list stream already returns it"),
    (r"/download$|/picture$", "file contents and pictures, not records"),
    (r"^/oauth/", "OAuth flow, not data"),
    (r"/convert/status/", "status of one conversion job"),
    (r"^/legacyTeams", "deprecated by Pipedrive, no replacement"),
]
# Single endpoints left out, each with its reason (docs/pipedrive.md repeats them).
EXCLUDED = {
    "v1 /activityFields": "v2 twin /api/v2/activityFields is used",
    "v1 /dealFields": "v2 twin /api/v2/dealFields is used",
    "v1 /personFields": "v2 twin is used",
    "v1 /organizationFields": "v2 twin is used",
    "v1 /productFields": "v2 twin is used",
    "v1 /deals/{id}/followers": "v2 twin is used",
    "v1 /persons/{id}/followers": "v2 twin is used",
    "v1 /organizations/{id}/followers": "v2 twin is used",
    "v1 /products/{id}/followers": "v2 twin is used",
    "v1 /users/{id}/followers": "v2 twin is used",
    "v1 /projects": "v2 twin is used",
    "v1 /projectTemplates": "v2 twin is used",
    "v1 /tasks": "v2 twin is used",
    "v1 /projects/boards": "v2 twin /api/v2/boards is used",
    "v1 /projects/phases": "v2 twin /api/v2/phases is used",
    "v1 /projects/{id}/plan": "project plan view of the tasks and activities other streams return",
    "v1 /projects/{id}/groups": "project plan grouping (UI layout)",
    "v1 /projects/{id}/tasks": "tasks stream returns them with project_id",
    "v1 /projects/{id}/activities": "activities stream returns them with project_id",
    "v2 /deals/{id}/products": "deal_products reads the batch endpoint, 100 deals a request",
    "v1 /deals/{id}/files": "files stream returns every file with deal_id",
    "v1 /persons/{id}/files": "files stream returns every file with person_id",
    "v1 /organizations/{id}/files": "files stream returns every file with org_id",
    "v1 /products/{id}/files": "files stream returns every file with product_id",
    "v1 /persons/{id}/products": "deal_products joined with deals gives the same",
    "v1 /products/{id}/deals": "deal_products gives the same",
    "v1 /deals/{id}/permittedUsers": "access lists per record: one request per record for derived data",
    "v1 /persons/{id}/permittedUsers": "access lists per record",
    "v1 /organizations/{id}/permittedUsers": "access lists per record",
    "v1 /products/{id}/permittedUsers": "access lists per record",
    "v1 /leads/{id}/permittedUsers": "access lists per record",
    "v2 /projects/{id}/permittedUsers": "access lists per record (a bare list of user ids)",
    "v1 /deals/summary": "an aggregate computed from deals, not records",
    "v1 /deals/timeline": "an aggregate computed from deals, not records",
    "v1 /pipelines/{id}/conversion_statistics": "an aggregate computed from deals",
    "v1 /pipelines/{id}/movement_statistics": "an aggregate computed from deals",
    "v1 /recents": "a change feed limited to one month; the lists themselves are read incrementally",
    "v1 /users/me": "the token user, already in users",
    "v1 /userConnections": "the token user's own connected accounts",
    "v1 /userSettings": "the token user's own interface settings",
    "v1 /filters/helpers": "static operator metadata of the filter editor",
    "v1 /billing/subscriptions/addons": "the account's billing add-ons, not CRM data",
    "v1 /goals/{id}/results": "progress computed for a chosen period; goals stream holds the goals",
}


def eligible():
    endpoints = {}
    for version in ("v1", "v2"):
        spec = yaml.safe_load((OPENAPI / f"pipedrive-{version}.yaml").read_text())
        for path, operations in spec["paths"].items():
            if "get" not in operations or operations["get"].get("deprecated"):
                continue
            if any(re.search(pattern, path) for pattern, _ in RULES):
                continue
            endpoints[f"{version} {path}"] = path
    return endpoints


def covered():
    """'v1 /deals/{id}/flow'-style keys of the endpoints the manifest's streams read."""
    keys = set()
    for facts in manifest_streams().values():
        path = facts["endpoint"].removeprefix("GET ")
        version = "v2" if path.startswith("/api/v2/") else "v1"
        path = path.removeprefix("/api/v2").removeprefix("/v1")
        keys.add(f"{version} {path}")
    return keys


def _normalise(key):
    return re.sub(r"\{[^}]*\}", "{}", key)


def test_every_eligible_list_endpoint_has_a_stream_or_a_documented_exclusion():
    streams = {_normalise(k) for k in covered()}
    excluded = {_normalise(k) for k in EXCLUDED}
    missing = sorted(k for k in eligible() if _normalise(k) not in streams | excluded)
    assert missing == []


def test_the_exclusion_list_names_only_real_endpoints_without_a_stream():
    real = {_normalise(k) for k in eligible()}
    streams = {_normalise(k) for k in covered()}
    stale = sorted(k for k in EXCLUDED if _normalise(k) not in real or _normalise(k) in streams)
    assert stale == []


def test_the_catalogue_has_about_sixty_streams_or_more():
    assert len(manifest_streams()) >= 60
