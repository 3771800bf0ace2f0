from source_pipedrive.source import SourcePipedrive

__all__ = ["SourcePipedrive"]
