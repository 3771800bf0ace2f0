"""metadata.yaml, pyproject.toml, the Dockerfile, the wheel and the manifest must tell one story.

Airbyte publishes the image tagged with metadata's dockerImageTag, runs its ENTRYPOINT, builds it FROM the base image
metadata names, and lets it reach only metadata's allowedHosts; pip installs the wheel pyproject describes. Each of
these is written by hand in a different file, and a mismatch surfaces only after release (an image that reports
another version, a command that is not in the image, a manifest in the wheel older than the one tested). Building
the wheel needs hatchling, which pip fetches into its isolated build environment, like `pip install .` does.
"""

import fnmatch
import importlib
import json
import re
import shlex
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10; pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
METADATA = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MANIFEST_BYTES = (ROOT / "manifest.yaml").read_bytes()
MANIFEST = yaml.safe_load(MANIFEST_BYTES)
EXECUTABLE = Path(sys.executable).parent / "source-pipedrive"


def dockerfile_instructions() -> list:
    """(INSTRUCTION, arguments) for each instruction of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile(keyword: str) -> list:
    return [arguments for instruction, arguments in dockerfile_instructions() if instruction == keyword]


def dockerfile_labels() -> dict:
    return dict(pair.split("=", 1) for arguments in dockerfile("LABEL") for pair in shlex.split(arguments))


def dockerfile_env() -> dict:
    return dict(pair.split("=", 1) for arguments in dockerfile("ENV") for pair in shlex.split(arguments))


def values_of(node, keys: set) -> set:
    """Every string value of the given keys anywhere in the parsed manifest."""
    if isinstance(node, dict):
        found = {value for key, value in node.items() if key in keys and isinstance(value, str)}
        return found.union(*(values_of(value, keys) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(values_of(item, keys) for item in node))
    return set()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    completed = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out),
                                str(ROOT)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    (path,) = out.glob("source_pipedrive-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_the_version_is_the_same_when_read_from_metadata_pyproject_and_the_image_label():
    version = PYPROJECT["project"]["version"]
    assert METADATA["dockerImageTag"] == version
    assert dockerfile_labels()["io.airbyte.version"] == version


def test_the_image_name_is_the_same_when_read_from_metadata_and_the_image_label():
    assert dockerfile_labels()["io.airbyte.name"] == METADATA["dockerRepository"] == "airbyte/source-pipedrive"


def test_the_image_builds_from_the_pinned_base_image_when_no_other_base_is_passed():
    """The one FROM takes BASE_IMAGE, whose default is metadata's pinned base (scripts/image-test may pass a stand-in)."""
    instructions = dockerfile_instructions()
    first_from = [keyword for keyword, _ in instructions].index("FROM")
    defaults = dict(arguments.split("=", 1) for keyword, arguments in instructions[:first_from] if keyword == "ARG")
    assert dockerfile("FROM") == ["${BASE_IMAGE}"]
    assert defaults == {"BASE_IMAGE": METADATA["connectorBuildOptions"]["baseImage"]}
    assert "@sha256:" in METADATA["connectorBuildOptions"]["baseImage"]


def test_the_image_installs_as_root_and_runs_as_the_base_images_airbyte_user_when_started():
    """Airbyte's Python connector images run as the base's non-root `airbyte` user (uid 1000); pip needs root."""
    order = [(keyword, arguments) for keyword, arguments in dockerfile_instructions() if keyword in ("USER", "RUN")]
    assert order[0] == ("USER", "root")
    assert order[-1] == ("USER", "airbyte")
    assert all(arguments.startswith("pip install --no-cache-dir") for keyword, arguments in order if keyword == "RUN")


