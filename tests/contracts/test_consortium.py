"""Consortium: founding cities, agencies and roles, and governance by more than two thirds."""

from __future__ import annotations

from chain_helpers import (
    CITIES,
    ROLE_ALLOCATOR,
    ROLE_AUDITOR,
    ROLE_GRANTEE,
    ROLE_GRANTOR,
    TestConsortium,
    reverts_with,
)
from eth_account import Account

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS
from cityledger.contracts.deployment import city_id, text32

ADMIT, REMOVE, CHANGE_VALIDATOR, CHANGE_ADMIN, SET_RULE, SET_AUDITOR = range(6)
OPEN, EXECUTED, EXPIRED = 1, 2, 3
WEEK = 7 * 24 * 3600


def _last_proposal(c: TestConsortium) -> int:
    return int(c.consortium.functions.proposalCount().call())


def _vote_by(c: TestConsortium, proposal_id: int, cities: list[str]) -> None:
    for city in cities:
        c.transact(c.consortium.functions.vote(proposal_id), c.admins[city])


def _status(c: TestConsortium, proposal_id: int) -> tuple[int, int, int]:
    _, status, votes, needed = c.consortium.functions.getProposal(proposal_id).call()
    return int(status), int(votes), int(needed)


def test_founding_cities_agencies_and_system_contracts(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    assert con.memberCount().call() == len(CITIES)
    assert con.bootstrapping().call() is False
    assert con.getValidators().call() == [consortium.validators[c].address for c in CITIES]
    assert con.memberCities().call() == [city_id(c) for c in CITIES]
    name, admin, validator, region, status, _, membership = con.getCity(city_id("Jiamusi")).call()
    assert membership == 1
    assert (name, admin, validator, status) == (
        "Jiamusi",
        consortium.admins["Jiamusi"].address,
        consortium.validators["Jiamusi"].address,
        1,
    )
    assert region == text32("Heilongjiang")
    for name in SYSTEM_CONTRACTS[1:]:
        assert con.systemContract(text32(name)).call() == consortium.contracts[name].address
    auditor = consortium.agencies["audit"].address
    assert con.hasRole(auditor, ROLE_AUDITOR).call()
    assert con.cityOfAgency(auditor).call() == city_id("Harbin")
    bdc = consortium.agencies["jiamusi.bdc"].address
    assert con.hasRole(bdc, ROLE_GRANTOR | ROLE_GRANTEE).call()
    assert not con.hasRole(bdc, ROLE_AUDITOR).call()
    assert not con.hasRole(bdc, 0).call()


def test_transaction_permissioning_view(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    assert con.isPermittedSender(consortium.admins["Harbin"].address).call()
    assert con.isPermittedSender(consortium.agencies["harbin.health"].address).call()
    assert not con.isPermittedSender(consortium.validators["Harbin"].address).call()
    assert not con.isPermittedSender(Account.create().address).call()


def test_bootstrap_is_closed_for_good(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    deployer = consortium.w3.eth.accounts[0]
    with reverts_with("Consortium", "BootstrapClosed"):
        con.bootstrapCity(
            "Suihua", Account.create().address, Account.create().address, text32("x")
        ).transact({"from": deployer})
    with reverts_with("Consortium", "BootstrapClosed"):
        con.finishBootstrap().transact({"from": deployer})


def test_city_admin_registers_and_manages_its_agencies(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    admin = consortium.admins["Daqing"]
    transport = Account.create()
    receipt = consortium.transact(
        con.registerAgency(transport.address, "Daqing Transport Bureau", ROLE_GRANTEE), admin
    )
    event = consortium.consortium.events.AgencyRegistered().process_receipt(receipt)[0]["args"]
    assert event["agency"] == transport.address and event["cityId"] == city_id("Daqing")
    assert con.hasRole(transport.address, ROLE_GRANTEE).call()
    assert con.isPermittedSender(transport.address).call()
    assert transport.address in con.agenciesOf(city_id("Daqing")).call()

    consortium.transact(con.setAgencyRoles(transport.address, ROLE_GRANTEE | ROLE_ALLOCATOR), admin)
    assert con.hasRole(transport.address, ROLE_ALLOCATOR).call()

    consortium.transact(con.deactivateAgency(transport.address), admin)
    assert not con.hasRole(transport.address, ROLE_GRANTEE).call()
    assert not con.isPermittedSender(transport.address).call()
    with reverts_with("Consortium", "AgencyInactive"):
        con.setAgencyRoles(transport.address, ROLE_GRANTEE).transact({"from": admin.address})


def test_agency_registration_refusals(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    admin = consortium.admins["Daqing"].address
    fresh = Account.create().address
    with reverts_with("Consortium", "NotCityAdmin"):
        con.registerAgency(fresh, "x", ROLE_GRANTEE).transact(
            {"from": consortium.agencies["daqing.bdc"].address}
        )
    with reverts_with("Consortium", "AuditorRoleNeedsVote"):
        con.registerAgency(fresh, "Daqing Audit", ROLE_AUDITOR).transact({"from": admin})
    for bad_roles in (0, 32):
        with reverts_with("Consortium", "InvalidRoles"):
            con.registerAgency(fresh, "x", bad_roles).transact({"from": admin})
    with reverts_with("Consortium", "EmptyName"):
        con.registerAgency(fresh, "", ROLE_GRANTEE).transact({"from": admin})
    with reverts_with("Consortium", "AddressInUse"):
        con.registerAgency(consortium.agencies["harbin.bdc"].address, "x", ROLE_GRANTEE).transact(
            {"from": admin}
        )
    with reverts_with("Consortium", "AddressInUse"):
        con.registerAgency(consortium.admins["Harbin"].address, "x", ROLE_GRANTEE).transact(
            {"from": admin}
        )
    with reverts_with("Consortium", "NotAgencyOfCity"):
        con.setAgencyRoles(consortium.agencies["harbin.bdc"].address, ROLE_GRANTEE).transact(
            {"from": admin}
        )
    with reverts_with("Consortium", "NotAgencyOfCity"):
        con.deactivateAgency(consortium.agencies["harbin.bdc"].address).transact({"from": admin})


def test_admitting_a_city_needs_more_than_two_thirds(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    admin, validator = Account.create(), Account.create()
    consortium.transact(
        con.proposeAdmitCity("Suihua", admin.address, validator.address, text32("Heilongjiang")),
        consortium.admins["Harbin"],
    )
    pid = _last_proposal(consortium)
    assert _status(consortium, pid) == (OPEN, 1, 4)  # 4 of 5 is the least that is > 2/3
    _vote_by(consortium, pid, ["Qiqihar", "Mudanjiang"])
    assert _status(consortium, pid) == (OPEN, 3, 4)
    assert not con.isActiveCity(city_id("Suihua")).call()
    with reverts_with("Consortium", "AlreadyVoted"):
        con.vote(pid).transact({"from": consortium.admins["Qiqihar"].address})
    _vote_by(consortium, pid, ["Jiamusi"])
    assert _status(consortium, pid)[0] == EXECUTED
    assert con.isActiveCity(city_id("Suihua")).call()
    assert con.memberCount().call() == 6
    assert con.getValidators().call()[-1] == validator.address
    assert con.isPermittedSender(admin.address).call()
    assert con.votesNeeded().call() == 5  # 5 of 6
    with reverts_with("Consortium", "ProposalNotOpen"):
        con.vote(pid).transact({"from": consortium.admins["Daqing"].address})


def test_proposal_refusals(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    harbin = consortium.admins["Harbin"].address
    with reverts_with("Consortium", "NotCityAdmin"):
        con.proposeRemoveCity(city_id("Daqing")).transact(
            {"from": consortium.agencies["harbin.bdc"].address}
        )
    with reverts_with("Consortium", "CityAlreadyMember"):
        con.proposeAdmitCity(
            "Daqing", Account.create().address, Account.create().address, text32("x")
        ).transact({"from": harbin})
    with reverts_with("Consortium", "AddressInUse"):
        con.proposeAdmitCity(
            "Suihua", consortium.admins["Daqing"].address, Account.create().address, text32("x")
        ).transact({"from": harbin})
    with reverts_with("Consortium", "AddressInUse"):
        con.proposeChangeValidator(
            city_id("Daqing"), consortium.validators["Harbin"].address
        ).transact({"from": harbin})
    with reverts_with("Consortium", "EmptyName"):
        con.proposeAdmitCity(
            "", Account.create().address, Account.create().address, text32("x")
        ).transact({"from": harbin})
    with reverts_with("Consortium", "UnknownCity"):
        con.proposeRemoveCity(city_id("Atlantis")).transact({"from": harbin})
    with reverts_with("Consortium", "UnknownProposal"):
        con.vote(999).transact({"from": harbin})
    with reverts_with("Consortium", "InvalidRuleValue"):
        con.proposeSetRule(text32("VOTING_PERIOD"), 60).transact({"from": harbin})
    with reverts_with("Consortium", "UnknownAgency"):
        con.proposeSetAuditor(Account.create().address, True).transact({"from": harbin})


def test_proposals_expire(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    consortium.transact(con.proposeRemoveCity(city_id("Daqing")), consortium.admins["Harbin"])
    pid = _last_proposal(consortium)
    consortium.time_travel(WEEK + 60)
    assert _status(consortium, pid)[0] == EXPIRED
    with reverts_with("Consortium", "ProposalNotOpen"):
        con.vote(pid).transact({"from": consortium.admins["Qiqihar"].address})
    assert con.isActiveCity(city_id("Daqing")).call()


def test_removing_a_city_removes_its_validator_and_permissions(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    consortium.transact(con.proposeRemoveCity(city_id("Daqing")), consortium.admins["Harbin"])
    pid = _last_proposal(consortium)
    assert _status(consortium, pid) == (OPEN, 1, 3)  # more than 2/3 of the four others
    _vote_by(consortium, pid, ["Qiqihar", "Mudanjiang"])
    assert not con.isActiveCity(city_id("Daqing")).call()
    assert con.memberCount().call() == 4
    assert consortium.validators["Daqing"].address not in con.getValidators().call()
    assert not con.isPermittedSender(consortium.admins["Daqing"].address).call()
    assert not con.hasRole(consortium.agencies["daqing.bdc"].address, ROLE_GRANTOR).call()
    assert city_id("Daqing") in con.allCities().call()
    with reverts_with("Consortium", "NotCityAdmin"):
        con.vote(pid).transact({"from": consortium.admins["Daqing"].address})


def test_a_removed_citys_earlier_vote_stops_counting(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    consortium.transact(
        con.proposeSetRule(text32("VOTING_PERIOD"), 2 * WEEK), consortium.admins["Daqing"]
    )
    rule_pid = _last_proposal(consortium)
    consortium.transact(con.proposeRemoveCity(city_id("Daqing")), consortium.admins["Harbin"])
    _vote_by(consortium, _last_proposal(consortium), ["Qiqihar", "Mudanjiang"])
    assert _status(consortium, rule_pid) == (OPEN, 0, 3)


def test_validator_and_admin_changes(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    new_validator, new_admin = Account.create(), Account.create()
    consortium.transact(
        con.proposeChangeValidator(city_id("Daqing"), new_validator.address),
        consortium.admins["Daqing"],
    )
    _vote_by(consortium, _last_proposal(consortium), ["Harbin", "Qiqihar", "Jiamusi"])
    assert con.getValidators().call()[-1] == new_validator.address

    consortium.transact(
        con.proposeChangeAdmin(city_id("Daqing"), new_admin.address), consortium.admins["Daqing"]
    )
    _vote_by(consortium, _last_proposal(consortium), ["Harbin", "Qiqihar", "Jiamusi"])
    assert con.cityAdmin(city_id("Daqing")).call() == new_admin.address
    assert not con.isPermittedSender(consortium.admins["Daqing"].address).call()
    assert con.adminCity(new_admin.address).call() == city_id("Daqing")


def test_rules_and_auditor_role_change_by_vote(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    consortium.transact(
        con.proposeSetRule(text32("VOTING_PERIOD"), 2 * WEEK), consortium.admins["Harbin"]
    )
    _vote_by(consortium, _last_proposal(consortium), ["Qiqihar", "Mudanjiang", "Jiamusi"])
    assert con.rule(text32("VOTING_PERIOD")).call() == 2 * WEEK

    agency = consortium.agencies["daqing.health"].address
    consortium.transact(con.proposeSetAuditor(agency, True), consortium.admins["Harbin"])
    _vote_by(consortium, _last_proposal(consortium), ["Qiqihar", "Mudanjiang", "Jiamusi"])
    assert con.hasRole(agency, ROLE_AUDITOR | ROLE_GRANTEE).call()
    # A city admin cannot strip the voted auditor bit when changing roles.
    consortium.transact(con.setAgencyRoles(agency, ROLE_GRANTEE), consortium.admins["Daqing"])
    assert con.hasRole(agency, ROLE_AUDITOR).call()


def test_a_validator_cannot_be_an_agency_address(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    agency = consortium.agencies["daqing.health"].address
    with reverts_with("Consortium", "AddressInUse"):
        con.proposeChangeValidator(city_id("Daqing"), agency).transact(
            {"from": consortium.admins["Daqing"].address}
        )


def test_a_proposal_left_with_enough_votes_can_be_executed(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    consortium.transact(
        con.proposeSetRule(text32("VOTING_PERIOD"), 2 * WEEK), consortium.admins["Harbin"]
    )
    rule_pid = _last_proposal(consortium)
    _vote_by(consortium, rule_pid, ["Qiqihar", "Mudanjiang"])
    with reverts_with("Consortium", "NotEnoughVotes"):
        con.execute(rule_pid).transact({"from": consortium.admins["Harbin"].address})
    # Daqing, which had not voted, leaves: 3 votes of 4 members now suffice, but nobody can vote.
    consortium.transact(con.proposeRemoveCity(city_id("Daqing")), consortium.admins["Harbin"])
    _vote_by(consortium, _last_proposal(consortium), ["Qiqihar", "Mudanjiang"])
    assert _status(consortium, rule_pid) == (OPEN, 3, 3)
    consortium.transact(con.execute(rule_pid), consortium.admins["Jiamusi"])
    assert _status(consortium, rule_pid)[0] == EXECUTED
    assert con.rule(text32("VOTING_PERIOD")).call() == 2 * WEEK


def _remove(c: TestConsortium, city: str, proposer: str, voters: list[str]) -> None:
    c.transact(c.consortium.functions.proposeRemoveCity(city_id(city)), c.admins[proposer])
    _vote_by(c, _last_proposal(c), voters)
    assert not c.consortium.functions.isActiveCity(city_id(city)).call()


def test_a_city_does_not_vote_on_its_own_removal_and_cannot_veto_it(
    consortium: TestConsortium,
) -> None:
    con = consortium.consortium.functions
    _remove(consortium, "Daqing", "Harbin", ["Qiqihar", "Mudanjiang"])
    _remove(consortium, "Jiamusi", "Harbin", ["Qiqihar", "Mudanjiang"])
    # Three members: the two others remove the third without it, whatever it votes.
    consortium.transact(con.proposeRemoveCity(city_id("Mudanjiang")), consortium.admins["Harbin"])
    pid = _last_proposal(consortium)
    assert _status(consortium, pid) == (OPEN, 1, 2)
    with reverts_with("Consortium", "VoteOnOwnRemoval"):
        con.vote(pid).transact({"from": consortium.admins["Mudanjiang"].address})
    _vote_by(consortium, pid, ["Qiqihar"])
    assert con.memberCities().call() == [city_id("Harbin"), city_id("Qiqihar")]
    # A city may propose its own removal (leaving); its proposal carries no vote of its own.
    consortium.transact(con.proposeRemoveCity(city_id("Qiqihar")), consortium.admins["Qiqihar"])
    assert _status(consortium, _last_proposal(consortium)) == (OPEN, 0, 1)


def test_a_readmitted_city_starts_afresh(consortium: TestConsortium) -> None:
    con = consortium.consortium.functions
    consortium.transact(
        con.proposeSetRule(text32("VOTING_PERIOD"), 2 * WEEK), consortium.admins["Daqing"]
    )
    rule_pid = _last_proposal(consortium)
    bdc = consortium.agencies["daqing.bdc"].address
    _remove(consortium, "Daqing", "Harbin", ["Qiqihar", "Mudanjiang"])
    admin, validator = consortium.spare[5], Account.create()  # a funded account: it transacts
    consortium.transact(
        con.proposeAdmitCity("Daqing", admin.address, validator.address, text32("Heilongjiang")),
        consortium.admins["Harbin"],
    )
    _vote_by(consortium, _last_proposal(consortium), ["Qiqihar", "Mudanjiang"])
    assert con.getCity(city_id("Daqing")).call()[6] == 2  # its second membership
    # Its vote from the first membership does not count again; it may vote anew.
    assert _status(consortium, rule_pid) == (OPEN, 0, 4)
    assert not con.hasVoted(rule_pid, city_id("Daqing")).call()
    consortium.transact(con.vote(rule_pid), admin)
    assert _status(consortium, rule_pid) == (OPEN, 1, 4)
    # Its agencies of the first membership stay inactive until its admin registers them again.
    assert not con.hasRole(bdc, ROLE_GRANTOR).call()
    assert not con.isPermittedSender(bdc).call()
    consortium.transact(con.registerAgency(bdc, "Daqing Big Data Center", ROLE_GRANTEE), admin)
    assert con.hasRole(bdc, ROLE_GRANTEE).call() and not con.hasRole(bdc, ROLE_GRANTOR).call()
    assert con.agenciesOf(city_id("Daqing")).call().count(bdc) == 1
