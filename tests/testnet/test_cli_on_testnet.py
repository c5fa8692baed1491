"""The README's path, as a newcomer takes it: `cityledger testnet up` (4 validators, demo data),
then agencies and auditors use the CLI (subprocesses, --json) against that network, then
`testnet status` and `testnet down`."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import pytest
from testnet_helpers import CITYLEDGER, TestnetCli, running_testnet

from cityledger.testnet.demo_datasets import TRAVEL_DATASET

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestnetCli]:
    directory = tmp_path_factory.mktemp("readme") / "net"
    with running_testnet(directory):
        yield TestnetCli(directory)


def test_demo_data_has_grants_in_every_state_an_incident_and_a_round(cli: TestnetCli) -> None:
    demo = json.loads((cli.directory / "demo.json").read_text())
    statuses = {
        label: cli.ok("grant", "show", grant)["status"] for label, grant in demo["grants"].items()
    }
    assert statuses["active"] == "active"
    assert statuses["offered"] == "offered"
    assert statuses["withdrawn"] == "withdrawn"
    assert statuses["revoked"] == "revoked"
    assert statuses["suspended"] == "suspended"
    incident = cli.ok("leak", "show", str(demo["incident"]))
    assert str(incident["incident"]["status"]).lower() == "attributed"
    assert [f["grant_id"] for f in incident["findings"]] == [demo["grants"]["suspended"]]
    assert incident["suspendedGrants"] == [demo["grants"]["suspended"]]
    history = cli.ok("alloc", "history", str(demo["pool"]))
    assert history[0]["round"]["status"] == "approved"
    assert sum(history[0]["recomputed"]) == history[0]["round"]["total_allocated"]


def test_grant_signed_used_traced_revoked_and_refused_on_the_bft_network(cli: TestnetCli) -> None:
    offer = cli.directory / "offer.json"
    cli.ok(
        "grant",
        "offer",
        "--dataset",
        "harbin/icu-bed-occupancy",
        "--grantee",
        "jiamusi-health",
        "--purpose",
        "icu-surge",
        "--fields",
        "0,2",
        "--quota",
        "5",
        "--out",
        str(offer),
        key="harbin-bdc",
    )
    grant = cli.ok("grant", "accept", str(offer), key="jiamusi-health")
    assert grant["status"] == "active"
    access = cli.ok(
        "access",
        "record",
        grant["id"],
        "--query",
        "free beds by hospital",
        "--records",
        "12",
        "--fields",
        "0,2",
        key="jiamusi-health",
    )
    assert access["access_number"] == 1
    trace = cli.ok("audit", "trace", "--grant", grant["id"])
    assert [e["event"] for e in trace] == ["GrantOffered", "GrantAccepted", "AccessRecorded"]
    verified = subprocess.run(
        [str(CITYLEDGER), "audit", "verify", "--grant", grant["id"]],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert "quorum" in verified.stdout

    revoked = cli.ok("grant", "revoke", grant["id"], "--reason", "surge over", key="harbin-bdc")
    assert revoked["status"] == "revoked"
    reason = cli.refused(
        "access",
        "record",
        grant["id"],
        "--query",
        "again",
        "--records",
        "1",
        "--fields",
        "0",
        key="jiamusi-health",
    )
    assert reason.startswith("error: DataGrants refused (WrongStatus)")
    assert grant["id"] in reason and "revoked" in reason


def test_a_grantee_fetches_a_marked_copy_and_a_revoked_grant_gets_nothing(cli: TestnetCli) -> None:
    """The README's quickstart: Harbin Health fetches through Jiamusi's gateway; the delivery is
    in the grant's trace as recorded by the gateway; a revoked grant is refused."""
    demo = json.loads((cli.directory / "demo.json").read_text())
    grant = demo["grants"]["active"]
    out = cli.directory / "positives.csv"
    fetched = cli.ok(
        "data",
        "fetch",
        grant,
        "--fields",
        "id_hash,visit_time,test_result",
        "--where",
        "test_result = positive",
        "--out",
        str(out),
        key="harbin-health",
    )
    lines = out.read_text().splitlines()
    assert lines[0] == '"id_hash","visit_time","test_result"'
    assert len(lines) - 1 == fetched["rows"] > 0
    assert all(line.endswith('"positive"') for line in lines[1:])
    trace = cli.ok("audit", "trace", "--grant", grant)
    recorded = [e for e in trace if e["event"] == "AccessRecorded"][-1]
    jiamusi = next(g for g in cli.info.gateways if g.city == "Jiamusi")
    assert recorded["args"]["recordedBy"] == jiamusi.address == fetched["gateway"]
    assert trace[-1]["event"] == "DeliveryRegistered"
    assert trace[-1]["args"]["commitment"] == fetched["commitment"]

    reason = cli.refused(
        "data", "fetch", demo["grants"]["revoked"], "--out", str(out), key="harbin-transport"
    )
    assert reason.startswith("error: the gateway refused (WrongStatus)") and "revoked" in reason


