"""``python -m gankit ...`` (and ``torchrun ... -m gankit train ...``): the ``gankit`` command."""
from gankit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
