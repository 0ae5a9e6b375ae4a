"""Parameter-matched shapes for the wide-vs-deep study."""
from __future__ import annotations

import pytest

from nnexp.errors import ConfigError
from nnexp.shapes import match_widths, n_params

BUDGETS = (12730, 50890, 203530)  # the study's budgets: one hidden layer of 16 / 64 / 256 units on 784 inputs


def test_n_params_counts_weights_and_biases():
    assert n_params([784, 16, 10]) == 784 * 16 + 16 + 16 * 10 + 10 == 12730
    assert n_params([784, 16, 10], bias=False) == 784 * 16 + 16 * 10


@pytest.mark.parametrize("n_in", [784, 40, 64])
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("depth", range(1, 8))
def test_every_depth_hits_the_budget_within_2_percent(n_in, budget, depth):
    widths = match_widths(n_in, 10, depth, budget)
    assert len(widths) == depth and min(widths) >= 1
    assert max(widths) - min(widths) <= 2  # nearly uniform: depth is what changes, not the shape
    assert abs(n_params([n_in, *widths, 10]) - budget) <= 0.02 * budget


def test_one_layer_budgets_are_exact():
    assert [match_widths(784, 10, 1, b) for b in BUDGETS] == [[16], [64], [256]]


def test_budget_needs_depth(compose_cfg):
    from nnexp.config import validate

    with pytest.raises(ConfigError, match="budget and depth go together"):
        validate(compose_cfg("model.budget=1000"))
    validate(compose_cfg("model.budget=1000", "model.depth=2"))


def test_budget_builds_the_matched_network(compose_cfg):
    from nnexp.experiment import run

    result = run(compose_cfg("model.budget=12730", "model.depth=3", "dataset=mnist1d", "trainer.epochs=1",
                             "tracking=none", "trainer.progress=false"))
    assert abs(result["n_params"] - 12730) <= 0.02 * 12730
    assert result["model"].startswith("MLP(40-")
