"""Modern layers (issue 17): RNN through time, attention, convolution, layer norm, on one index-form engine."""
