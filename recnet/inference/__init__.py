"""Inference: the enhance pipeline (working size, guided upsampling, the photo-colour,
tonal-range and strength steps after the network) and the folded CPU forward."""
