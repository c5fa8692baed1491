"""Scenarios 1-3 through the `cityledger` command (subprocess, --json) on anvil, and every refusal
path: one line on stderr, non-zero exit, nothing on stdout."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from anvil_helpers import role_key
from cli_helpers import Cli

DATASET = "jiamusi/epidemic-travel-trace"
HEALTH = "Harbin Health Commission"


@pytest.fixture(scope="module")
def offered_and_revoked(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Runs the whole grant flow once; returns the grant id and file paths."""
    work = tmp_path_factory.mktemp("grant-flow")
    cli.ok(
        "dataset",
        "register",
        DATASET,
        "--fields",
        "5",
        "--schema",
        "id_hash,trajectory,test_result,name,phone",
        key="jiamusi.bdc",
    )
    data_grants = cli.deployed.manifest.contracts["DataGrants"]
    offer = cli.ok(
        "grant",
        "offer",
        "--dataset",
        DATASET,
        "--grantee",
        role_key("harbin.health").address,
        "--purpose",
        "epidemic-control",
        "--purpose-text",
        "Trace contacts, last 14 days",
        "--fields",
        "0,1,2",
        "--quota",
        "200",
        "--valid-days",
        "30",
        "--chain-id",
        str(cli.deployed.manifest.chain_id),
        "--data-grants",
        data_grants,
        "--out",
        str(work / "offer.json"),
        key="jiamusi.bdc",
    )
    assert offer["countersigned"] is False
    countersigned = cli.ok(
        "grant",
        "accept",
        str(work / "offer.json"),
        "--no-submit",
        "--out",
        str(work / "accepted.json"),
        key="harbin.health",
    )
    assert countersigned["countersigned"] is True and countersigned["grantId"] == offer["grantId"]
    grant = cli.ok("grant", "submit", str(work / "accepted.json"), key="harbin.health")
    assert grant["id"] == offer["grantId"] and grant["status"] == "active"
    return {"grant": grant["id"], "offer": str(work / "offer.json"), "work": str(work)}


def test_grant_flow_access_trace_revoke(cli: Cli, offered_and_revoked: dict[str, str]) -> None:
    grant = offered_and_revoked["grant"]
    access = cli.ok(
        "access",
        "record",
        grant,
        "--query",
        "SELECT trajectory",
        "--records",
        "37",
        "--fields",
        "0,1",
        key="harbin.health",
    )
    assert access["access_number"] == 1 and access["record_count"] == 37
    trace = cli.ok("audit", "trace", "--grant", grant)
    assert [e["event"] for e in trace] == ["GrantOffered", "GrantAccepted", "AccessRecorded"]
    # Each event with its ids and the names of who acted, on which grant and dataset.
    assert trace[2]["who"] == {"address": role_key("harbin.health").address, "name": HEALTH}
    assert trace[2]["grantId"] == grant and trace[2]["dataset"] == DATASET
    assert trace[0]["who"]["name"] == "Jiamusi Big Data Center" and trace[0]["grantee"] == HEALTH
    city_trace = cli.ok("audit", "trace", "--city", "Jiamusi", "--since", "2000-01-01")
    assert "DatasetRegistered" in [e["event"] for e in city_trace]
    assert cli.ok("audit", "trace", "--grant", grant, "--until", "2000-01-01") == []
    shown = cli.ok("grant", "show", grant)
    assert shown["accesses_used"] == 1 and shown["grantee"] == role_key("harbin.health").address
    listed = cli.ok("grant", "list", "--dataset", DATASET)
    assert [g["id"] for g in listed] == [grant]

    assert (
        cli.ok("grant", "revoke", grant, "--reason", "outbreak over", key="jiamusi.bdc")["status"]
        == "revoked"
    )
    reason = cli.refused(
        "access",
        "record",
        grant,
        "--query",
        "again",
        "--records",
        "1",
        "--fields",
        "0",
        key="harbin.health",
    )
    assert reason.startswith("error: DataGrants refused (WrongStatus)")
    assert grant in reason and "revoked" in reason and role_key("jiamusi.bdc").address in reason

    csv_run = cli.run("audit", "trace", "--grant", grant, "--format", "csv")
    assert csv_run.code == 0  # --json wins over --format: JSON on stdout
    assert json.loads(csv_run.stdout)[-1]["event"] == "GrantRevoked"


