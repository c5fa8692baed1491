"""A validator that proposes blocks with forbidden transactions: the node's own code, run as
`python byzantine_proposer.py start ...` (the arguments of `python -m cityledger.node`), with
every batch it takes for a block it builds extended by transactions no honest pool admits: one
from an account that is not a registered agency, and one without replay protection (no chain
id). It executes them into its block like any other; honest validators must refuse the block.
The chain id comes from BYZANTINE_CHAIN_ID."""

from __future__ import annotations

import os

from eth.abc import SignedTransactionAPI
from eth_account import Account

from cityledger.node.cli import app
from cityledger.node.execution.transactions import CityTransactionBuilder
from cityledger.node.txpool import TxPool

STRANGER = Account.from_key(b"\x42" * 32)
UNPROTECTED = Account.from_key(b"\x43" * 32)


def forbidden(chain_id: int) -> list[SignedTransactionAPI]:
    fees = {"gas": 21_000, "value": 0}
    from_stranger = STRANGER.sign_transaction(
        {
            "type": 2,
            "chainId": chain_id,
            "nonce": 0,
            "to": STRANGER.address,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            **fees,
        }
    )
    unprotected = UNPROTECTED.sign_transaction(
        {"nonce": 0, "to": UNPROTECTED.address, "gasPrice": 0, **fees}
    )
    return [
        CityTransactionBuilder.decode(bytes(signed.raw_transaction))
        for signed in (from_stranger, unprotected)
    ]


def main() -> None:
    extra = forbidden(int(os.environ["BYZANTINE_CHAIN_ID"]))
    honest_take = TxPool.take_batch

    def take_batch(
        pool: TxPool, gas_limit: int, max_count: int | None = None
    ) -> list[SignedTransactionAPI]:
        return honest_take(pool, gas_limit, max_count) + extra

    TxPool.take_batch = take_batch  # type: ignore[method-assign]
    app(prog_name="byzantine_proposer.py")


if __name__ == "__main__":
    main()
