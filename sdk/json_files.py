"""Reading the SDK's JSON files (deployment manifests, offer files, keystores) with errors that
name the file and what was expected of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_object(path: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """The JSON object in `path`; raises `error` saying why it is not a `what`."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"no {what} at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not a {what} (invalid JSON: {exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path} is not a {what}")
    return data
