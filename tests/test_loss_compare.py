"""Study loss_compare (seed 004, Nielsen ch. 3): MSE vs cross-entropy on one saturated neuron and on MNIST."""
from __future__ import annotations

import math

import pytest

from conftest import load_script

NEURON = ["dataset=neuron", "model.hidden=[]", "model.output=sigmoid", "model.outputs=1", "model.bias=true",
          "init=constant", "trainer.batch_size=null", "optim.lr=0.15", "model.dtype=float64", "tracking=none",
          "trainer.progress=false"]


def sweep(cfg, key):
    return [v.strip() for v in str(cfg.hydra.sweeper.params[key]).split(",")]


def test_neuron_preset_is_nielsens_setup(compose_cfg):
    cfg = compose_cfg("experiment=loss_compare_neuron", hydra_cfg=True)
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.tracking.experiment == "loss_compare_neuron"
    assert cfg.dataset.name == "neuron" and cfg.dataset.x == 1.0 and cfg.dataset.target == 0
    m = cfg.model
    assert (list(m.hidden), m.output, m.outputs, m.bias, m.dtype) == ([], "sigmoid", 1, True, "float64")
    assert cfg.init.scheme == "constant" and cfg.trainer.batch_size is None
    assert cfg.optim.lr == 0.15 and cfg.optim.momentum == 0 and cfg.trainer.epochs == 300
    assert sweep(cfg, "loss") == ["mse", "cross_entropy"]
    assert set(sweep(cfg, "init.value")) == {"2.0", "0.6"} and set(sweep(cfg, "init.bias")) == {"2.0", "0.9"}
    quick = compose_cfg("experiment=loss_compare_neuron_quick", hydra_cfg=True)
    assert quick.hydra.launcher.n_jobs == 1 and quick.tracking.experiment == "loss_compare_neuron_quick"
    assert sweep(quick, "init.value") == ["2.0"] and sweep(quick, "init.bias") == ["2.0"] and quick.optim.lr == 0.15


def test_mnist_preset_compares_heads_under_one_rule(compose_cfg):
    cfg = compose_cfg("experiment=loss_compare_mnist", hydra_cfg=True)
    assert cfg.dataset.name == "mnist10k" and list(cfg.model.hidden) == [100] and cfg.activation.name == "sigmoid"
    assert set(sweep(cfg, "model.output")) == {"sigmoid", "softmax"}
    assert set(sweep(cfg, "loss")) == {"mse", "cross_entropy"}
    assert set(sweep(cfg, "init")) == {"normal_fanin", "normal"}
    assert len(sweep(cfg, "optim.lr")) >= 3 and len(sweep(cfg, "seed")) >= 3  # every head gets the same lr grid
    assert cfg.trainer.eval_every and cfg.trainer.threads == 1 and cfg.hydra.launcher.n_jobs == 2
    quick = compose_cfg("experiment=loss_compare_mnist_quick", hydra_cfg=True)
    assert quick.dataset.max_train <= 2000 and quick.trainer.epochs <= 3 and quick.hydra.launcher.n_jobs == 1


def neuron_costs(compose_cfg, loss, w=2.0, b=2.0, epochs=10):
    from nnexp.experiment import run

    result = run(compose_cfg(*NEURON, f"loss={loss}", f"init.value={w}", f"init.bias={b}", f"trainer.epochs={epochs}"))
    return [h["train/loss"] for h in result["history"]], [h["train/abs_err"] for h in result["history"]]


def test_saturated_neuron_mse_stalls_cross_entropy_does_not(compose_cfg):
    """From w = b = 2 (z = 4, a = 0.982): MSE's step in z is η(x² + 1)·a·σ'(z) ≈ 0.15·2·0.982·0.0177 ≈ 0.005 per
    epoch, so ½a² changes by ~0.2% in 10 epochs; cross-entropy's is η(x² + 1)·a ≈ 0.29, so −ln(1 − a) falls from
    4.02 to ~1.5 (−63%). Thresholds 2% and 30% leave a factor of 10 and 2 of margin."""
    mse, a_mse = neuron_costs(compose_cfg, "mse")
    ce, a_ce = neuron_costs(compose_cfg, "cross_entropy")
    assert a_mse[0] == a_ce[0] == pytest.approx(1 / (1 + math.exp(-4)))  # train/abs_err is the output a
    assert 1 - mse[10] / mse[0] < 0.02
    assert 1 - ce[10] / ce[0] > 0.30
    assert a_mse[10] > 0.97 and a_ce[10] < 0.85


def test_first_step_matches_closed_form(compose_cfg):
    """One full-batch step on x = 1, y = 0: w and b both move by −η·dC/dz (dC/dz = a²(1 − a) for ½a², a for CE)."""
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    for loss, w, b in (("mse", 0.6, 0.9), ("cross_entropy", 0.6, 0.9), ("mse", 2.0, 2.0)):
        cost, out = neuron_costs(compose_cfg, loss, w, b, epochs=1)
        a = sig(w + b)
        g = a * a * (1 - a) if loss == "mse" else a
        a1 = sig(w + b - 2 * 0.15 * g)
        assert out[1] == pytest.approx(a1, rel=1e-12)
        assert cost[1] == pytest.approx(0.5 * a1 ** 2 if loss == "mse" else -math.log(1 - a1), rel=1e-12)


@pytest.mark.slow
def test_analysis_end_to_end_on_quick_sweeps(cli, tmp_path):
    from nnexp.analysis import histories, latest_sweep

    for preset in ("loss_compare_neuron_quick", "loss_compare_mnist_quick"):
        proc = cli(f"+experiment={preset}")
        assert proc.returncode == 0, proc.stderr
    runs = latest_sweep("loss_compare_neuron_quick", cli.uri)
    h = histories(list(runs.run_id), ["train/loss"], cli.uri).merge(
        runs[["run_id", "params.loss.name"]], on="run_id").pivot_table(index="step", columns="params.loss.name",
                                                                       values="value")
    drop = 1 - h.loc[10] / h.loc[0]  # relative fall of the logged cost over the first 10 epochs
    assert drop["mse"] < 0.02 and drop["cross_entropy"] > 0.30

    lc = load_script("loss_compare")
    out, report = tmp_path / "out", tmp_path / "README.md"
    text = lc.main(["--experiment", "loss_compare_neuron_quick", "--mnist-experiment", "loss_compare_mnist_quick",
                    "--tracking-uri", cli.uri, "--out", str(out), "--report", str(report)])
    import matplotlib.image
    import pandas as pd

    for png in ("neuron.png", "mnist_curves.png", "mnist_lr.png"):
        assert (out / png).stat().st_size > 10_000
        assert matplotlib.image.imread(out / png).ndim == 3
    summary = pd.read_csv(out / "summary.csv")
    neuron = summary[summary.part == "neuron"].set_index("loss")
    assert neuron.loc["mse", "drop_10"] < 0.02 and neuron.loc["cross_entropy", "drop_10"] > 0.30
    mnist = summary[summary.part == "mnist"]
    assert len(mnist) == 4 and mnist.test_acc.between(0, 1).all() and mnist.chosen.all()
    body = report.read_text()
    assert "<!-- BEGIN loss_compare -->" in body and "<!-- END loss_compare -->" in body and text in body
    assert "](out/neuron.png)" in body and "](out/mnist_lr.png)" in body
    assert "the quadratic cost fell by 0.2% and the cross-entropy by 62.9%" in body
    assert "10,000-digit MNIST subset" in body and "not reached within 2 epochs" in body
