"""Turning command-line text into values: field masks, roles, times, rules."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from cityledger.sdk.allocation import AllocationRule
from cityledger.sdk.models import Role


def field_mask(spec: str) -> int:
    """'0,1,2' (field indices) or '0x7' (a mask) as a bit mask."""
    spec = spec.strip()
    try:
        if spec.lower().startswith("0x"):
            mask = int(spec, 16)
        else:
            mask = 0
            for part in spec.split(","):
                index = int(part)
                if not 0 <= index < 256:
                    raise ValueError
                mask |= 1 << index
    except ValueError:
        raise typer.BadParameter(
            f"{spec!r}: give field indices like 0,1,2 or a mask like 0x7"
        ) from None
    if mask == 0:
        raise typer.BadParameter("name at least one field")
    return mask


def roles(spec: str) -> int:
    """'grantor,grantee' as a role bit mask."""
    mask = 0
    for part in spec.split(","):
        name = part.strip().upper()
        if name not in Role.__members__:
            choices = ", ".join(r.name.lower() for r in Role)
            raise typer.BadParameter(f"unknown role {part!r} (choose from {choices})")
        mask |= Role[name].value
    return mask


def moment(text: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date/time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rule(text: str) -> AllocationRule:
    """'max-min-fair', 'proportional' or 'priority-weighted'."""
    name = text.strip().upper().replace("-", "_")
    if name not in AllocationRule.__members__:
        choices = ", ".join(r.name.lower().replace("_", "-") for r in AllocationRule)
        raise typer.BadParameter(f"unknown rule {text!r} (choose from {choices})")
    return AllocationRule[name]
