"""Global options where people put them: `cityledger dataset list --json` is read as
`cityledger --json dataset list`.

Click takes a group's options only before its sub-command. A global option written after the
command is moved in front of it, unless that command has an option of the same name, which
then keeps it (`audit verify --rpc URL` names the nodes to check).
"""

from __future__ import annotations

from typer import _click  # typer vendors its own click
from typer.core import TyperGroup


def _options(command: _click.Command) -> dict[str, bool]:
    """A command's option names, each with whether it takes a value."""
    found: dict[str, bool] = {}
    for param in command.params:
        if param.param_type_name != "option":
            continue
        takes_value = not getattr(param, "is_flag", False) and not getattr(param, "count", False)
        for name in [*param.opts, *param.secondary_opts]:
            found[name] = takes_value
    return found


def _span(token: str, options: dict[str, bool]) -> int:
    """How many tokens an option occupies: 2 when its value is the next one."""
    name, has_value = token.split("=", 1)[0], "=" in token
    return 2 if options.get(name) and not has_value else 1


def hoisted(args: list[str], root: TyperGroup) -> list[str]:
    """`args` with the root group's options that follow the command moved before it."""
    ctx = _click.Context(root)
    global_options = _options(root)
    start = 0
    while start < len(args) and args[start].startswith("-") and args[start] != "--":
        start += _span(args[start], global_options)
    command: _click.Command = root
    end = start
    while isinstance(command, TyperGroup) and end < len(args):
        found = command.get_command(ctx, args[end])
        if found is None:
            return args  # not a command: click says so
        command, end = found, end + 1
    if command is root:
        return args
    own = _options(command)
    moved: list[str] = []
    kept: list[str] = []
    index = end
    while index < len(args):
        token = args[index]
        if token == "--":
            kept += args[index:]
            break
        name = token.split("=", 1)[0]
        if name not in own and name in global_options:
            span = _span(token, global_options)
            moved += args[index : index + span]
        else:
            span = _span(token, own)
            kept += args[index : index + span]
        index += span
    return args[:start] + moved + args[start:end] + kept
