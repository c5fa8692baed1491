"""Deploys the five system contracts on any Ethereum JSON-RPC node (anvil, Besu, ...) through
cityledger.contracts.deployment, and writes the manifest the SDK and CLI connect with."""

from __future__ import annotations

from pathlib import Path

from cityledger.contracts.deployment import ConsortiumSpec, DeploymentError, deploy_with_web3
from cityledger.sdk.chain import connect_web3, translated_errors
from cityledger.sdk.errors import LedgerRevert
from cityledger.sdk.manifest import Manifest
from cityledger.sdk.signers import Signer


def deploy(
    rpc_url: str,
    deployer: Signer,
    spec: ConsortiumSpec,
    *,
    manifest_path: Path | None = None,
) -> Manifest:
    """Deploys and bootstraps the consortium described by `spec`, signing with `deployer`;
    writes the manifest to `manifest_path` when given."""
    w3 = connect_web3(rpc_url)
    with translated_errors("deploy"):
        first_block = int(w3.eth.block_number) + 1
        try:
            addresses = deploy_with_web3(w3, deployer.address, spec, deployer.private_key)
        except DeploymentError as exc:
            raise LedgerRevert(str(exc)) from None
        chain_id = int(w3.eth.chain_id)
    manifest = Manifest(chain_id, dict(addresses), deployer.address, first_block)
    if manifest_path is not None:
        manifest.write(manifest_path)
    return manifest
