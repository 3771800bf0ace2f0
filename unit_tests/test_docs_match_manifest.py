"""docs/pipedrive.md's streams table must describe the streams manifest.yaml defines, no more, no fewer.

Users choose streams, OAuth scopes and sync modes from that table, and it is written by hand while the manifest keeps
growing. So the manifest is read afresh on every run and each stream's facts are derived from it: endpoint and API
version from the requester URL and `$parameters.endpoint`, primary key, cursor, whether the cursor is client-side,
and the OAuth scope from `$parameters.scope`. A stream added, renamed or changed without a docs update fails here,
and so does a config field the spec shows but the configuration reference leaves out.
"""

import re
from pathlib import Path

import pytest
import yaml
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "pipedrive.md"
STREAMS_HEADING = "## Supported streams"
COLUMNS = ["Stream", "Endpoint", "API", "Sync modes", "Primary key", "Cursor", "OAuth scope"]


def manifest_streams() -> dict:
    """{stream name: facts} for every stream of manifest.yaml's `streams:` list, with `$ref`s resolved."""
    manifest = ManifestReferenceResolver().preprocess_manifest(yaml.safe_load((ROOT / "manifest.yaml").read_text()))
    facts = {}
    for stream in manifest["streams"]:
        parameters = stream.get("$parameters", {})
        retriever = stream["retriever"]
        # Every request goes to the configurable domain, then $parameters.api_path ("{id}" = the parent's id).
        path = "/" + parameters["api_path"]
        cursor = stream.get("incremental_sync")
        modes = "full refresh, incremental" if cursor else "full refresh"
        facts[parameters["name"]] = {
            "endpoint": "GET " + re.sub(r"\{[^}]*\}", "{}", path),
            "api": "v2" if path.startswith("/api/v2/") else "v1",
            "sync modes": modes + (" (client-side)" if cursor and (cursor.get("is_client_side_incremental")
                                                                  or retriever.get("client_side_filter")) else ""),
            "primary key": ", ".join(stream["primary_key"]),
            "cursor": cursor["cursor_field"] if cursor else "–",
            "oauth scope": parameters.get("scope"),
        }
    return facts


def docs_streams() -> dict:
    """{stream name: facts} from the first table under the streams heading of the docs page, markup removed."""
    section = DOCS.read_text().split(STREAMS_HEADING + "\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[: len(COLUMNS)] == COLUMNS
    facts = {}
    for line in lines[2:]:
        cells = dict(zip(header, (plain(cell) for cell in line.strip().strip("|").split("|"))))
        assert cells["Stream"] not in facts, f"{cells['Stream']} has two rows"
        facts[cells["Stream"]] = {
            "endpoint": re.sub(r"\{[^}]*\}", "{}", cells["Endpoint"]),
            "api": cells["API"],
            "sync modes": cells["Sync modes"],
            "primary key": cells["Primary key"],
            "cursor": cells["Cursor"],
            "oauth scope": cells["OAuth scope"],
        }
    return facts


def plain(cell: str) -> str:
    """A cell's text: links reduced to their text, backticks dropped."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell).replace("`", "").strip()


def test_every_manifest_stream_has_a_row_when_the_docs_streams_table_is_read():
    missing = sorted(set(manifest_streams()) - set(docs_streams()))
    assert missing == [], f"add these streams to the table under '{STREAMS_HEADING}' in docs/pipedrive.md"


def test_every_docs_row_names_a_manifest_stream_when_the_manifest_is_read():
    unknown = sorted(set(docs_streams()) - set(manifest_streams()))
    assert unknown == [], "these rows of docs/pipedrive.md name no stream of manifest.yaml"


@pytest.mark.parametrize("fact", ["endpoint", "api", "sync modes", "primary key", "cursor", "oauth scope"])
def test_each_stream_fact_in_the_docs_equals_the_manifest_when_the_stream_is_in_both(fact):
    manifest, docs = manifest_streams(), docs_streams()
    in_both = sorted(set(manifest) & set(docs))
    assert {name: docs[name][fact] for name in in_both} == {name: manifest[name][fact] for name in in_both}


def test_the_configuration_reference_lists_every_visible_spec_field_when_the_docs_are_read():
    spec = yaml.safe_load((ROOT / "manifest.yaml").read_text())["spec"]["connection_specification"]
    visible = sorted(key for key, field in spec["properties"].items() if not field.get("airbyte_hidden"))
    section = DOCS.read_text().split("## Configuration reference\n", 1)[1].split("\n## ", 1)[0]
    rows = [[plain(cell) for cell in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ")]
    key_column = rows[0].index("Key")
    assert sorted(row[key_column] for row in rows[1:]) == visible


def test_the_changelog_names_the_packaged_version_when_the_docs_are_read():
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    changelog = DOCS.read_text().split("## Changelog\n", 1)[1]
    assert re.search(rf"^\| {re.escape(version)} \| \d{{4}}-\d{{2}}-\d{{2}} \|", changelog, re.MULTILINE)
