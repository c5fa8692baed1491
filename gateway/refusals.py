"""Why the gateway answers a request with no data: the rule that refused (the contracts' custom
error names where the rule is the contract's, the gateway's own otherwise), its arguments, the
HTTP status, and a message in the SDK's words (cityledger.sdk.errors.explain) saying what to do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from cityledger.sdk.errors import explain

# Client errors name the request's fault or the grant's state; 503 says nothing was delivered
# because the chain could not be read or written, and the same request may work later.
STATUS = {
    "MalformedRequest": 422,
    "UnknownField": 422,
    "BadFilterValue": 422,
    "GrantMismatch": 422,
    "BadSignature": 401,
    "WrongGateway": 421,
    "RequestExpired": 400,
    "RequestReplayed": 409,
    "UnknownGrant": 404,
    "DatasetNotServed": 404,
    "NotGrantee": 403,
    "MissingRole": 403,
    "WrongStatus": 403,
    "FieldsOutOfScope": 403,
    "QuotaExhausted": 403,
    "BodyTooLarge": 413,
    "Busy": 503,
    "ChainUnavailable": 503,
    "RecordFailed": 503,
}


class Refusal(Exception):
    """A request the gateway refuses; nothing is delivered."""

    def __init__(
        self,
        rule: str,
        grant_id: str | None,
        args: Mapping[str, Any],
        *,
        field: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        self.rule = rule
        self.grant_id = grant_id
        self.args_ = dict(args)
        self.field = field
        self.status = STATUS.get(rule, 400)
        self.message = explain(rule, self.args_, context)
        super().__init__(f"{rule}: {self.message}")

    def document(self) -> RefusalDocument:
        return RefusalDocument(
            error=RefusalDetail(
                grantId=self.grant_id,
                rule=self.rule,
                message=self.message,
                field=self.field,
                args=_plain(self.args_),
            )
        )


def _plain(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | bool | list) else str(v) for k, v in args.items()}


class RefusalDetail(BaseModel):
    grantId: str | None
    rule: str
    message: str
    field: str | None = None
    args: dict[str, Any]


class RefusalDocument(BaseModel):
    """The body of every refusal (4xx, and 503 when nothing could be recorded)."""

    error: RefusalDetail
