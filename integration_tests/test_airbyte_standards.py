"""Airbyte's standard connector tests (airbyte_cdk.test.standard_tests) over acceptance-test-config.yml's scenarios.

These are the checks Airbyte runs on every connector before it ships: the spec lints, each config validates against
it, check reports the declared status without leaking a secret, discover returns a sound catalog, a full read of
every stream returns records that match their schemas, and a broken catalog fails the read. They run in-process
against the emulator that the root conftest.py serves at the address the scenario configs name.

The same checks on the connector's Docker image (mark `image_tests`) are deselected by scripts/test and run by
scripts/image-test, which builds the image and passes it with `--connector-image`.
"""

import pytest
from airbyte_cdk.models import FailureType, Type
from airbyte_cdk.test.models import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from airbyte_cdk.test.standard_tests._job_runner import IConnector, run_test_job
from airbyte_cdk.utils.docker import run_docker_airbyte_command

from source_pipedrive import SourcePipedrive

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]


class TestSourcePipedrive(SourceTestSuiteBase):
    # The suite would guess the module from the repository folder's name; name the connector instead.
    connector = SourcePipedrive
    connector_name = "source-pipedrive"

    @classmethod
    def create_connector(cls, scenario: ConnectorTestScenario | None) -> IConnector:
        """The source built with the scenario's config, as source_pipedrive.run does.

        The suite's default builds `SourcePipedrive()` and passes the config only on the command line, but the
        concurrent declarative source of CDK 7.39 builds its streams from the config it was constructed with.
        """
        if scenario is None:  # `spec` needs no config
            return SourcePipedrive()
        return SourcePipedrive(config=scenario.get_config_dict(connector_root=cls.get_connector_root_dir(),
                                                               empty_if_missing=True))

    def test_discover(self, scenario: ConnectorTestScenario) -> None:
        """Discover must fail for a config whose `discovery` entry expects failure; otherwise the suite's test.

        The suite skips discover for such a config, because some connectors discover without calling the API.
        This one reads each entity's Fields API to type the custom-field columns, so a bad token must fail here
        too; run_test_job asserts the error.
        """
        if scenario.runs("discover") and scenario.expected_outcome.expect_exception():
            run_test_job(self.create_connector(scenario), "discover", connector_root=self.get_connector_root_dir(),
                         test_scenario=scenario)
            return
        super().test_discover(scenario)

    @pytest.mark.image_tests  # an override does not inherit the suite's marks
    def test_docker_image_build_and_discover(
        self, scenario: ConnectorTestScenario, connector_image_override: str | None,
        connector_base_image_override: str | None,
    ) -> None:
        """Discover in the image must fail for a config whose `discovery` entry expects failure; else the suite's test.

        The suite skips such configs ("expected to fail"); test_discover above says why this connector tests them.
        """
        if scenario.runs("discover") and scenario.expected_outcome.expect_exception():
            self._assert_discover_fails_in_image(scenario, connector_image_override, connector_base_image_override)
            return
        super().test_docker_image_build_and_discover(scenario, connector_image_override, connector_base_image_override)

    @pytest.mark.image_tests
    def test_docker_image_build_and_read(
        self, scenario: ConnectorTestScenario, connector_image_override: str | None,
        connector_base_image_override: str | None, read_from_streams, read_scenarios,
    ) -> None:
        """A read expected to fail must fail in the image as it does in-process; else the suite's test.

        In-process, the suite's test_basic_read counts such a read as failed when its discover fails, which needs no
        catalog; the image test skips the config instead. Here the image's discover must fail the same way.
        """
        if scenario.runs("read") and scenario.expected_outcome.expect_exception():
            self._assert_discover_fails_in_image(scenario, connector_image_override, connector_base_image_override)
            return
        super().test_docker_image_build_and_read(scenario, connector_image_override, connector_base_image_override,
                                                 read_from_streams, read_scenarios)

    def _assert_discover_fails_in_image(self, scenario: ConnectorTestScenario, connector_image_override: str | None,
                                        connector_base_image_override: str | None) -> None:
        image = self._connector_image(connector_image_override, connector_base_image_override)
        with scenario.with_temp_config_file(connector_root=self.get_connector_root_dir()) as config_file:
            result = run_docker_airbyte_command(
                ["docker", "run", "--rm", "-v", f"{config_file}:/secrets/config.json:ro", image, "discover", "--config",
                 "/secrets/config.json"])
        # A config error, as the emulator's 401 gives: an image that cannot reach the emulator fails otherwise. (The
        # CDK adds a system error of its own for the non-zero exit.)
        assert FailureType.config_error in {error.trace.error.failure_type for error in result.errors}, \
            result.get_formatted_error_message() or f"discover in {image} did not fail for {scenario.id}"
        assert not result.get_message_by_types([Type.CATALOG]), f"{image} emitted a catalog for {scenario.id}"
