"""A torchrun worker for tests/test_distributed.py: gankit's CLI, with rank 1 raising at one step.

Not a test module (no ``test_`` prefix): ``torchrun tests/ddp_failing_worker.py STEP train ...``.
"""
import os
import sys

from gankit.cli import main
from gankit.errors import GankitError
from gankit.training.loop import Trainer

fail_at = int(sys.argv[1])
original = Trainer.iteration


def iteration(self, want_stats):
    if os.environ.get("RANK") == "1" and self.step == fail_at:
        raise GankitError(f"injected failure on rank 1 at step {fail_at}")
    return original(self, want_stats)


Trainer.iteration = iteration
sys.exit(main(sys.argv[2:]))
