from source_pipedrive.interpreter import serialise_ast_parsing

serialise_ast_parsing()

from source_pipedrive.source import SourcePipedrive  # noqa: E402 - after the interpreter guard, before any thread

__all__ = ["SourcePipedrive"]