def test_the_build_context_holds_only_what_the_image_copies_when_a_secrets_folder_exists():
    """.dockerignore excludes everything else, so secrets/, .venv and demo databases never reach the engine."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    copied = {source.rstrip("/") for arguments in dockerfile("COPY") for source in shlex.split(arguments)[:-1]}
    assert rules[0] == "*"
    assert {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")} == copied


def test_the_image_runs_the_console_script_pyproject_declares_when_the_platform_starts_it():
    assert PYPROJECT["project"]["scripts"] == {"source-pipedrive": "source_pipedrive.run:run"}
    assert [json.loads(arguments) for arguments in dockerfile("ENTRYPOINT")] == [["source-pipedrive"]]
    assert dockerfile_env()["AIRBYTE_ENTRYPOINT"] == "source-pipedrive"


def test_the_console_script_target_is_a_function_when_imported():
    module, _, function = PYPROJECT["project"]["scripts"]["source-pipedrive"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_the_image_build_has_every_file_when_it_builds_the_wheel():
    wheel_target = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", PYPROJECT["project"]["readme"], *wheel_target["packages"],
              *wheel_target["force-include"]}
    copied = {source.rstrip("/") for arguments in dockerfile("COPY") for source in shlex.split(arguments)[:-1]}
    assert needed == {"pyproject.toml", "README.md", "source_pipedrive", "manifest.yaml"}
    assert needed <= copied


def test_the_wheel_carries_the_top_level_manifest_byte_for_byte_when_built_from_the_repository(wheel):
    assert wheel.read("source_pipedrive/manifest.yaml") == MANIFEST_BYTES


def test_the_wheel_carries_every_module_and_the_console_script_when_built_from_the_repository(wheel):
    modules = {f"source_pipedrive/{path.name}" for path in (ROOT / "source_pipedrive").glob("*.py")}
    assert modules <= set(wheel.namelist())
    assert "[console_scripts]\nsource-pipedrive = source_pipedrive.run:run" in wheel.read(
        next(name for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt"))).decode()


def test_every_manifest_class_name_imports_and_ships_when_the_wheel_is_built(wheel):
    names = values_of(MANIFEST, {"class_name"})
    assert names, "the manifest names no custom component: the check below would prove nothing"
    for name in sorted(names):
        module, _, attribute = name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), attribute), type), name
        assert module.replace(".", "/") + ".py" in wheel.namelist(), name


def test_every_host_the_manifest_calls_is_allowed_when_metadata_allowed_hosts_apply():
    allowed = METADATA["allowedHosts"]["hosts"]
    templates = values_of(MANIFEST, {"url", "url_base", "token_refresh_endpoint", "consent_url", "access_token_url"})
    hosts = {host for template in templates for host in re.findall(r"https://([A-Za-z0-9.-]+)", template)}
    assert "*.pipedrive.com" in allowed
    assert {"api.pipedrive.com", "oauth.pipedrive.com"} <= hosts
    assert [h for h in sorted(hosts) if not any(fnmatch.fnmatch(h, pattern) for pattern in allowed)] == []


def test_metadata_identifies_a_python_low_code_source_when_the_registry_reads_it():
    assert str(uuid.UUID(METADATA["definitionId"])) == METADATA["definitionId"]
    assert {"language:python", "cdk:low-code"} <= set(METADATA["tags"])
    assert METADATA["connectorType"] == "source"
    assert METADATA["documentationUrl"] == MANIFEST["spec"]["documentation_url"]


def test_the_installed_command_runs_the_packaged_manifest_when_the_working_directory_has_another(tmp_path):
    decoy = {**MANIFEST, "spec": {**MANIFEST["spec"], "connection_specification": {
        "type": "object", "title": "Decoy manifest in the working directory", "properties": {}}}}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(decoy))

    completed = subprocess.run([str(EXECUTABLE), "spec"], cwd=tmp_path, capture_output=True, text=True, timeout=120)

    specs = [json.loads(line)["spec"] for line in completed.stdout.splitlines() if line.startswith('{"type":"SPEC"')]
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert [spec["connectionSpecification"]["title"] for spec in specs] == ["Pipedrive Spec"]
    packaged = MANIFEST["spec"]["connection_specification"]
    assert specs[0]["connectionSpecification"]["properties"].keys() == packaged["properties"].keys()
