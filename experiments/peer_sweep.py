"""The benchmark's peer: the sweep a PyTorch user of Hydra + MLflow writes instead of nnexp.

nnexp's default job (scikit-learn's 8x8 digits, a 64-64-10 ReLU MLP, softmax cross-entropy, SGD at
batch 32, float32) as a plain script: a @hydra.main with its own config (peer_conf/peer.yaml), one
MLflow run per job with the config as params and train/loss, val/acc, test/acc every epoch, and
the training loop's time as time/train_s. It imports nothing from nnexp.

    python experiments/peer_sweep.py -m seed=0,1,2,3,4 optim.lr=0.01,0.03,0.1,0.3,0.6,1.0 trainer.epochs=10
    python experiments/peer_sweep.py tracking.uri=sqlite:///mlflow.db trainer.threads=1

Needs torch (`pip install -e '.[bench]'`). Returns the job's val/acc (the sweep's objective).
"""
from __future__ import annotations

import time
from contextlib import nullcontext

import hydra
import mlflow
import torch
from omegaconf import DictConfig, OmegaConf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def flatten(d, prefix=""):
    """{"optim": {"lr": 0.1}} -> {"optim.lr": 0.1}, for mlflow.log_params."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def digits(cfg, seed, dtype):
    """Train, val and test tensors: pixels / 16, stratified splits of the configured sizes."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=cfg.test_size, stratify=y, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=cfg.val_size, stratify=y_rest,
                                                      random_state=seed)
    return [(torch.tensor(a, dtype=dtype), torch.tensor(b)) for a, b in
            ((X_train, y_train), (X_val, y_val), (X_test, y_test))]


def mlp(sizes):
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


@torch.no_grad()
def accuracy(model, X, y):
    model.eval()
    return (model(X).argmax(1) == y).float().mean().item()


@hydra.main(version_base="1.3", config_path="peer_conf", config_name="peer")
def main(cfg: DictConfig) -> float:
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    torch.manual_seed(cfg.seed)
    dtype = getattr(torch, cfg.model.dtype)
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = digits(cfg.data, cfg.seed, dtype)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=cfg.trainer.batch_size, shuffle=True)
    model = mlp([X_train.shape[1], *cfg.model.hidden, 10]).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.optim.lr)
    loss_fn = nn.CrossEntropyLoss()

    if cfg.tracking.enabled:
        if cfg.tracking.uri:
            mlflow.set_tracking_uri(cfg.tracking.uri)
        mlflow.set_experiment(cfg.tracking.experiment)
    train_s = 0.0
    with mlflow.start_run(run_name=f"lr={cfg.optim.lr} seed={cfg.seed}") if cfg.tracking.enabled else nullcontext():
        if cfg.tracking.enabled:
            mlflow.log_params(flatten(OmegaConf.to_container(cfg, resolve=True)))
        for epoch in range(1, cfg.trainer.epochs + 1):
            tic = time.perf_counter()
            model.train()
            total = 0.0
            for xb, yb in loader:
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * len(yb)
            train_s += time.perf_counter() - tic
            metrics = {"train/loss": total / len(y_train), "val/acc": accuracy(model, X_val, y_val),
                       "test/acc": accuracy(model, X_test, y_test), "time/train_s": train_s}
            if cfg.tracking.enabled:
                mlflow.log_metrics(metrics, step=epoch)
    print(f"lr={cfg.optim.lr} seed={cfg.seed}: val/acc {metrics['val/acc']:.4f} test/acc "
          f"{metrics['test/acc']:.4f} ({train_s:.3f} s training)")
    return metrics["val/acc"]


if __name__ == "__main__":
    main()
