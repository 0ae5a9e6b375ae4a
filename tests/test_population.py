"""Populations (nnexp/population.py): member by member the same bits as the member trained alone."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import all_runs

from nnexp.experiment import prepare
from nnexp.population import same_shape, train_population
from nnexp.train import train

TIMES = ("time/step_ms", "time/train_s")


def alone(cfg):
    ds, model, loss, data, opt, rng = prepare(cfg)
    return model, train(model, loss, opt, data, cfg.trainer, rng)


def together(cfgs):
    parts = [prepare(c) for c in cfgs]
    models = [p[1] for p in parts]
    results = train_population(models, [p[2] for p in parts], [p[4] for p in parts], [p[3] for p in parts],
                               cfgs[0].trainer, [p[5] for p in parts])
    return models, results


def assert_same(model_a, res_a, model_b, res_b):
    for (name, a), (_, b) in zip(model_a.params(), model_b.params()):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name
    assert len(res_a["history"]) == len(res_b["history"])
    for ha, hb in zip(res_a["history"], res_b["history"]):
        assert ha.keys() == hb.keys()
        for k in ha:
            if k not in TIMES:
                assert np.array_equal(ha[k], hb[k], equal_nan=True), k
    assert (res_a["diverged"], res_a["diverged_at_epoch"], res_a["steps"]) == \
        (res_b["diverged"], res_b["diverged_at_epoch"], res_b["steps"])


BASE = ["trainer.progress=false", "tracking=none"]


SHAPES = [
    ["model.hidden=[16]", "trainer.epochs=3"],
    ["model.hidden=[6]", "dataset.val_frac=0", "trainer.epochs=2", "trainer.probe=null"],
    ["model.hidden=[8,8]", "activation=prelu", "trainer.batch_size=1", "trainer.steps=150", "trainer.eval_every=50",
     "trainer.diagnostics_every=1"],
    ["model.hidden=[12]", "activation=sigmoid", "loss=mse", "model.output=sigmoid", "trainer.batch_size=null",
     "trainer.epochs=4"],
    ["dataset=xor", "model.hidden=[3]", "activation=sigmoid", "trainer.replacement=true", "trainer.steps=40",
     "trainer.eval_every=10", "trainer.batch_size=2"],
    ["optim=momentum", "model.hidden=[10]", "optim.weight_decay=0.001", "trainer.epochs=2", "trainer.batch_size=20"],
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES)
def test_each_member_is_bit_identical_to_the_member_alone(compose_cfg, dtype, shape):
    _check_members(compose_cfg, dtype, shape)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[2]])
def test_members_evaluated_a_chunk_at_a_time_are_the_same_bits(compose_cfg, monkeypatch, shape):
    """A population evaluates as many members at once as keep a split's activations within
    EVAL_BYTES; at 1 byte, one at a time: the numbers do not change."""
    import nnexp.population

    monkeypatch.setattr(nnexp.population, "EVAL_BYTES", 1)
    _check_members(compose_cfg, "float32", shape)


def _check_members(compose_cfg, dtype, shape):
    rng = np.random.default_rng(abs(hash((dtype, *shape))) % 2**32)
    cfgs = []
    for i in range(4):
        lr = float(rng.choice([0.01, 0.05, 0.3, 2.0]))
        extra = [f"seed={int(rng.integers(0, 100))}", f"optim.lr={lr}", f"init={rng.choice(['he', 'xavier', 'normal'])}"]
        if "optim=momentum" in shape:
            extra.append(f"optim.momentum={float(rng.choice([0.5, 0.9]))}")
        cfgs.append(compose_cfg(*BASE, *shape, f"model.dtype={dtype}", *extra))
    assert len({same_shape(c) for c in cfgs}) == 1
    models, results = together(cfgs)
    for cfg, model, result in zip(cfgs, models, results):
        assert isinstance(result, dict), result
        m1, r1 = alone(copy.deepcopy(cfg))
        assert_same(m1, r1, model, result)
        assert result["population"] == 4


def test_a_diverged_member_stops_and_the_others_go_on(compose_cfg):
    cfgs = [compose_cfg(*BASE, "loss=mse", "model.output=linear", "trainer.epochs=6", f"optim.lr={lr}", "seed=3")
            for lr in (0.01, 50, 0.02)]
    models, results = together(cfgs)
    assert results[1]["diverged"] and not results[0]["diverged"] and not results[2]["diverged"]
    assert results[1]["steps"] < results[0]["steps"] == results[2]["steps"]
    for cfg, model, result in zip(cfgs, models, results):
        assert_same(*alone(cfg), model, result)


def test_a_callback_stops_one_member(compose_cfg):
    from nnexp.errors import RunStopped

    cfgs = [compose_cfg(*BASE, "model.hidden=[8]", "trainer.epochs=3", f"seed={s}") for s in range(3)]
    parts = [prepare(c) for c in cfgs]

    def prune(metrics, step):
        if step == 1:
            raise RunStopped("KILLED", "pruned at epoch 1")

    results = train_population([p[1] for p in parts], [p[2] for p in parts], [p[4] for p in parts],
                               [p[3] for p in parts], cfgs[0].trainer, [p[5] for p in parts],
                               callbacks=[None, prune, None])
    assert isinstance(results[1], RunStopped) and isinstance(results[0], dict) and isinstance(results[2], dict)
    for i in (0, 2):
        assert_same(*alone(cfgs[i]), parts[i][1], results[i])


def test_jobs_of_other_shapes_do_not_share_a_population(compose_cfg):
    a = same_shape(compose_cfg(*BASE, "seed=1", "optim.lr=0.1"))
    assert a == same_shape(compose_cfg(*BASE, "seed=2", "optim.lr=0.5", "init=xavier", "tracking.experiment=x"))
    for other in (["model.hidden=[32]"], ["trainer.batch_size=16"], ["activation=tanh"], ["loss=mse"],
                  ["model.dtype=float64"], ["dataset=xor"], ["trainer.epochs=3"], ["optim=momentum"]):
        assert same_shape(compose_cfg(*BASE, "seed=1", *other)) != a, other


def _metrics_by_job(uri, experiment):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`nnexp.job` != ''")
    out = {}
    for r in runs:
        hist = {k: [m.value for m in client.get_metric_history(r.info.run_id, k)]
                for k in r.data.metrics if not k.startswith("time/")}
        out[r.info.run_name] = (r.info.status, hist, r.data.params, r.data.tags.get("nnexp.population"))
    return out


@pytest.mark.slow
def test_a_plain_sweep_trains_populations_with_the_numbers_of_the_basic_launcher(cli):
    """`-m` with the default launcher: jobs of one shape share a population; every job is its own
    MLflow run with the params and metric histories the basic launcher gives it, bit for bit."""
    sweep = ["-m", "seed=0,1", "optim.lr=0.1,5.0", "model.hidden=[8],[4,4]", "trainer.epochs=2",
             "trainer.progress=false"]
    pop = cli(*sweep, "tracking.experiment=pop")
    assert pop.returncode == 0, pop.stderr
    assert "2 populations (4, 4 members)" in pop.stderr + pop.stdout
    basic = cli(*sweep, "tracking.experiment=basic", "hydra/launcher=basic")
    assert basic.returncode == 0, basic.stderr
    a, b = _metrics_by_job(cli.uri, "pop"), _metrics_by_job(cli.uri, "basic")
    assert len(a) == 8 and a.keys() == b.keys()
    for name in a:
        (sa, ha, pa, npop), (sb, hb, pb, _) = a[name], b[name]
        assert sa == sb and ha == hb, name  # floats compared exactly, every logged step
        assert {k: v for k, v in pa.items() if k != "tracking.experiment"} == \
            {k: v for k, v in pb.items() if k != "tracking.experiment"}
        assert npop == "4"
    assert "sweep of 8 jobs" in pop.stdout and pop.stdout.count("[pop job") == 8


def test_an_interrupted_population_saves_each_member_and_each_resumes_alone(compose_cfg, tmp_path):
    from conftest import all_runs
    from nnexp.experiment import population_jobs, run, run_population

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["trainer.epochs=4", f"tracking.uri={uri}", "tracking.log_artifacts=false", "trainer.progress=false",
            "optim=momentum", "trainer.batch_size=50"]
    cfgs = [compose_cfg(*args, f"seed={s}", f"optim.lr={lr}") for s, lr in ((0, 0.05), (1, 0.1), (2, 0.02))]

    def interrupt(metrics, step):
        if metrics["progress/steps"] >= 40:
            raise KeyboardInterrupt  # what Ctrl-C raises, here at a known point

    with pytest.raises(KeyboardInterrupt):
        run_population(population_jobs(cfgs, callbacks=[None, interrupt, None]))
    killed = {r.data.params["seed"]: r for r in all_runs(uri)}
    assert sorted(killed) == ["0", "1", "2"] and all(r.info.status == "KILLED" for r in killed.values())
    assert all("checkpoint at step" in r.data.tags["nnexp.end_reason"] for r in killed.values())
    for cfg in cfgs:
        whole = run(compose_cfg(*args, f"seed={cfg.seed}", f"optim.lr={cfg.optim.lr}", "tracking=none"))
        rid = killed[str(cfg.seed)].info.run_id
        resumed = run(compose_cfg(*args, f"seed={cfg.seed}", f"optim.lr={cfg.optim.lr}", f"trainer.resume={rid}"))
        assert resumed["run_id"] == rid
        assert [w.tobytes() for w in resumed["network"].W] == [w.tobytes() for w in whole["network"].W]
        assert [{k: v for k, v in h.items() if k not in TIMES} for h in resumed["history"]] == \
            [{k: v for k, v in h.items() if k not in TIMES} for h in whole["history"]]
    assert not [r for r in all_runs(uri) if r.info.status != "FINISHED"]


def _saved_job(folder, launcher):
    """A job's saved .hydra files, without what names the launcher or the sweep folder."""
    import yaml

    files = {f: yaml.safe_load((folder / ".hydra" / f"{f}.yaml").read_text()) for f in ("config", "overrides", "hydra")}
    h = files["hydra"]["hydra"]
    for key in ("launcher", "sweep"):
        h.pop(key)
    h["runtime"].pop("output_dir")
    h["overrides"]["hydra"] = [o for o in h["overrides"]["hydra"] if not o.startswith(("hydra/launcher=", "hydra.sweep.dir="))]
    assert h["runtime"]["choices"].pop("hydra/launcher") == launcher
    return files


