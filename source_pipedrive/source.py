from importlib.resources import files
from pathlib import Path
from typing import Any, List, Mapping, Optional

from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource


def manifest_path() -> Path:
    """The manifest this package runs: the copy inside the wheel, else the repository's top-level one.

    An absolute path, because the CDK would otherwise prefer any manifest.yaml in the working directory.
    """
    packaged = Path(str(files("source_pipedrive"))) / "manifest.yaml"
    return packaged if packaged.is_file() else Path(__file__).resolve().parent.parent / "manifest.yaml"


class SourcePipedrive(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
    ) -> None:
        super().__init__(
            path_to_yaml=str(manifest_path()), catalog=catalog, config=config, state=state, config_path=config_path
        )
