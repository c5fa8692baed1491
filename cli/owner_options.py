"""The options that name a dataset owner's files, shared by `data mark`, `leak trace` and
`leak reveal`; without them the config file's [[datasets]] table says (owner_files.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SourceOption = Annotated[
    Path | None,
    typer.Option("--source", help="The dataset's original data (default: the config's)."),
]
SchemaOption = Annotated[
    Path | None, typer.Option("--schema", help="The dataset's schema file (default: config).")
]
SecretOption = Annotated[
    Path | None, typer.Option("--secret", help="The dataset's secret (default: the config's).")
]
