"""Study init_schemes (seeds 000, 001, 004): the presets, zero init's symmetry from logged metrics, the analysis."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from conftest import load_script, sweep_values

PRESETS = ["init_schemes", "init_schemes_deep", "init_schemes_fp32"]


@pytest.fixture(scope="module")
def isc():
    return load_script("init_schemes")


sweep = sweep_values


@pytest.mark.parametrize("name", PRESETS + [p + "_quick" for p in PRESETS])
def test_presets_compose(compose_cfg, name):
    cfg = compose_cfg(f"experiment={name}", hydra_cfg=True)
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.tracking.experiment == name
    assert cfg.dataset.name == "mnist10k" and cfg.model.output == "softmax" and cfg.loss.name == "cross_entropy"
    assert cfg.optim.momentum == 0  # plain SGD
    assert cfg.trainer.threads == 1 and cfg.trainer.progress is False
    assert cfg.hydra.launcher.n_jobs == (1 if name.endswith("_quick") else 2)


def test_protocols(compose_cfg):
    shallow = compose_cfg("experiment=init_schemes", hydra_cfg=True)
    p = sweep(shallow)
    assert p["init"] == ["zero", "normal_fanin", "normal", "uniform", "xavier", "he"]
    assert shallow.hydra.sweeper.params["model.hidden"] == "[],[100],[100,100,100]"  # 0, 1 and 3 hidden layers
    assert p["activation"] == ["sigmoid", "relu"] and p["seed"] == ["0", "1", "2"]
    assert shallow.model.dtype == "float64" and shallow.optim.lr == 0.1 and shallow.trainer.epochs == 10
    deep = compose_cfg("experiment=init_schemes_deep", hydra_cfg=True)
    assert len(deep.model.hidden) == 10 and set(deep.model.hidden) == {128}
    assert set(sweep(deep)["init"]) == {"normal_fanin", "normal", "uniform", "xavier", "he"}
    assert set(sweep(deep)["activation"]) == {"tanh", "sigmoid", "relu"} and len(sweep(deep)["seed"]) == 3
    fp = compose_cfg("experiment=init_schemes_fp32", hydra_cfg=True)
    assert fp.init.scheme == "zero" and fp.activation.name == "sigmoid" and list(fp.model.hidden) == [100]
    assert sweep(fp) == {"model.dtype": ["float32", "float64"], "seed": ["0", "1", "2"]}


def test_versus_reads_the_cis(isc):
    acc = pd.DataFrame([{"arch": "a", "scheme": "normal", "n_runs": 3, "n_failed": 0, "final_mean": 0.80,
                         "final_ci_low": 0.78, "final_ci_high": 0.82},
                        {"arch": "a", "scheme": "normal_fanin", "n_runs": 3, "n_failed": 0, "final_mean": 0.95,
                         "final_ci_low": 0.94, "final_ci_high": 0.96},
                        {"arch": "a", "scheme": "uniform", "n_runs": 3, "n_failed": 3, "final_mean": np.nan,
                         "final_ci_low": np.nan, "final_ci_high": np.nan}])
    assert isc.versus(acc, "a", "normal", "normal_fanin") == "N(0, 1) 80.0 ± 2.0% vs N(0, 1/√fan_in) 95.0 ± 1.0%: beyond noise"
    assert "diverged in all 3 runs" in isc.versus(acc, "a", "uniform", "normal")


@pytest.mark.slow
def test_quick_sweeps_zero_init_and_analysis(isc, cli, tmp_path):
    import matplotlib.image

    from nnexp.analysis import histories, latest_sweep

    for name in PRESETS:
        proc = cli(f"+experiment={name}_quick")
        assert proc.returncode == 0, proc.stderr
    runs = isc.tidy(latest_sweep("init_schemes_quick", cli.uri))
    zero = runs[(runs.scheme == "zero") & (runs.depth == 1)].set_index("act")
    h = histories(list(zero.run_id), ["layer1/unit_spread", "layer1/dead_frac", "layer1/grad_norm", "layer2/grad_norm",
                                      "test/acc"], cli.uri)
    n_evals = 1 + int(zero.epochs.iloc[0])
    for act in ("sigmoid", "relu"):  # seed 004: hidden units stay identical in every epoch (float64: exactly)
        spread = h[(h.run_id == zero.run_id[act]) & (h.key == "layer1/unit_spread")]
        assert len(spread) == n_evals and (spread.value == 0).all()
    relu = h[h.run_id == zero.run_id["relu"]]
    assert (relu[relu.key == "layer1/dead_frac"].value == 1).all()  # everything stays zero
    assert (relu[relu.key.str.endswith("grad_norm")].value == 0).all() and len(relu[relu.key == "layer2/grad_norm"]) == n_evals
    assert isc.weights_symmetric(zero.run_id["sigmoid"], cli.uri) is True  # bitwise identical columns
    out, readme = tmp_path / "out", tmp_path / "README.md"
    md = isc.main(["--experiment", "init_schemes_quick", "--tracking-uri", cli.uri, "--out", str(out),
                   "--report", str(readme)])
    for png in ("symmetry.png", "accuracy.png", "deep_init.png", "float32_symmetry.png"):
        assert os.path.getsize(out / png) > 10_000 and matplotlib.image.imread(out / png).ndim == 3
    summary = pd.read_csv(out / "summary.csv")
    assert {"shallow", "deep", "fp32_zero_init"} == set(summary.part)
    assert set(summary[summary.part == "deep"].metric) == {"act_std_step0", "grad_std_step0", "test_acc_final"}
    text = readme.read_text()
    section = text[text.index("<!-- BEGIN init_schemes -->"):text.index("<!-- END init_schemes -->")]
    assert md.strip() in section and "](out/symmetry.png)" in section and "](out/deep_init.png)" in section
    assert "**1×16 relu**" in section and "everything stays exactly zero" in section and "bitwise identical" in section
    assert "python -m nnexp +experiment=init_schemes" in section and "MNIST subset" in section
