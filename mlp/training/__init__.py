"""Training: building an experiment from a config, the trainer and its callbacks, checkpoints and
run directories."""
