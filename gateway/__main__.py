"""`python -m cityledger.gateway serve --config FILE`"""

from cityledger.gateway.cli import app

app(prog_name="python -m cityledger.gateway")
