"""Study 1 (seed 002's hidden-node count): the protocol piece by piece, and the analysis end to end."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import load_script


def test_preset_is_seed_002s_protocol(compose_cfg):
    cfg = compose_cfg("experiment=width_sweep", hydra_cfg=True)
    assert cfg.hydra.mode.name == "MULTIRUN"  # sweeps without -m
    assert list(cfg.dataset.classes) == [0, 1] and cfg.dataset.pool == 3 and cfg.dataset.name == "mnist10k"
    assert cfg.model.bias is False and cfg.activation.name == "sigmoid" and cfg.model.output == "sigmoid"
    assert cfg.optim.lr == 0.1 and cfg.optim.momentum == 0
    t = cfg.trainer
    assert (t.steps, t.batch_size, t.replacement, t.repeat, t.eval_every) == (200, 20, True, 1000, 10)
    widths = [int(w) for w in cfg.hydra.sweeper.params["model.hidden"].replace("[", "").replace("]", "").split(",")]
    assert {1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40, 50} <= set(widths)
    assert len(str(cfg.hydra.sweeper.params.seed).split(",")) >= 3


def test_pooling_to_9x9_on_digits_0_and_1(compose_cfg):
    from nnexp.data import load_dataset

    ds = load_dataset(compose_cfg("experiment=width_sweep").dataset, 0)
    assert ds.X_train.shape[1] == 81 and ds.n_classes == 2
    assert set(np.unique(ds.y_test)) == {0, 1}
    assert 0.01 <= ds.X_train.min() and ds.X_train.max() <= 1.0


class CountingSGD:
    """Stands in for the optimiser: counts the SGD iterations and the rows each one saw."""

    fused = False  # the trainer then hands it the gradients through step()

    def __init__(self):
        self.calls = 0

    def step(self, grads):
        self.calls += 1


def test_batches_drawn_with_replacement_and_repeated(compose_cfg):
    from nnexp.experiment import build, encode_splits
    from nnexp.data import load_dataset
    from nnexp.train import train

    cfg = compose_cfg("experiment=width_sweep", "trainer.steps=30", "trainer.repeat=7", "tracking=none")
    ds = load_dataset(cfg.dataset, 0)
    model, loss = build(cfg, 81, 2, np.random.default_rng(0))
    data = encode_splits(ds, 2, cfg.loss.targets, model.dtype)
    seen = []
    original = model.forward

    def spy(X):
        if len(X) == cfg.trainer.batch_size:
            seen.append(X.copy())
        return original(X)

    model.forward = spy
    opt = CountingSGD()
    result = train(model, loss, opt, data, cfg.trainer, np.random.default_rng(1))
    assert opt.calls == 30 * 7  # 7 iterations on each of 30 batches
    assert len(seen) == 30 * 7 and all(np.array_equal(seen[i], seen[i - i % 7]) for i in range(len(seen)))
    batches = seen[::7]
    assert any(len(np.unique(b, axis=0)) < len(b) for b in batches)  # duplicates: drawn with replacement
    assert [h["progress/steps"] for h in result["history"]] == [0, 10, 20, 30]


def test_rules_of_thumb_and_knee():
    ws = load_script("width_sweep")
    rules = ws.rules_of_thumb(1024)
    assert rules["s = log2 N"] == 10 and rules["s = 2m + 1"] == 163
    assert list(rules.values())[2] == pytest.approx(17.18, abs=0.01)
    x = 2.0 ** np.arange(9)  # 1 ... 256
    assert ws.knee(x, np.where(x <= 16, 10.0, 10 + 10 * np.log2(x / 16))) == 16  # flat, then rising
    assert ws.knee(x, np.where(x <= 4, 10.0, 10 + 10 * np.log2(x / 4))) == 4
    import pandas as pd

    x = np.array([1, 2, 5, 10, 20, 50, 100, 200])
    y = np.where(x < 20, 10.0, 10 + 0.5 * (x - 20))  # flat, then linear from 20
    df = pd.DataFrame({"width": np.repeat(x, 3), "ms_per_batch": np.repeat(y, 3) + np.tile([-0.1, 0, 0.1], len(x))})
    slope, (lo, hi), _ = ws.linear_fit(df)
    assert slope == pytest.approx(0.5, rel=1e-6) and lo < 0.5 < hi


@pytest.mark.slow
def test_analysis_end_to_end_on_a_tiny_sweep(cli, tmp_path):
    proc = cli("+experiment=width_sweep_quick")
    assert proc.returncode == 0, proc.stderr
    proc = cli("+experiment=width_sweep_10class_quick")
    assert proc.returncode == 0, proc.stderr
    ws = load_script("width_sweep")
    out, report = tmp_path / "out", tmp_path / "README.md"
    text = ws.main(["--experiment", "width_sweep_quick", "--ten-class-experiment", "width_sweep_10class_quick",
                    "--tracking-uri", cli.uri, "--out", str(out), "--report", str(report)])
    import matplotlib.image
    import pandas as pd

    for png in ("accuracy_and_time_vs_n.png", "accuracy_curves.png", "ten_classes.png"):
        assert (out / png).stat().st_size > 10_000
        assert matplotlib.image.imread(out / png).ndim == 3
    summary = pd.read_csv(out / "summary.csv")
    binary = summary[summary.study == "81-n-2 MNIST 0/1"]
    assert sorted(binary.width) == [1, 2, 30, 40, 50]
    assert (binary.mean_ms > 0).all() and binary.mean_acc.between(0, 1).all()
    assert set(summary.study) == {"81-n-2 MNIST 0/1", "digits 10 classes"}
    body = report.read_text()
    assert "<!-- BEGIN width_sweep -->" in body and "<!-- END width_sweep -->" in body
    assert "width_sweep/accuracy_and_time_vs_n.png" in body and "ms per node" in body and "16.44" in body
    assert text in body
    assert not math.isnan(float(body.split("grows by **")[1].split(" ms")[0]))
