"""`python -m nnexp` runs the Hydra app (see nnexp/cli.py)."""
from .cli import main

if __name__ == "__main__":
    main()
