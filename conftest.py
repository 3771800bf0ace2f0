# Puts the repository root on sys.path, so tests import `integration_tests.emulator` and Airbyte's standard test
# suite finds the connector root, wherever pytest is started from.
