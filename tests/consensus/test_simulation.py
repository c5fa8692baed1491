"""QBFT core under deterministic simulation: safety at every step, liveness after GST."""

from __future__ import annotations

import os

import pytest
from simulation import Behaviour, Crash, Partition, Schedule, Simulation

from cityledger.node.consensus.messages import MAX_ROUND

RANDOM_SCHEDULES = int(os.environ.get("CITYLEDGER_SIM_SCHEDULES", "1000"))


def test_four_honest_validators_finalize_in_round_zero() -> None:
    outcome = Simulation(Schedule(seed=1, heights=5)).run()
    assert sorted(outcome.decided) == [1, 2, 3, 4, 5]
    assert all(len(by_node) == 4 for by_node in outcome.decided.values())
    assert outcome.rounds_used == 0
    assert not outcome.evidence


def test_a_silent_proposer_is_replaced_by_a_round_change() -> None:
    # validators[(height + round) % n]: validator 1 proposes height 1 in round 0.
    outcome = Simulation(Schedule(seed=2, heights=2, byzantine={1: Behaviour.SILENT})).run()
    assert outcome.rounds_used >= 1
    assert set(outcome.decided[1]) == {0, 2, 3}


def test_an_equivocating_validator_is_caught_and_cannot_split_the_network() -> None:
    outcome = Simulation(Schedule(seed=3, heights=4, byzantine={2: Behaviour.EQUIVOCATING})).run()
    assert outcome.evidence, "conflicting signed messages must be reported"
    culprit = Simulation(Schedule(seed=3)).addresses[2]
    assert {e.first.sender for e in outcome.evidence} == {culprit}


def test_extreme_field_values_are_refused_or_bounded_and_never_stop_the_others() -> None:
    outcome = Simulation(Schedule(seed=7, heights=5, byzantine={1: Behaviour.EXTREME})).run()
    assert sorted(outcome.decided) == [1, 2, 3, 4, 5]
    assert outcome.refused_on_decoding > 0  # rounds past 2**31 - 1 and shapes that are not messages
    # Two conflicting prepares at the largest round: kept as evidence, under a storable key.
    assert any(e.first.round == MAX_ROUND for e in outcome.evidence)


def test_forbidden_blocks_are_refused_and_the_network_moves_on() -> None:
    # validators[(height + round) % n]: validator 1 proposes height 1, round 0.
    schedule = Schedule(seed=8, heights=4, byzantine={1: Behaviour.FORBIDDEN})
    outcome = Simulation(schedule).run()
    assert outcome.rounds_used >= 1
    assert sorted(outcome.decided) == [1, 2, 3, 4]
    for by_node in outcome.decided.values():
        assert set(by_node) == {0, 2, 3}  # the Byzantine validator's record is not counted


def test_two_of_four_down_stops_finality_until_one_returns() -> None:
    schedule = Schedule(
        seed=4,
        heights=2,
        crashes=(Crash(2, 0.0, 100.0), Crash(3, 0.0, 100.0)),
        gst=100.0,
    )
    outcome = Simulation(schedule).run()
    # Nothing can be final while only two of four validators run: quorum is three.
    assert outcome.finished_at > 100.0
    # With capped round timers the network recovers within a few capped timeouts of GST.
    assert outcome.finished_at < 100.0 + 6 * schedule.timeouts.cap


def test_partition_heals_and_both_sides_agree() -> None:
    schedule = Schedule(
        seed=5,
        heights=3,
        partitions=(Partition(0.0, 30.0, frozenset({0, 1})),),
        gst=30.0,
        max_delay=1.0,
    )
    outcome = Simulation(schedule).run()
    assert all(len(set(by_node.values())) == 1 for by_node in outcome.decided.values())


def test_validators_restarting_mid_round_never_equivocate() -> None:
    crashes = tuple(Crash(node, t, t + 0.7) for t in (0.3, 2.1, 5.5) for node in (0, 1, 2, 3))
    outcome = Simulation(Schedule(seed=6, heights=3, crashes=crashes, gst=8.0, drop_rate=0.2)).run()
    assert not outcome.evidence


@pytest.mark.parametrize("seed", range(RANDOM_SCHEDULES))
def test_random_adversarial_schedule(seed: int) -> None:
    schedule = Schedule.random(seed)
    outcome = Simulation(schedule).run()
    for height in range(1, schedule.heights + 1):
        assert len(set(outcome.decided[height].values())) == 1, f"height {height} split: {schedule}"
