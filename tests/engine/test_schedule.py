"""Learning-rate schedules: hand-computed factors and the progress of a run."""

from __future__ import annotations

import math

import pytest

from infomax.engine.schedule import lr_factor, run_progress


@pytest.mark.parametrize("progress, expected", [
    (0.0, 1.0),
    (0.25, (1 + math.sqrt(0.5)) / 2),  # cos(pi / 4) = sqrt(1/2)
    (0.5, 0.5),
    (2 / 3, 0.25),  # cos(2 pi / 3) = -1/2
    (1.0, 0.0),
    (1.5, 0.0),  # past the end: clamped
    (-0.5, 1.0),
], ids=["start", "quarter", "half", "two-thirds", "end", "past-end", "negative"])
def test_cosine_factor_matches_hand_computed_values(progress, expected):
    assert lr_factor("cosine", progress) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("progress", [0.0, 0.3, 1.0], ids=["start", "middle", "end"])
def test_constant_factor_is_one(progress):
    assert lr_factor("constant", progress) == 1.0


def test_unknown_schedule_raises():
    with pytest.raises(ValueError, match="unknown lr_schedule 'step'"):
        lr_factor("step", 0.5)


@pytest.mark.parametrize("steps, total, elapsed, budget, expected", [
    (3, 12, 0.0, None, 0.25),  # no budget: steps only
    (3, 12, 30.0, 1.0, 0.5),  # half of a 1-minute budget is further than a quarter of the steps
    (9, 12, 30.0, 1.0, 0.75),  # the steps are further
    (12, 12, 0.0, None, 1.0),
    (5, 12, 600.0, 1.0, 1.0),  # past the budget: clamped
], ids=["steps-only", "time-ahead", "steps-ahead", "all-steps", "clamped"])
def test_run_progress_is_the_larger_fraction(steps, total, elapsed, budget, expected):
    assert run_progress(steps, total, elapsed, budget) == pytest.approx(expected, abs=1e-12)
