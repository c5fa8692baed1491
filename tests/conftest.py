"""Shared fixtures: the founding consortium deployed once per session on an in-process py-evm
chain (eth-tester), reset to that state before every test by snapshot/revert; and an anvil
per module with the consortium deployed by the SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anvil_helpers import Anvil, Deployed, deploy_consortium
from chain_helpers import AUDIT_OFFICE, CITIES, CITY_AGENCIES, TestConsortium
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from cityledger.contracts.artifacts import load_artifact
from cityledger.contracts.deployment import (
    ConsortiumSpec,
    FoundingAgency,
    FoundingCity,
    deploy_with_web3,
)

ACCOUNTS = 48


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """A fresh anvil for the module, with the consortium deployed on it by the SDK."""
    anvil = Anvil()
    anvil.start()
    try:
        yield deploy_consortium(anvil, tmp_path_factory.mktemp("deployment"))
    finally:
        anvil.stop()


@pytest.fixture(scope="session")
def _deployed() -> tuple[TestConsortium, EthereumTester]:
    backend = PyEVMBackend(genesis_state=PyEVMBackend.generate_genesis_state(num_accounts=ACCOUNTS))
    tester = EthereumTester(backend)
    w3 = Web3(EthereumTesterProvider(tester))
    keys = [Account.from_key(k.to_bytes()) for k in backend.account_keys]
    deployer, pool = keys[0], iter(keys[1:])

    admins = {city: next(pool) for city in CITIES}
    validators = {city: next(pool) for city in CITIES}
    agencies: dict[str, LocalAccount] = {}
    founding_agencies = []
    for city in CITIES:
        for suffix, name, roles in CITY_AGENCIES:
            account = next(pool)
            agencies[f"{city.lower()}.{suffix}"] = account
            founding_agencies.append(FoundingAgency(account.address, city, f"{city} {name}", roles))
    key, city, name, roles = AUDIT_OFFICE
    agencies[key] = next(pool)
    founding_agencies.append(FoundingAgency(agencies[key].address, city, name, roles))

    spec = ConsortiumSpec(
        cities=tuple(
            FoundingCity(c, admins[c].address, validators[c].address, "Heilongjiang")
            for c in CITIES
        ),
        agencies=tuple(founding_agencies),
    )
    addresses = deploy_with_web3(w3, deployer.address, spec)
    contracts = {
        name: w3.eth.contract(address=address, abi=load_artifact(name).abi)
        for name, address in addresses.items()
    }
    return (
        TestConsortium(w3, contracts, admins, validators, agencies, spare=list(pool)),
        tester,
    )


@pytest.fixture
def consortium(_deployed: tuple[TestConsortium, EthereumTester]) -> Iterator[TestConsortium]:
    """The founding consortium, fresh for each test."""
    deployed, tester = _deployed
    snapshot = tester.take_snapshot()
    yield deployed
    tester.revert_to_snapshot(snapshot)
