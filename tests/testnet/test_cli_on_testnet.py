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