def test_the_launcher_gives_each_job_the_config_hydra_composes_for_it(cli, tmp_path):
    """nnexp's launcher composes a sweep once per combination of its config groups and derives the
    other jobs (seed, optim.lr) from it: every job's saved config, overrides and Hydra config are
    those of Hydra's basic launcher, which composes each job."""
    sweep = ["-m", "seed=0,1", "optim.lr=0.1,0.3", "model.hidden=[8],[4,4]", "activation=relu,tanh",
             "trainer.epochs=1", "tracking=none"]
    for launcher in ("nnexp", "basic"):
        proc = cli(*sweep, f"hydra/launcher={launcher}", f"hydra.sweep.dir=sweep_{launcher}")
        assert proc.returncode == 0, proc.stderr
    for job in range(16):
        assert _saved_job(tmp_path / "sweep_nnexp" / str(job), "nnexp") == \
            _saved_job(tmp_path / "sweep_basic" / str(job), "basic"), job


def test_populations_in_two_processes_nest_under_the_sweep_parent(cli):
    """hydra.launcher.n_jobs=2: the populations train in worker processes; the parent run (created in
    the background of the main process) is known to them, and every member nests under it."""
    proc = cli("-m", "seed=0,1", "model.hidden=[4],[8]", "trainer.epochs=1", "hydra.launcher.n_jobs=2",
               "tracking.log_artifacts=false")
    assert proc.returncode == 0, proc.stderr
    assert "in 2 processes: 2 populations (2, 2 members)" in proc.stderr + proc.stdout
    runs = all_runs(cli.uri)
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.kind") == "sweep"]
    members = [r for r in runs if r is not parent]
    assert len(members) == 4 and all(r.data.tags.get("mlflow.parentRunId") == parent.info.run_id for r in members)
    assert {r.info.status for r in runs} == {"FINISHED"} and {r.data.tags["nnexp.population"] for r in members} == {"2"}
