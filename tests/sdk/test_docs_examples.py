"""Runs the ```python examples of docs/sdk.md, in order and in one namespace, against anvil."""

from __future__ import annotations

import re
from pathlib import Path

from anvil_helpers import REPO, Deployed, role_key

EXAMPLE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_sdk_doc_examples_run(deployed: Deployed) -> None:
    blocks = EXAMPLE.findall((REPO / "docs" / "sdk.md").read_text())
    assert len(blocks) >= 6
    namespace: dict[str, object] = {
        "RPC_URL": deployed.anvil.url,
        "MANIFEST": deployed.manifest_path,
        "Path": Path,
        "jiamusi_bdc": role_key("jiamusi.bdc"),
        "harbin_health": role_key("harbin.health"),
        "auditor": role_key("harbin.audit"),
        **{
            f"{city}_admin": role_key(f"{city}.admin")
            for city in ("harbin", "qiqihar", "jiamusi", "daqing")
        },
    }
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/sdk.md example {number}", "exec"), namespace)
