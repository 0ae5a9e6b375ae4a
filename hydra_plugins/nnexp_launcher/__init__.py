"""nnexp's Hydra launcher (`hydra/launcher=nnexp`, the default): a sweep's jobs of one shape are
trained as one population (nnexp/launch.py). Hydra finds launchers in the hydra_plugins namespace."""
