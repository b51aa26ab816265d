"""What every layer may read: the version, and N_, the marker of catalog messages."""

__version__ = "0.1.0"


def N_(msgid: str) -> str:
    """Marks a message for the catalogs (pybabel extract reads N_ in derive/*.py); translated where it is shown."""
    return msgid
