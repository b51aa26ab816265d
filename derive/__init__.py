"""derive: backpropagation derivations for teaching, computed with SymPy and verified numerically.

The Python API (derive.api) is re-exported lazily, so that `derive --help`
imports nothing heavy: `derive.derive(path, lang="en")` and
`derive.check(path, answers, lang="en")`.
"""

from derive.meta import N_, __version__  # noqa: F401

import sys
import types

__all__ = ["derive", "check", "Derivation"]
API = {"derive", "check", "Derivation"}  # names of derive.api offered here


class _Package(types.ModuleType):
    """The package, whose API names come from derive.api on first use.

    `derive.check` is also the name of the submodule derive/check.py: importing
    that submodule makes Python set the package attribute `check` to it, which
    would hide the API function. The attribute is therefore a property that
    ignores submodules being bound to it; the submodule stays in sys.modules.
    """

    @property
    def check(self):
        from derive.api import check

        return check

    @check.setter
    def check(self, value):
        if not isinstance(value, types.ModuleType):
            raise AttributeError("derive.check is the API function derive.api.check")

    def __getattr__(self, name):
        if name in API:
            from derive import api

            return getattr(api, name)
        raise AttributeError(f"module 'derive' has no attribute {name!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | API)


sys.modules[__name__].__class__ = _Package
