"""Study activation_compare (seed 004): the presets, the dead-fraction arithmetic, the analysis end to end."""
from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

from conftest import load_script, sweep_values

PRESETS = ["activation_compare", "activation_compare_lr"]


@pytest.fixture(scope="module")
def ac():
    return load_script("activation_compare")


sweep = sweep_values


@pytest.mark.parametrize("name", PRESETS + [p + "_quick" for p in PRESETS])
def test_presets_compose(compose_cfg, name):
    cfg = compose_cfg(f"experiment={name}", hydra_cfg=True)
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.tracking.experiment == name
    assert cfg.dataset.name == "mnist10k" and cfg.model.output == "softmax" and cfg.loss.name == "cross_entropy"
    assert cfg.optim.momentum == 0 and cfg.trainer.threads == 1 and cfg.trainer.progress is False
    assert cfg.hydra.launcher.n_jobs == (1 if name.endswith("_quick") else 2)


def test_protocols(compose_cfg):
    cmp_ = compose_cfg("experiment=activation_compare", hydra_cfg=True)
    p = sweep(cmp_)
    assert p["activation"] == ["sigmoid", "tanh", "relu", "leaky_relu", "prelu"]
    assert p["init"] == ["xavier", "he"] and p["seed"] == ["0", "1", "2"]
    assert 5 <= len(cmp_.model.hidden) <= 8 and len(set(cmp_.model.hidden)) == 1  # deep-ish, one width
    lr = compose_cfg("experiment=activation_compare_lr", hydra_cfg=True)
    assert lr.activation.name == "relu" and lr.init.scheme == "he" and list(lr.model.hidden) == list(cmp_.model.hidden)
    grid = sorted(float(x) for x in sweep(lr)["optim.lr"])
    assert grid[0] == 0.001 and grid[-1] == 3.0 and len(grid) >= 8  # wide enough to test the 40% claim
    assert max(np.diff(np.log10(grid))) < 0.53  # a log grid: about half a decade (1, 3, 10) or less between points
    assert len(sweep(lr)["seed"]) == 3


def test_dead_fraction_is_weighted_by_units_and_skips_diverged_evaluations(ac):
    runs = pd.DataFrame({"run_id": ["a", "b"], "lr": [0.1, 3.0], "seed": [0, 0], "widths": [[100, 300], [100, 300]],
                         "status": ["FINISHED", "FAILED"], "diverged_epoch": [np.nan, 2.0]})
    h = pd.DataFrame({"run_id": ["a", "a", "b", "b", "b"], "step": [0, 1, 0, 1, 2],
                      "train/loss": [2.3, 1.0, 2.3, 5.0, math.nan], "test/acc": [0.1, 0.9, 0.1, 0.2, 0.1],
                      "layer1/dead_frac": [0.0, 0.4, 0.0, 0.8, 0.0], "layer2/dead_frac": [0.0, 0.0, 0.0, 0.4, 0.0]})
    hd, per = ac.dead_per_run(h, runs)
    per = per.set_index("run_id")
    assert per.final_dead["a"] == pytest.approx(0.4 * 100 / 400)  # 40 of 400 units
    assert math.isnan(per.final_dead["b"])  # diverged: no "after training" value
    assert per.peak_dead["b"] == pytest.approx((0.8 * 100 + 0.4 * 300) / 400) and per.peak_epoch["b"] == 1
    assert len(hd[hd.run_id == "b"]) == 2  # the NaN-loss evaluation is dropped
    text = "\n".join(ac.dead_report(per.reset_index(), runs))
    assert "lr 3: 1/1" in text and "recorded FAILED" in text and "50.0%" in text and "reached in 1 run(s)" in text


@pytest.mark.slow
def test_quick_sweeps_and_analysis(ac, cli, tmp_path):
    import matplotlib.image

    for name in PRESETS:
        proc = cli(f"+experiment={name}_quick")
        assert proc.returncode == 0, proc.stderr  # the diverging job does not fail the sweep
    out, readme = tmp_path / "out", tmp_path / "README.md"
    md = ac.main(["--experiment", "activation_compare_quick", "--tracking-uri", cli.uri, "--out", str(out),
                  "--report", str(readme)])
    for png in ("learning_curves.png", "gradients.png", "saturation.png", "dead_vs_lr.png"):
        assert os.path.getsize(out / png) > 10_000 and matplotlib.image.imread(out / png).ndim == 3
    summary = pd.read_csv(out / "summary.csv")
    assert {"compare", "dead_vs_lr"} == set(summary.part)
    lr = summary[(summary.part == "dead_vs_lr") & (summary.metric == "peak_dead")].set_index("lr")
    assert lr.n_failed[3.0] == 1 and lr.n_failed[0.01] == 0 and lr["mean"].drop(3.0).between(0, 1).all()
    assert math.isnan(lr["mean"][3.0])  # diverged within its first epoch: no dead fraction during training
    text = readme.read_text()
    section = text[text.index("<!-- BEGIN activation_compare -->"):text.index("<!-- END activation_compare -->")]
    assert md.strip() in section and "](out/dead_vs_lr.png)" in section and "](out/gradients.png)" in section
    assert "| 3 | 0/1 | 1 |" in section  # the diverged run reported in the table, FAILED
    assert "lr 3: 1/1" in section and "largest whole-network dead fraction" in section
    assert "python -m nnexp +experiment=activation_compare_lr" in section and "MNIST subset" in section
