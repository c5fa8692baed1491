"""The wheel's package list, derived from the tree: every folder of the design's top-level
packages ships as `cityledger.<folder>`, data folders (contracts/build) included. A hand-kept
list once left `node/consensus` out, so a folder holding Python modules without an
`__init__.py` stops the build instead of vanishing."""

from pathlib import Path

from setuptools import setup

TOP_LEVEL = ("contracts", "node", "sdk", "fingerprint", "gateway", "cli", "testnet")


def packages() -> list[str]:
    found = []
    for top in TOP_LEVEL:
        for folder in [Path(top), *sorted(p for p in Path(top).rglob("*") if p.is_dir())]:
            if folder.name == "__pycache__":
                continue
            if any(folder.glob("*.py")) and not (folder / "__init__.py").exists():
                raise SystemExit(f"{folder} holds Python modules but no __init__.py")
            found.append("cityledger." + ".".join(folder.parts))
    return found


setup(packages=packages(), package_dir={"cityledger": "."})
