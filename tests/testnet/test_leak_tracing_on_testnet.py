"""Leak tracing end to end, through the real CLI on a real network (`cityledger testnet up`: 4
validators, the demo's gateways). The demo fetched marked copies through Jiamusi's gateway,
leaked a 5 % sample of one as a spreadsheet, reported it, recorded the finding from the owner's
reveal, and left a mix of two grantees' copies. Here the owner traces those files, an auditor
records a finding from a reveal, someone who holds only the evidence and the reveal re-checks
it, and an owner's hand-over is registered before it is written."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from eth_utils import keccak
from openpyxl import load_workbook
from testnet_helpers import CITYLEDGER, TestnetCli, running_testnet

from cityledger.testnet.demo_data import sample
from cityledger.testnet.demo_datasets import TRAVEL_DATASET

pytestmark = pytest.mark.slow

THRESHOLD = 1e-9
POLICE = "Mudanjiang Public Security Bureau"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestnetCli]:
    directory = tmp_path_factory.mktemp("leaks") / "net"
    with running_testnet(directory):
        yield TestnetCli(directory)


@pytest.fixture(scope="module")
def demo(cli: TestnetCli) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((cli.directory / "demo.json").read_text())
    return loaded


def trace(cli: TestnetCli, leak: Path | str, *incident: str) -> Any:
    return cli.ok("leak", "trace", str(leak), "--dataset", TRAVEL_DATASET, *incident)


def table(cli: TestnetCli, *args: str) -> str:
    """A command's output for a person (no --json)."""
    done = subprocess.run(
        [str(CITYLEDGER), *args],
        capture_output=True,
        text=True,
        env={**cli.env, "COLUMNS": "250"},
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_demo_spreadsheet_is_traced_to_the_grant_it_leaked_from(
    cli: TestnetCli, demo: dict[str, Any]
) -> None:
    leaked = demo["grants"]["suspended"]
    spreadsheet = Path(demo["leak"]["sample"])
    assert spreadsheet.suffix == ".xlsx" and spreadsheet.parent == cli.directory / "leak"
    report = trace(cli, spreadsheet, "--incident", str(demo["incident"]))
    assert list(report) == ["dataset", "rows", "matchedRows", "candidates", "attributed"]
    # A 5 % sample of a copy of 100,000 rows less the ~1 % the grant omits.
    assert 4_800 <= report["rows"] <= 5_000 and report["matchedRows"] == report["rows"]
    assert report["attributed"] == [leaked]
    source, *others = report["candidates"]
    assert (source["grantId"], source["grantee"]) == (leaked, POLICE)
    assert source["falseAttributionProbability"] < THRESHOLD
    assert set(source["channels"]) == {"pseudonyms", "tardos", "omission"}
    assert source["channels"]["tardos"]["log10PValue"] < -100
    assert others and all(o["falseAttributionProbability"] >= THRESHOLD for o in others)

    shown = table(cli, "leak", "trace", str(spreadsheet), "--dataset", TRAVEL_DATASET)
    assert f"attributed to grant {leaked} ({POLICE})" in " ".join(shown.split())


def test_a_mix_of_two_grantees_copies_names_both(cli: TestnetCli, demo: dict[str, Any]) -> None:
    report = trace(cli, demo["leak"]["mix"])
    both = {demo["grants"]["suspended"], demo["grants"]["active"]}
    assert set(report["attributed"]) == both and len(report["attributed"]) == 2
    for candidate in report["candidates"]:
        if candidate["grantId"] in both:
            assert candidate["falseAttributionProbability"] < THRESHOLD
            assert candidate["channels"]["pseudonyms"]["observations"] == 0  # ids were dropped


def test_a_file_without_marks_names_nobody(cli: TestnetCli, tmp_path: Path) -> None:
    original = pq.read_table(cli.directory / "data" / "jiamusi" / "epidemic-travel-trace.parquet")
    unmarked = tmp_path / "unmarked.csv"
    pa_csv.write_csv(sample(original, 5_000, seed=3), unmarked)
    report = trace(cli, unmarked)
    assert report["matchedRows"] == 5_000 and report["attributed"] == []
    assert all(c["falseAttributionProbability"] >= THRESHOLD for c in report["candidates"])
    shown = table(cli, "leak", "trace", str(unmarked), "--dataset", TRAVEL_DATASET)
    assert "attributed to nobody" in shown


def verifier(cli: TestnetCli, tmp_path: Path) -> TestnetCli:
    """The CLI of someone who holds no key, no dataset and no secret: only the chain's URL."""
    config = tmp_path / "verifier.toml"
    config.write_text(
        f'rpc = "{cli.info.nodes[0].rpc_url}"\n'
        f'consortium = "{cli.info.system_contracts["Consortium"]}"\n'
        f'home = "{tmp_path / "empty-home"}"\n'
    )
    other = TestnetCli(cli.directory)
    other.env = {**cli.env, "CITYLEDGER_CONFIG": str(config)}
    del other.env["CITYLEDGER_PASSPHRASE"]
    return other


def test_the_demo_finding_verifies_from_the_evidence_and_the_reveal_alone(
    cli: TestnetCli, demo: dict[str, Any], tmp_path: Path
) -> None:
    outsider = verifier(cli, tmp_path)
    incident = str(demo["incident"])
    verified = outsider.ok(
        "audit",
        "verify-finding",
        incident,
        "--evidence",
        demo["leak"]["sample"],
        "--reveal",
        demo["leak"]["reveal"],
    )
    recorded = cli.ok("leak", "show", incident)["findings"]
    assert [f["grant_id"] for f in recorded] == [demo["grants"]["suspended"]]
    assert verified["grantId"] == demo["grants"]["suspended"] and verified["grantee"] == POLICE
    assert verified["score"] == recorded[0]["score"] and recorded[0]["method"] == "cityledger-fp/1"
    assert verified["detailsHashIsReveal"] is True
    assert verified["falseAttributionProbability"] < THRESHOLD


def test_verify_finding_refuses_a_foreign_key_and_an_altered_evidence_file(
    cli: TestnetCli, demo: dict[str, Any], tmp_path: Path
) -> None:
    incident, evidence = str(demo["incident"]), demo["leak"]["sample"]
    forged = json.loads(Path(demo["leak"]["reveal"]).read_text())
    forged["grantKey"] = "0x" + hashlib.sha256(b"a key nobody committed to").hexdigest()
    forged_file = tmp_path / "forged.json"
    forged_file.write_text(json.dumps(forged))
    reason = cli.refused(
        "audit", "verify-finding", incident, "--evidence", evidence, "--reveal", str(forged_file)
    )
    assert "does not match its delivery commitment" in reason

    book = load_workbook(evidence)
    sheet = book.active
    assert sheet is not None
    sheet["C2"] = "46.5"  # one coordinate rewritten
    altered = tmp_path / "altered.xlsx"
    book.save(altered)
    reason = cli.refused(
        "audit",
        "verify-finding",
        incident,
        "--evidence",
        str(altered),
        "--reveal",
        demo["leak"]["reveal"],
    )
    assert "not the one the incident recorded" in reason


def test_an_auditor_records_a_finding_from_the_owners_reveal(
    cli: TestnetCli, demo: dict[str, Any], tmp_path: Path
) -> None:
    mix, grant = demo["leak"]["mix"], demo["grants"]["active"]
    incident = str(
        cli.ok("leak", "report", TRAVEL_DATASET, "--evidence-file", mix, key="harbin-audit")["id"]
    )
    reveal = tmp_path / "reveal.json"
    made = cli.ok("leak", "reveal", incident, grant, "--evidence", mix, "--out", str(reveal))
    assert (made["grantId"], made["grantee"]) == (grant, "Harbin Health Commission")
    assert made["candidates"] == 2 and made["deliveries"] >= 1
    finding = cli.ok(
        "leak",
        "attribute",
        incident,
        "--reveal",
        str(reveal),
        "--evidence",
        mix,
        key="harbin-audit",
    )
    assert (finding["grant_id"], finding["score"]) == (grant, made["score"])
    assert finding["details_hash"] == "0x" + keccak(reveal.read_bytes()).hex()
    verified = verifier(cli, tmp_path).ok(
        "audit", "verify-finding", incident, "--evidence", mix, "--reveal", str(reveal)
    )
    assert verified["score"] == made["score"] and verified["candidates"] == 2


def test_data_mark_registers_the_copy_before_it_writes_it(
    cli: TestnetCli, demo: dict[str, Any], tmp_path: Path
) -> None:
    grant = demo["grants"]["active"]
    original = str(cli.directory / "data" / "jiamusi" / "epidemic-travel-trace.parquet")
    out = tmp_path / "handed-over.csv"
    marked = cli.ok(
        "data", "mark", grant, "--source", original, "--out", str(out), key="jiamusi-bdc"
    )
    preimage = marked["preimage"]
    assert preimage["fileHash"] == "0x" + hashlib.sha256(out.read_bytes()).hexdigest()
    assert preimage["rows"] == marked["rows"] == len(out.read_text().splitlines()) - 1
    assert preimage["columns"] == ["id_hash", "visit_time", "latitude", "longitude", "test_result"]
    registered = [
        e for e in cli.ok("audit", "trace", "--grant", grant) if e["event"] == "DeliveryRegistered"
    ]
    assert registered[-1]["args"]["commitment"] == marked["commitment"]
    kept = cli.directory / "keys" / "jiamusi-bdc.epidemic-travel-trace.secret.commitments.jsonl"
    assert json.dumps(preimage, sort_keys=True, separators=(",", ":")) in kept.read_text()

    # The same copy again: the chain refuses its commitment, so nothing is written.
    again = tmp_path / "again.csv"
    reason = cli.refused(
        "data", "mark", grant, "--source", original, "--out", str(again), key="jiamusi-bdc"
    )
    assert "CommitmentAlreadyRegistered" in reason
    assert sorted(p.name for p in tmp_path.iterdir()) == ["handed-over.csv"]
    reason = cli.refused(
        "data", "mark", grant, "--source", original, "--out", str(again), key="harbin-health"
    )
    assert "only its grantor marks copies" in reason and not again.exists()

    # A few hundred rows of the hand-over, leaked, name its grant.
    leaked = tmp_path / "leaked.csv"
    leaked.write_text("\n".join(out.read_text().splitlines()[:301]) + "\n")
    assert trace(cli, leaked)["attributed"] == [grant]
