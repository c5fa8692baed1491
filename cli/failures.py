"""A failure as one line for people: what went wrong in the user's terms and what to do, never
a library's internals (`[Errno 2] ...`, `HTTPConnectionPool(...)`)."""

from __future__ import annotations

from typer import TyperException


def one_line(text: str) -> str:
    return " ".join(text.split())


def describe_os_error(error: OSError) -> str:
    """A file that cannot be used, named with what is wrong with it."""
    name = error.filename
    if name is None:
        return error.strerror or str(error)
    if isinstance(error, FileNotFoundError):
        return f"no such file or folder: {name}"
    if isinstance(error, PermissionError):
        return f"{name}: permission denied"
    if isinstance(error, IsADirectoryError):
        return f"{name} is a folder, not a file"
    if isinstance(error, NotADirectoryError):
        return f"{name}: a part of this path is a file, not a folder"
    if isinstance(error, FileExistsError):
        return f"{name} exists already"
    return f"{name}: {error.strerror or error}"


def expected_failure(error: Exception) -> str | None:
    """The line for a failure that means "this did not happen, here is why", or None for a bug
    (which keeps its traceback)."""
    import requests

    from cityledger.cli.context import CliError
    from cityledger.cli.hints import hint_for
    from cityledger.cli.settings import SettingsError
    from cityledger.sdk.errors import LedgerError, connection_failure

    if isinstance(error, requests.RequestException):
        text = connection_failure(error)
    elif isinstance(error, OSError) and not isinstance(error, LedgerError):
        text = describe_os_error(error)
    elif isinstance(error, CliError | LedgerError | SettingsError | ValueError):
        text = str(error)
    else:
        return None
    hint = hint_for(error)  # on the same line: a refusal is one line, for people and scripts
    return one_line(text) + (f"; {hint}" if hint else "")


def usage_error(error: TyperException) -> str:
    """A bad command line, as click words it, on one line."""
    format_message = getattr(error, "format_message", None)
    return one_line(format_message() if format_message is not None else str(error))
