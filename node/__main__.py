"""`python -m cityledger.node init|start ...`"""

from cityledger.node.cli import app

app(prog_name="python -m cityledger.node")
