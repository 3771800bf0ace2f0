from source_pipedrive import adapters
from source_pipedrive.interpreter import serialise_ast_parsing

serialise_ast_parsing()
adapters.skip_attribute_docs()  # before airbyte-cdk is imported: over a second of every start


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # Loaded on first use: a read that only waits for the daily budget (outcome.py) never imports airbyte-cdk.
    if name == "SourcePipedrive":
        from source_pipedrive.source import SourcePipedrive

        return SourcePipedrive
    raise AttributeError(name)


__all__ = ["SourcePipedrive"]
