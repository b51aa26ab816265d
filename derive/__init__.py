"""derive: backpropagation derivations for teaching, computed with SymPy and verified numerically."""

__version__ = "0.1.0"
