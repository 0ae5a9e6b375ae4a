"""Seed 001's own 784-200-10 code, run on the same MNIST subset: the reference nnexp is checked against.

The network class and training loop are the seed's, as printed (per-sample numpy, column vectors),
with two changes that do not touch the maths: the data come from nnexp's IDX reader instead of
torchvision (the subset cannot be downloaded), and numpy's legacy RNG is seeded per run so the
three runs are reproducible. The runs go as nnexp's `rashid_mnist` sweep goes: two at a time (joblib),
one BLAS thread each (threadpoolctl), so that their training times compare. It computes in float64
(numpy's default for the weights; the float32 inputs are promoted in the first product), so the
like-for-like nnexp run is `rashid_mnist_fp64`. Writes results/rashid_mnist/reference.json: accuracy,
training time, dtype and start/end time (epoch seconds: which runs ran beside which) per seed.

    python experiments/rashid_reference.py [--seeds 0 1 2] [--epochs 5] [--jobs 2] [--max-train N]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy

from nnexp.analysis import RESULTS


def sigmoid(x):
    return 1 / (1 + numpy.exp(-x))


class NeuralNetwork:
    """The seed's class, unchanged but for the layout of this file."""

    def __init__(self):
        self.weights_h1 = numpy.random.normal(0.0, pow(784, -0.5), (200, 784))
        self.weights_o1 = numpy.random.normal(0.0, pow(200, -0.5), (10, 200))
        self.learning_rate = 0.1

    def train(self, inputs_list, targets_list):
        inputs = numpy.array(inputs_list, ndmin=2).T
        targets = numpy.array(targets_list, ndmin=2).T
        hidden_inputs = numpy.dot(self.weights_h1, inputs)
        hidden_outputs = sigmoid(hidden_inputs)
        final_inputs = numpy.dot(self.weights_o1, hidden_outputs)
        final_outputs = sigmoid(final_inputs)
        output_errors = targets - final_outputs
        hidden_errors = numpy.dot(self.weights_o1.T, output_errors)
        self.weights_o1 += self.learning_rate * numpy.dot((output_errors * final_outputs * (1.0 - final_outputs)),
                                                          numpy.transpose(hidden_outputs))
        self.weights_h1 += self.learning_rate * numpy.dot((hidden_errors * hidden_outputs * (1.0 - hidden_outputs)),
                                                          numpy.transpose(inputs))

    def query(self, inputs_list):
        inputs = numpy.array(inputs_list, ndmin=2).T
        hidden_outputs = sigmoid(numpy.dot(self.weights_h1, inputs))
        return sigmoid(numpy.dot(self.weights_o1, hidden_outputs))


def mnist_subset():
    """(train images, train labels, test images, test labels) of the subset, as uint8 arrays,
    found and checksum-verified the way `dataset=mnist10k` finds them."""
    from nnexp.data.files import dataset_files
    from nnexp.data.mnist import _read_pairs

    _, files = dataset_files("mnist10k", None, download=False)
    (train_x, train_y), (test_x, test_y) = _read_pairs(files)
    return train_x, train_y, test_x, test_y


def run(seed, epochs, data):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # as nnexp's parallel jobs (trainer.threads=1)
        return _run(seed, epochs, data)


def _run(seed, epochs, data):
    train_x, train_y, test_x, test_y = data
    numpy.random.seed(seed)
    n = NeuralNetwork()
    started, tic = time.time(), time.perf_counter()
    for e in range(epochs):
        for image, label in zip(train_x, train_y):
            inputs = (numpy.array(image, numpy.float32).ravel() / 255.0 * 0.99) + 0.01
            targets = numpy.zeros(10) + 0.01
            targets[int(label)] = 0.99
            n.train(inputs, targets)
    train_s, ended = time.perf_counter() - tic, time.time()
    scorecard = [int(numpy.argmax(n.query((numpy.array(image, numpy.float32).ravel() / 255.0 * 0.99) + 0.01)) == int(label))
                 for image, label in zip(test_x, test_y)]
    return {"seed": seed, "accuracy": sum(scorecard) / len(scorecard), "train_s": train_s,
            "samples_per_s": epochs * len(train_x) / train_s, "n_train": len(train_x), "n_test": len(test_x),
            "dtype": str(numpy.result_type(n.weights_h1, n.weights_o1)), "started": started, "ended": ended}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, as the nnexp sweep's joblib launcher")
    parser.add_argument("--max-train", type=int, default=None, help="fewer training digits (tests)")
    parser.add_argument("--out", default=str(RESULTS / "rashid_mnist" / "reference.json"))
    args = parser.parse_args(argv)
    train_x, train_y, test_x, test_y = mnist_subset()
    data = (train_x[: args.max_train], train_y[: args.max_train], test_x, test_y)
    from joblib import Parallel, delayed

    runs = Parallel(n_jobs=args.jobs)(delayed(run)(seed, args.epochs, data) for seed in args.seeds)
    for r in runs:
        print(f"seed {r['seed']}: accuracy {r['accuracy']:.4f}, {r['train_s']:.1f} s training")
    from pathlib import Path

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"code": "seed 001 (Rashid), per sample", "epochs": args.epochs, "jobs": args.jobs,
                                "blas_threads": 1, "runs": runs}, indent=2))
    return runs


if __name__ == "__main__":
    main()
