"""cityledger.cli: the `cityledger` command (main.py)."""
