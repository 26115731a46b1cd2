"""Training loops (one file per model family) and their shared utilities (`humo.training.common`)."""
