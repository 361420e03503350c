"""Training: pair synthesis, real bracket pairs, losses, the training step and loop, and their sheets."""
