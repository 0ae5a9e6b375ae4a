"""nnexp: multilayer perceptrons with hand-written numpy backprop, composed with Hydra,
tracked in MLflow, searched with Optuna.

Heavy libraries (mlflow, optuna, seaborn, scikit-learn) are imported only where used.
"""

__version__ = "0.1.0"