def test_csv_trace_without_json(cli: Cli, offered_and_revoked: dict[str, str]) -> None:
    import subprocess

    from cli_helpers import CITYLEDGER

    done = subprocess.run(
        [str(CITYLEDGER), "audit", "trace", "--dataset", DATASET, "--format", "csv"],
        capture_output=True,
        text=True,
        env=cli.env(),
        timeout=60,
        check=True,
    )
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows[0]["event"] == "DatasetRegistered" and rows[-1]["event"] == "GrantRevoked"
    # Flat columns with names: who did what under which grant, when.
    assert rows[0]["who"] == "Jiamusi Big Data Center" and rows[0]["dataset"] == DATASET
    accessed = next(r for r in rows if r["event"] == "AccessRecorded")
    assert accessed["who"] == "Harbin Health Commission" and accessed["records"] == "37"
    assert accessed["grantId"] == offered_and_revoked["grant"]
    assert accessed["what"].startswith("read 37 records of " + DATASET)


def test_suspension_and_leak_commands(cli: Cli, tmp_path: Path) -> None:
    offer = tmp_path / "offer.json"
    cli.ok(
        "grant",
        "offer",
        "--dataset",
        DATASET,
        "--grantee",
        role_key("harbin.health").address,
        "--purpose",
        "epidemic-control",
        "--fields",
        "0x3",
        "--quota",
        "5",
        "--out",
        str(offer),
        key="jiamusi.bdc",
    )
    grant = cli.ok("grant", "accept", str(offer), key="harbin.health")["id"]
    cli.ok(
        "leak",
        "register-delivery",
        grant,
        "--commitment",
        "0x" + "5a" * 32,
        "--records",
        "100",
        key="jiamusi.bdc",
    )
    evidence = tmp_path / "leak.csv"
    evidence.write_text("id_hash,trajectory\n...")
    incident = cli.ok(
        "leak", "report", DATASET, "--evidence-file", str(evidence), key="harbin.audit"
    )
    cli.ok("leak", "suspend", str(incident["id"]), grant, key="harbin.audit")
    assert cli.ok("grant", "show", grant)["status"] == "suspended"
    reason = cli.refused(
        "access",
        "record",
        grant,
        "--query",
        "q",
        "--records",
        "1",
        "--fields",
        "0",
        key="harbin.health",
    )
    assert "suspended" in reason and "AUDITOR" in reason
    cli.ok("leak", "attribute", str(incident["id"]), grant, "--score", "12000", key="harbin.audit")
    shown = cli.ok("leak", "show", str(incident["id"]))
    assert shown["findings"][0]["grant_id"] == grant and shown["suspendedGrants"] == [grant]
    assert cli.ok("grant", "reinstate", grant, key="harbin.audit")["status"] == "active"


