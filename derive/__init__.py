"""derive: backpropagation derivations for teaching, computed with SymPy and verified numerically."""

__version__ = "0.1.0"


def N_(msgid: str) -> str:
    """Marks a message for the catalogs (pybabel extract reads N_ in derive/*.py); translated where it is shown."""
    return msgid
