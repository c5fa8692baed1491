"""Scenarios 4-5 through the `cityledger` command on anvil: a max-min fair vaccine round, a city
admitted by vote, agencies, keys and the config file."""

from __future__ import annotations

import subprocess

from anvil_helpers import role_key
from cli_helpers import CITYLEDGER, Cli

from cityledger.sdk.consortium_client import city_id


def test_vaccine_round_max_min_fair(cli: Cli) -> None:
    pool = cli.ok(
        "alloc",
        "pool",
        "create",
        "vaccine-doses",
        "--unit",
        "doses",
        "--capacity",
        "100000",
        "--members",
        "Harbin,Qiqihar,Jiamusi,Daqing",
        key="harbin.admin",
    )
    pool_id = str(pool["id"])
    opened = cli.ok("alloc", "round", "open", pool_id, "--amount", "60000", key="harbin.admin")
    assert opened["rule"] == "MAX_MIN_FAIR" and opened["status"] == "open"
    for key, amount in (
        ("qiqihar.emergency", "30000"),
        ("jiamusi.admin", "10000"),
        ("daqing.admin", "45000"),
    ):
        cli.ok(
            "alloc",
            "request",
            pool_id,
            "--amount",
            amount,
            "--priority",
            "3",
            "--justification",
            f"{key} plan",
            key=key,
        )
    closed = cli.ok("alloc", "round", "close", pool_id, key="harbin.admin")
    assert [amount for _, amount in closed["allocations"]] == [25000, 10000, 25000]
    for key in ("harbin.admin", "qiqihar.admin"):
        cli.ok("alloc", "round", "approve", pool_id, "1", key=key)
    approved = cli.ok("alloc", "round", "approve", pool_id, "1", key="daqing.admin")
    assert approved["status"] == "approved" and approved["approvals"] == 3
    reason = cli.refused("alloc", "round", "approve", pool_id, "1", key="daqing.admin")
    assert "RoundNotVoting" in reason or "AlreadyVoted" in reason
    receipt = cli.ok("alloc", "receipt", pool_id, "1", "--received", "10000", key="jiamusi.admin")
    assert receipt["received"] == 10000
    assert "ReceiptAlreadyConfirmed" in cli.refused(
        "alloc", "receipt", pool_id, "1", "--received", "1", key="jiamusi.admin"
    )
    history = cli.ok("alloc", "history", pool_id)
    assert history[0]["recomputed"] == [25000, 10000, 25000]
    assert [r["city_id"] for r in history[0]["requests"]] == [
        city_id(c) for c in ("Qiqihar", "Jiamusi", "Daqing")
    ]
    assert cli.ok("alloc", "pool", "list")[0]["allocated"] == 60000
    assert "NotCoordinator" in cli.refused(
        "alloc", "round", "open", pool_id, "--amount", "5", key="qiqihar.admin"
    )


def test_city_admitted_by_vote_and_agency_registered(cli: Cli) -> None:
    proposal = cli.ok(
        "city",
        "propose-admit",
        "Suihua",
        "--admin",
        role_key("suihua.admin").address,
        "--validator",
        role_key("suihua.validator").address,
        "--region",
        "Heilongjiang",
        key="harbin.admin",
    )
    proposal_id = str(proposal["proposalId"])
    votes = [cli.ok("city", "vote", proposal_id, key=k) for k in ("qiqihar.admin", "jiamusi.admin")]
    assert votes[-1]["executed"] is True
    assert "Suihua" in [c["name"] for c in cli.ok("city", "list")]
    assert "ProposalNotOpen" in cli.refused("city", "vote", proposal_id, key="daqing.admin")

    registered = cli.ok(
        "agency",
        "register",
        role_key("harbin.transport").address,
        "--name",
        "Harbin Transport Bureau",
        "--roles",
        "grantee,allocator",
        key="harbin.admin",
    )
    assert registered["roles"] == "grantee,allocator"
    names = [a["name"] for a in cli.ok("agency", "list", "--city", "Harbin")]
    assert "Harbin Transport Bureau" in names
    assert "AuditorRoleNeedsVote" in cli.refused(
        "agency",
        "register",
        role_key("harbin.police").address,
        "--name",
        "Police",
        "--roles",
        "auditor",
        key="harbin.admin",
    )


def test_keys_and_config_file(cli: Cli) -> None:
    created = cli.ok("key", "new", "fresh", "--scrypt-n", "1024")
    assert cli.ok("key", "show", "fresh")["address"] == created["address"]
    assert "fresh" in [k["name"] for k in cli.ok("key", "list")]
    assert "already exists" in cli.refused("key", "new", "fresh", "--scrypt-n", "1024")

    # Settings from the config file when neither options nor environment give them.
    (cli.home / "config.toml").write_text(
        f'rpc = "{cli.deployed.anvil.url}"\nmanifest = "{cli.deployed.manifest_path}"\n'
        'key = "harbin.admin"\n'
    )
    env = {k: v for k, v in cli.env().items() if k not in ("CITYLEDGER_RPC", "CITYLEDGER_MANIFEST")}
    done = subprocess.run(
        [str(CITYLEDGER), "--json", "city", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert "Harbin" in done.stdout
    # A config file named by CITYLEDGER_CONFIG must exist: a mistyped path is not ignored.
    missing = cli.home / "confg.toml"
    refused = subprocess.run(
        [str(CITYLEDGER), "city", "list"],
        capture_output=True,
        text=True,
        env={**env, "CITYLEDGER_CONFIG": str(missing)},
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == f"error: CITYLEDGER_CONFIG names {missing}, which does not exist\n"
