"""Write torch_ce_reference.npz: PyTorch's cross-entropy values on test_losses.py's cases.

    pip install torch==2.13.0 && python tests/data/make_torch_ce_reference.py

The suite compares nnexp's loss with these stored values (tests/test_losses.py), so it needs no
PyTorch (a 760 MB install) to run; the file also holds a SHA-256 of each case's inputs, and the
test refuses it if test_losses.py's case generator no longer produces those inputs.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def digest(z, y):
    return hashlib.sha256(np.ascontiguousarray(z).tobytes() + np.ascontiguousarray(y).tobytes()).hexdigest()


def main():
    import torch
    import torch.nn.functional as F

    from test_losses import CASES, IDS, SCALES, case

    out = {"torch_version": np.array(torch.__version__)}
    for (output, n_out, soft), name in zip(CASES, IDS):
        for scale in SCALES:
            z, y = case(output, n_out, soft, scale)
            Z, Y = torch.from_numpy(z), torch.from_numpy(y)
            if output == "softmax":  # class probabilities as the target; their sum need not be 1 (0.01/0.99)
                ref = F.cross_entropy(Z, Y, reduction="none")
            else:
                ref = F.binary_cross_entropy_with_logits(Z, Y, reduction="none").sum(dim=1)
            out[f"{name}/{scale}"] = ref.numpy()
            out[f"{name}/{scale}/sha256"] = np.array(digest(z, y))
    np.savez(HERE / "torch_ce_reference.npz", **out)
    print(f"wrote {HERE / 'torch_ce_reference.npz'} ({len(CASES) * len(SCALES)} cases, torch {torch.__version__})")


if __name__ == "__main__":
    main()