def test_refusals_are_one_line(
    cli: Cli, offered_and_revoked: dict[str, str], tmp_path: Path
) -> None:
    grant = offered_and_revoked["grant"]
    unknown = "0x" + "00" * 32
    assert "no grant '0x000" in cli.refused("grant", "show", unknown)
    typo = grant[:-1] + ("0" if grant[-1] != "0" else "1")
    assert f"did you mean '{grant}'" in cli.refused("grant", "show", typo)
    assert "not a grant id" in cli.refused("grant", "show", "0x12zz")
    short_commitment = cli.refused(
        "leak",
        "register-delivery",
        grant,
        "--commitment",
        "0x12",
        "--records",
        "1",
        key="jiamusi.bdc",
    )
    assert "'0x12' is not a 32-byte id" in short_commitment
    assert "is not a grant id" in cli.refused("access", "list", "--grant", "grant-1")
    assert "--key" in cli.refused("grant", "revoke", grant)
    assert "no key named" in cli.refused("grant", "revoke", grant, key="nobody")
    assert "did you mean 'harbin.health'" in cli.refused("key", "show", "harbin.helth")
    assert "NotGrantor" in cli.refused("grant", "revoke", grant, key="harbin.health")
    assert "MissingRole" in cli.refused(
        "dataset", "register", "x", "--fields", "1", "--schema", "s", key="harbin.health"
    )
    assert "--out" in cli.refused(
        "grant",
        "offer",
        "--dataset",
        DATASET,
        "--grantee",
        role_key("harbin.health").address,
        "--purpose",
        "p",
        "--fields",
        "0",
        "--quota",
        "1",
        key="jiamusi.bdc",
    )
    assert "field" in cli.refused(
        "access",
        "record",
        grant,
        "--query",
        "q",
        "--records",
        "1",
        "--fields",
        "zero",
        key="harbin.health",
    )
    assert "exactly one" in cli.refused("audit", "trace", "--grant", grant, "--dataset", DATASET)
    # A typo in a trace's key is an error with the closest names, never an empty trace.
    assert f"did you mean '{DATASET}'" in cli.refused(
        "audit", "trace", "--dataset", "jiamusi/epidemic-travle-trace"
    )
    assert "did you mean 'Harbin'" in cli.refused("audit", "trace", "--city", "Harbn")
    assert "did you mean 'Harbin Health Commission'" in cli.refused(
        "audit", "trace", "--agency", "Harbin Health Comission"
    )
    assert "no trust root" in cli.refused("audit", "verify", "--grant", grant)

    altered = json.loads(Path(offered_and_revoked["offer"]).read_text())
    altered["offer"]["access_quota"] = 100_000
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(altered))
    assert "altered" in cli.refused("grant", "accept", str(tampered), key="harbin.health")
    assert "grantee" in cli.refused(
        "grant",
        "accept",
        offered_and_revoked["offer"],
        "--no-submit",
        "--out",
        str(tmp_path / "x.json"),
        key="jiamusi.bdc",
    )
    assert "GrantExists" in cli.refused(
        "grant", "submit", offered_and_revoked["offer"], key="harbin.health"
    )


def test_transport_and_key_failures(cli: Cli) -> None:
    env = cli.env()
    import subprocess

    from anvil_helpers import free_port
    from cli_helpers import CITYLEDGER

    def refused(args: list[str], **changes: str) -> str:
        done = subprocess.run(
            [str(CITYLEDGER), "--json", *args],
            capture_output=True,
            text=True,
            env={**env, **changes},
            timeout=60,
        )
        assert done.returncode != 0 and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        return done.stderr

    # In the user's terms, with what to do; never urllib3's HTTPConnectionPool(...).
    port = free_port()
    unreachable = refused(["city", "list"], CITYLEDGER_RPC=f"http://127.0.0.1:{port}")
    assert f"nothing answers at http://127.0.0.1:{port}" in unreachable
    assert "--rpc" in unreachable and "HTTPConnectionPool" not in unreachable
    no_scheme = refused(["city", "list"], CITYLEDGER_RPC=f"127.0.0.1:{port}")
    assert "must start with http:// or https://" in no_scheme
    assert "connection adapters" not in no_scheme
    missing = refused(["grant", "submit", "/nonexistent/offer.json"], CITYLEDGER_KEY="harbin.admin")
    assert "/nonexistent/offer.json" in missing and "Errno" not in missing
    assert "no grant '0x1234' on this chain" in refused(["grant", "show", "0x1234"])
    assert "wrong passphrase" in refused(
        ["--key", "harbin.admin", "city", "vote", "1"], CITYLEDGER_PASSPHRASE="not it"
    )
    assert "manifest" in refused(["city", "list"], CITYLEDGER_MANIFEST="/nonexistent.json")


def test_offer_submitted_online_then_withdrawn(
    cli: Cli, offered_and_revoked: dict[str, str]
) -> None:
    offered = cli.ok(
        "grant",
        "offer",
        "--dataset",
        DATASET,
        "--grantee",
        role_key("harbin.health").address,
        "--purpose",
        "statistics",
        "--fields",
        "0",
        "--quota",
        "3",
        "--submit",
        key="jiamusi.bdc",
    )
    assert offered["status"] == "offered"
    assert cli.ok("grant", "withdraw", offered["id"], key="jiamusi.bdc")["status"] == "withdrawn"
    reason = cli.refused("grant", "accept", offered["id"], key="harbin.health")
    assert "withdrawn" in reason and offered["id"] in reason
