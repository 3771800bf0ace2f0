"""The `source-pipedrive` command. A read that must not send anything (the daily budget cannot have reset yet)
answers at once, without loading airbyte-cdk (outcome.py); everything else runs the connector (cli.py)."""

import sys


def run() -> None:
    from source_pipedrive.outcome import answer_without_reading

    status = answer_without_reading(sys.argv[1:])
    if status is not None:
        sys.stdout.flush()
        sys.exit(status)
    from source_pipedrive.cli import run as run_connector

    run_connector()


if __name__ == "__main__":
    run()
