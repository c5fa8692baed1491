"""A command group whose sub-commands are imported when one of them runs.

Each group of `cityledger` (grant, audit, node, ...) lives in its own module, and those modules
import what their commands need: web3 and the contracts' ABIs, py-evm, pyarrow. Importing them
all costs seconds on every run, `--help` included; a group here is imported only when the
command line names it, and the list in `--help` comes from a table, not from the modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from importlib import import_module
from typing import Any, ClassVar

import typer
from typer import _click  # typer vendors its own click
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Subcommand:
    """A group of the command line: its name, its one-line help, and the module whose typer
    `app` it is. `extra` is the pip extra that brings its dependencies when the SDK's are not
    enough, `runs` what it runs (for the message when they are missing); `also` names
    commands of other modules it includes, as (command name, "module:function")."""

    name: str
    help: str
    module: str
    extra: str | None = None
    runs: str = ""
    also: tuple[tuple[str, str], ...] = ()

    def load(self) -> _click.Command:
        try:
            app: typer.Typer = import_module(self.module).app
        except ModuleNotFoundError as exc:
            if self.extra is None or not exc.name or exc.name.startswith("cityledger"):
                raise
            return self._stand_in(str(exc.name))
        for name, target in self.also:
            module, function = target.split(":")
            app.command(name)(getattr(import_module(module), function))
        command = typer.main.get_command(app)
        command.name, command.help = self.name, self.help
        # Shell completion is installed from the top command, not from each group.
        command.params = [p for p in command.params if "completion" not in (p.name or "")]
        return command

    def _stand_in(self, missing: str) -> _click.Command:
        """Where only the SDK's dependencies are installed: whatever follows the group's name,
        it says what to install."""
        message = (
            f"`cityledger {self.name}` runs {self.runs}, whose dependencies are not installed "
            f"({missing} is missing): pip install 'cityledger[{self.extra}]'"
        )

        def refuse(**_: Any) -> None:
            from cityledger.cli.context import CliError

            raise CliError(message)

        return TyperCommand(
            self.name,
            callback=refuse,
            help=f"(needs cityledger[{self.extra}]: {missing} is not installed)",
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
            add_help_option=False,
        )


class LazyGroup(TyperGroup):
    """A TyperGroup whose sub-commands are the `subcommands` table, each loaded on first use."""

    subcommands: ClassVar[tuple[Subcommand, ...]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False  # while help is printed: the table's help, nothing imported

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [s.name for s in self.subcommands] + [
            n for n in self.commands if n not in self._table
        ]

    @property
    def _table(self) -> dict[str, Subcommand]:
        return {s.name: s for s in self.subcommands}

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = self._table.get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            return TyperCommand(cmd_name, help=entry.help)
        self.commands[cmd_name] = entry.load()
        return self.commands[cmd_name]

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        """As click resolves a command, suggesting close names from the whole table."""
        try:
            return self._click_resolve_command(ctx, args)
        except UsageError as exc:
            close = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if close:
                exc.message = (
                    exc.message.rstrip(".") + ". Did you mean " + ", ".join(map(repr, close)) + "?"
                )
            raise
