"""Study learning_rate (seed 000): gradient descent on x², and an MLP's learning-rate sweep with diverged runs."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import load_script


@pytest.fixture(scope="module")
def lr_mod():
    return load_script("learning_rate")


def lrs(cfg):
    return sorted(float(v) for v in str(cfg.hydra.sweeper.params["optim.lr"]).split(","))


def test_presets_sweep_a_wide_log_grid(compose_cfg):
    cfg = compose_cfg("experiment=learning_rate", hydra_cfg=True)
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.tracking.experiment == "learning_rate"
    assert cfg.dataset.name == "mnist10k" and list(cfg.model.hidden) == [100] and cfg.activation.name == "relu"
    assert (cfg.model.output, cfg.loss.name, cfg.init.scheme) == ("linear", "mse", "he")
    grid = lrs(cfg)
    assert grid[0] <= 1e-4 and grid[-1] >= 30 and len(grid) >= 10
    assert (np.diff(np.log10(grid)) <= 0.53).all()  # a 1-3-10 log grid: no gap wider than half a decade
    assert len(str(cfg.hydra.sweeper.params.seed).split(",")) == 3 and cfg.trainer.threads == 1
    ce = compose_cfg("experiment=learning_rate_ce", hydra_cfg=True)
    assert (ce.model.output, ce.loss.name, ce.tracking.experiment) == ("softmax", "cross_entropy", "learning_rate_ce")
    assert lrs(ce) == grid and ce.trainer.epochs == cfg.trainer.epochs
    for name in ("learning_rate_quick", "learning_rate_ce_quick"):
        quick = compose_cfg(f"experiment={name}", hydra_cfg=True)
        assert quick.hydra.launcher.n_jobs == 1 and quick.tracking.experiment == name and max(lrs(quick)) >= 30


def test_gradient_descent_regimes_on_x_squared(lr_mod):
    assert lr_mod.regime(0.01) == lr_mod.regime(0.49) == "monotone convergence"
    assert lr_mod.regime(0.5) == "one step" and lr_mod.simulate(0.5)[1] == 0
    assert lr_mod.regime(0.51) == lr_mod.regime(0.99) == "oscillating, converging"
    assert lr_mod.regime(1.0) == "bouncing" and lr_mod.regime(1.01) == "diverging"
    x = lr_mod.simulate(1.0, x0=1.5, steps=7)
    assert np.allclose(x, 1.5 * (-1.0) ** np.arange(8))  # bounces between +x0 and -x0
    for lam in np.linspace(0.02, 1.5, 75):  # the simulation agrees with the closed form x_k = (1 - 2λ)^k x0
        x = lr_mod.simulate(lam, steps=30)
        assert np.allclose(x, (1 - 2 * lam) ** np.arange(31), rtol=1e-9, atol=1e-300)
        assert (abs(x[-1]) < 1) == (lam < 1) and (abs(x[-1]) > 1) == (lam > 1)
        assert (x[1:] * x[:-1] < 0).any() == (lam > 0.5)  # the sign flips: oscillation


def fake_runs():
    """Two heads: lr 1e-3 too small, 0.1 best, 0.3 good, 1 too large, 3 diverged in 2 of 3 seeds, 10 in all."""
    acc = {1e-3: 0.70, 0.1: 0.95, 0.3: 0.94, 1.0: 0.60, 3.0: 0.50, 10.0: math.nan}
    rows = []
    for lr, a in acc.items():
        for seed in range(3):
            bad = lr == 10.0 or (lr == 3.0 and seed < 2)
            rows.append({"run_id": f"{lr}-{seed}", "head": "linear + MSE", "lr": lr, "seed": seed,
                         "status": "FAILED" if bad else "FINISHED", "diverged": bad,
                         "diverged_epoch": 1.0 if bad else math.nan,
                         "test_acc": math.nan if bad else a + 0.001 * seed, "train_loss": math.nan if bad else 1 - a,
                         "dead_frac": 0.0, "epochs": 20, "n_train": 7196})
    return pd.DataFrame(rows)


def test_regimes_and_diverged_counts_from_hand_made_runs(lr_mod):
    s = lr_mod.summary(fake_runs()).set_index("lr")
    assert s.regime.to_dict() == {1e-3: "too small", 0.1: "best", 0.3: "good", 1.0: "too large",
                                  3.0: "diverged in 2/3", 10.0: "diverged"}
    assert s.loc[10.0, "n_diverged"] == 3 and math.isnan(s.loc[10.0, "test_acc"])
    assert s.loc[3.0, "test_acc"] == pytest.approx(0.502)  # the one finished seed, the diverged ones not averaged
    assert lr_mod.ranges(s.reset_index()) == {"too small": "0.001", "good": "0.1 – 0.3", "too large": "1",
                                              "diverged": "3 – 10"}


@pytest.mark.slow
def test_analysis_end_to_end_reports_the_diverged_lr(cli, tmp_path, lr_mod):
    from conftest import all_runs

    for preset in ("learning_rate_quick", "learning_rate_ce_quick"):
        proc = cli(f"+experiment={preset}")
        assert proc.returncode == 0, proc.stderr  # a diverged job never crashes the sweep
    diverged = [r for r in all_runs(cli.uri) if r.data.tags.get("nnexp.diverged") == "True"]
    assert diverged and all(r.info.status == "FAILED" and r.data.params["optim.lr"] == "30.0" for r in diverged)

    out, report = tmp_path / "out", tmp_path / "README.md"
    text = lr_mod.main(["--experiment", "learning_rate_quick", "--ce-experiment", "learning_rate_ce_quick",
                        "--tracking-uri", cli.uri, "--out", str(out), "--report", str(report)])
    import matplotlib.image

    for png in ("gd_regimes.png", "lr_sweep.png", "curves.png"):
        assert (out / png).stat().st_size > 10_000
        assert matplotlib.image.imread(out / png).ndim == 3
    summary = pd.read_csv(out / "summary.csv")
    mlp = summary[(summary.part == "mlp") & (summary["head"] == "linear + MSE")].set_index("lr")
    assert mlp.loc[30.0, "n_diverged"] == 1 and mlp.loc[30.0, "regime"] == "diverged"
    assert mlp.loc[0.1, "regime"] == "best" and 0 < mlp.loc[0.1, "test_acc"] <= 1
    gd = summary[summary.part == "gd_x2"].set_index("lr")
    assert gd.loc[1.0, "regime"] == "bouncing" and gd.loc[1.05, "regime"] == "diverging"
    body = report.read_text()
    assert "<!-- BEGIN learning_rate -->" in body and "<!-- END learning_rate -->" in body and text in body
    assert "](out/gd_regimes.png)" in body and "](out/lr_sweep.png)" in body and "](out/curves.png)" in body
    assert "| 30 | 1/1 |" in body and "diverged: 30" in body and "10,000-digit MNIST subset" in body
