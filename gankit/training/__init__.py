"""Training: the loop, optimizers, EMA, checkpoints and the run directory."""
