"""Training: one engine on accelerate (`humo.training.engine`) and one file per model family that supplies
its model, data and loss."""
