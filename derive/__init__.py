"""derive: backpropagation derivations for teaching, computed with SymPy and verified numerically."""

__version__ = "0.1.0"


def N_(msgid: str) -> str:
    """Marks a message for the catalogs (pybabel extract reads N_ in derive/*.py); translated where it is shown."""
    return msgid


def check(path, answers: dict, lang: str = "en") -> dict:
    """CONTRACT section 9: one student's answers ({key: formula}) for the spec at path, graded: the object of
    one file of `derive check --format json`, feedback in lang."""
    from .check import Engine, check_answer_set

    return check_answer_set(Engine(str(path)), answers, lang)
