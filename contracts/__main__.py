"""`python -m cityledger.contracts build|check|list`, the same as `cityledger contracts ...`."""

from cityledger.cli.contracts_commands import app

app(prog_name="python -m cityledger.contracts")
