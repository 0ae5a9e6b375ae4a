"""The seeds' printed numbers out of nnexp: Trask's XOR (seed 003) and Rashid's MNIST network (seed 001)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import load_script
from nnexp.experiment import run

TRASK_TRACE = [0.496410031903, 0.00858452565325, 0.00578945986251, 0.00462917677677, 0.00395876528027,
               0.00351012256786]
TRASK_2LAYER = [0.00966449, 0.00786506, 0.99358898, 0.99211957]


def test_uniform_legacy_draws_trasks_numbers():
    from nnexp.initializers import uniform_legacy

    rng = np.random.RandomState(1)
    syn0, syn1 = uniform_legacy(3, 4, rng), uniform_legacy(4, 1, rng)
    state = np.random.get_state()
    try:
        np.random.seed(1)
        assert np.array_equal(syn0, 2 * np.random.random((3, 4)) - 1)
        assert np.array_equal(syn1, 2 * np.random.random((4, 1)) - 1)
    finally:
        np.random.set_state(state)


def test_trask_xor_trace_to_1e9(compose_cfg):
    result = run(compose_cfg("experiment=trask_xor", "tracking=none"))
    trace = [h["train/abs_err"] for h in result["history"]][:6]
    assert [h["progress/steps"] for h in result["history"]] == [0, 10000, 20000, 30000, 40000, 50000, 60000]
    np.testing.assert_allclose(trace, TRASK_TRACE, rtol=1e-9)


def test_trask_2layer_outputs(compose_cfg):
    from nnexp.data.toy import XOR_X

    result = run(compose_cfg("experiment=trask_2layer", "tracking=none"))
    np.testing.assert_allclose(result["network"].predict(XOR_X)[:, 0], TRASK_2LAYER, atol=5e-9)


def test_rashid_preset_is_seed_001s_protocol(compose_cfg):
    cfg = compose_cfg("experiment=rashid_mnist", hydra_cfg=True)
    assert list(cfg.model.hidden) == [200] and cfg.model.bias is False and cfg.model.output == "sigmoid"
    assert (cfg.activation.name, cfg.init.scheme, cfg.loss.name) == ("sigmoid", "normal_fanin", "mse_rashid")
    assert compose_cfg("experiment=rashid_mnist_exact").loss.name == "mse"
    assert (cfg.optim.lr, cfg.trainer.batch_size, cfg.trainer.epochs) == (0.1, 1, 5)
    assert list(cfg.loss.targets) == [0.01, 0.99] and cfg.dataset.scale == "rashid" and cfg.dataset.val_frac == 0
    assert str(cfg.hydra.sweeper.params.seed) == "0,1,2"


@pytest.mark.slow
def test_reproductions_analysis_end_to_end(cli, tmp_path):
    for args in (["+experiment=trask_xor", "trainer.steps=20000"], ["+experiment=trask_2layer"],
                 ["+experiment=rashid_mnist_quick", "tracking.experiment=rashid_mnist"]):
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr
    reference = tmp_path / "reference.json"
    runs = load_script("rashid_reference").main(["--seeds", "0", "--epochs", "1", "--max-train", "300",
                                                  "--out", str(reference)])
    assert 0.3 < runs[0]["accuracy"] <= 1 and json.loads(reference.read_text())["runs"][0]["n_train"] == 300
    out, report = tmp_path / "out", tmp_path / "README.md"
    text = load_script("reproductions").main(["--tracking-uri", cli.uri, "--out", str(out), "--report", str(report),
                                              "--reference", str(reference)])
    assert (out / "reproductions.png").stat().st_size > 10_000 and (out / "summary.csv").exists()
    assert "Every printed digit is reproduced" in text and "equal to the 8 printed decimals" in text
    assert "<!-- BEGIN reproductions -->" in report.read_text()