def test_refusals_are_one_line(cli: TestnetCli) -> None:
    outside_scope = cli.refused(
        "access",
        "record",
        json.loads((cli.directory / "demo.json").read_text())["grants"]["active"],
        "--query",
        "names and phones",
        "--records",
        "3",
        "--fields",
        "1,2",
        key="harbin-health",
    )
    assert "DataGrants refused" in outside_scope
    assert cli.refused("grant", "show", "0x" + "ab" * 32).startswith("error:")
    assert "no agency 'nobody' on this chain" in cli.refused(
        "grant",
        "offer",
        "--dataset",
        TRAVEL_DATASET,
        "--grantee",
        "nobody",
        "--purpose",
        "x",
        "--fields",
        "0",
        "--quota",
        "1",
        "--submit",
        key="jiamusi-bdc",
    )


def test_status_reports_every_node(cli: TestnetCli) -> None:
    status = subprocess.run(
        [str(CITYLEDGER), "testnet", "status", "--dir", str(cli.directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**cli.env, "COLUMNS": "200"},
    )
    assert status.returncode == 0, status.stderr
    for city in ("Harbin", "Qiqihar", "Mudanjiang", "Jiamusi"):
        assert city in status.stdout
    assert "stopped" not in status.stdout
    # Each validator is either between heights or working on one.
    consensus = re.findall(r"\bidle\b|height \d+ round \d+", status.stdout)
    assert len(consensus) == 4, status.stdout


def test_an_anchored_access_log_checks_out_and_a_changed_entry_is_caught(cli: TestnetCli) -> None:
    log = cli.directory / "logs" / "harbin-health-access.log"
    result = cli.ok("audit", "verify-log", "--agency", "harbin-health", "--log", str(log))
    assert result["anchors"] == 1
    assert result["entriesAnchored"] == 64 and result["entriesNotYetAnchored"] == 6
    lines = log.read_text().splitlines()
    lines[3] = lines[3].replace("records", "records 0 +")
    tampered = cli.directory / "tampered.log"
    tampered.write_text("\n".join(lines) + "\n")
    reason = cli.refused("audit", "verify-log", "--agency", "harbin-health", "--log", str(tampered))
    assert "changed after they were anchored" in reason


def plain(
    cli: TestnetCli, *args: str, columns: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`cityledger ARGS` as typed, without the helper's leading --json (stdout is a pipe)."""
    env = {**cli.env, **({"COLUMNS": columns} if columns else {})}
    if columns is None:
        env.pop("COLUMNS", None)
    return subprocess.run(
        [str(CITYLEDGER), *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


def test_every_read_command_answers_json_with_the_option_after_it(cli: TestnetCli) -> None:
    demo = json.loads((cli.directory / "demo.json").read_text())
    grant = demo["grants"]["active"]
    record = cli.ok(
        "access",
        "record",
        grant,
        "--query",
        "q",
        "--records",
        "2",
        "--fields",
        "0",
        key="harbin-health",
    )
    commands = [
        ["testnet", "status", "--dir", str(cli.directory)],
        ["contracts", "list"],
        ["key", "list"],
        ["key", "show", "harbin-health"],
        ["city", "list"],
        ["city", "proposals"],
        ["agency", "list"],
        ["dataset", "list"],
        ["dataset", "show", TRAVEL_DATASET],
        ["grant", "list"],
        ["grant", "show", grant],
        ["access", "list"],
        ["leak", "list"],
        ["leak", "show", str(demo["incident"])],
        ["alloc", "pool", "list"],
        ["alloc", "history", str(demo["pool"])],
        ["audit", "trace", "--grant", grant],
        ["audit", "who-had", TRAVEL_DATASET],
        ["tx", "show", record["tx_hash"]],
    ]
    for command in commands:
        done = plain(cli, *command, "--json")
        assert done.returncode == 0, (command, done.stderr)
        json.loads(done.stdout)  # JSON, and nothing else on stdout
    assert re.fullmatch(r"cityledger \d+\.\d+\.\d+\S*\n", plain(cli, "--version").stdout)


def test_unknown_names_of_every_kind_fail_with_the_closest_ones(cli: TestnetCli) -> None:
    grant = json.loads((cli.directory / "demo.json").read_text())["grants"]["active"]
    typo = grant[:-1] + ("0" if grant[-1] != "0" else "1")
    cases = [
        (["grant", "list", "--dataset", "jiamusi/epidemic-travle-trace"], f"'{TRAVEL_DATASET}'"),
        (["audit", "who-had", "jiamusi/epidemic-travle-trace"], f"'{TRAVEL_DATASET}'"),
        (["leak", "list", "--dataset", "jiamusi/epidemic"], f"'{TRAVEL_DATASET}'"),
        (["agency", "list", "--city", "Harbn"], "did you mean 'Harbin'"),
        (["grant", "list", "--grantee", "Harbin Health Comission"], "'Harbin Health Commission'"),
        (["access", "list", "--agency", "harbin-helth"], "did you mean"),
        (["grant", "show", typo], f"did you mean '{grant}'"),
        (["access", "list", "--grant", typo], f"did you mean '{grant}'"),
    ]
    for command, suggestion in cases:
        reason = cli.refused(*command)
        assert reason.startswith("error: no ") and suggestion in reason, (command, reason)
    # A key whose account is no agency is refused, not answered with an empty list.
    cli.ok("key", "new", "stranger", "--scrypt-n", "1024")
    assert "not a registered agency" in cli.refused("grant", "list", "--grantee", "stranger")
    # Registered names work wherever an agency is asked for.
    by_name = cli.ok("grant", "list", "--grantee", "Harbin Health Commission")
    assert {g["grantee_name"] for g in by_name} == {"Harbin Health Commission"}


def test_who_had_the_travel_trace_is_named_and_proven_block_by_block(cli: TestnetCli) -> None:
    report = cli.ok("audit", "who-had", TRAVEL_DATASET)
    findings = [f for i in report["incidents"] for f in i["findings"]]
    assert findings[0]["grantee_name"] == "Mudanjiang Public Security Bureau"
    leaked = next(g for g in report["grants"] if g["id"] == findings[0]["grant_id"])
    assert leaked["status"] == "suspended" and leaked["deliveries"] == 1
    assert [h["event"] for h in leaked["history"]][:2] == ["GrantOffered", "GrantAccepted"]
    whats = [e["what"] for e in report["events"]]
    assert any("Mudanjiang Public Security Bureau's copy" in w for w in whats)
    assert all(e["who"] is None or e["who"]["name"] for e in report["events"])
    proven = cli.ok("audit", "verify", "--dataset", TRAVEL_DATASET)
    assert set(report["blocks"]) <= {e["blockNumber"] for e in proven["events"]}


def test_tables_survive_pipes_and_hints_can_be_copied(cli: TestnetCli) -> None:
    listed = plain(cli, "grant", "list")
    assert listed.returncode == 0, listed.stderr
    grants = cli.ok("grant", "list")
    rows = [line for line in listed.stdout.splitlines() if "…" in line]
    assert len(rows) == len(grants)  # one line a grant: ids shortened, nothing wrapped
    for grant in grants:
        short = grant["id"][:10] + "…" + grant["id"][-4:]
        (row,) = [line for line in rows if short in line]
        assert grant["grantee_name"] in row and grant["dataset"] in row
    status = plain(cli, "testnet", "status", "--dir", str(cli.directory), columns="80")
    for node in cli.info.nodes:
        assert node.rpc_url in status.stdout  # the port is never cut off
    resumed = plain(cli, "testnet", "up", "--dir", str(cli.directory))
    assert resumed.returncode == 0, resumed.stderr
    (export,) = [line for line in resumed.stderr.splitlines() if "export " in line]
    assert export.strip().startswith("export CITYLEDGER_CONFIG=")
    assert export.strip().endswith("CITYLEDGER_PASSPHRASE=testnet")
