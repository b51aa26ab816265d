"""Validated specs: `kind: network` as CONTRACT section 2 defines it.

`load_spec(path)` reads YAML safely and returns a frozen `NetworkSpec` whose
names are final (families reused by several layers get the layer number:
`W` in layers 1 and 2 becomes `W1`, `W2`, printed W^{[1]}, W^{[2]}). Every
problem is a `SpecError` naming file, line, column, key path and what was
expected.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from derive.core.functions import ACTIVATIONS, LOSSES, words
from derive.core.yamlload import Doc, dotted, load_file, load_text, one_of, shown

NAME_RE = re.compile(r"[A-Za-z]+\Z")
RESERVED = {"I", "H", "sigma", "e", "pi", "Heaviside", "np", "d"} | set(keyword.kwlist)  # and every function word


def spelt_greek(text: str) -> str | None:
    """θ -> 'theta', Ψ -> 'Psi': a Greek letter typed as such, spelt as names are (None for anything else)."""
    import unicodedata

    if len(text) != 1 or not "\u0391" <= text <= "\u03c9":
        return None
    words = unicodedata.name(text, "").split()  # GREEK SMALL LETTER THETA
    if len(words) != 4 or words[:2] != ["GREEK", "SMALL"] and words[:2] != ["GREEK", "CAPITAL"]:
        return None
    name = words[3].lower().replace("lamda", "lambda")
    return name if words[1] == "SMALL" else name.capitalize()


def reserved(name: str) -> bool:
    """A keyword, a constant, or a function of the vocabulary (derive.functions): not a name for a quantity."""
    return name in RESERVED or name.lower() in words()


# Why a reserved name is taken, for the error message: what it already means in formulas, answers and JSON.
_TAKEN = {"I": "it is the indicator I[…]", "H": "it is the Heaviside step H(…)", "Heaviside": "it is the Heaviside step",
          "sigma": "it is σ, the sigmoid", "e": "it is Euler's number e", "pi": "it is the number π",
          "np": "the notebooks' code calls numpy np", "d": "answers write derivatives as dy/dx"}


def why_reserved(name: str) -> str:
    """What a reserved name already stands for."""
    if name in _TAKEN:
        return _TAKEN[name]
    if keyword.iskeyword(name):
        return "it is a Python keyword, which the JSON's formulas cannot use as a name"
    return f"it is the function {words().get(name.lower(), name)}"
MAX_LAYERS, MAX_UNITS, MAX_INPUTS = 12, 256, 256
MAX_ALPHA = 100  # |a constant such as the leaky_relu slope or λ|: 1e300 overflows the numeric check
NETWORK_KEYS = ("kind", "title", "input", "output", "index", "layers", "loss", "target", "loss_name", "view", "notation",
                "weight_decay", "values", "learning_rate", "frozen", "digits", "exact", "tolerance", "boxes")
LAYER_KEYS = ("units", "activation", "alpha", "params", "bias", "pre", "post", "bias_shared", "residual")
INDEX_ORDERS = ("source-target", "target-source")


@dataclass(frozen=True)
class LayerSpec:
    """One layer with its final names; `pre`/`post` are None where a quantity is not named."""

    units: int
    activation: str
    alpha: float | str | None
    params: str
    bias: str | None
    pre: str | None
    post: str
    bias_shared: bool = False  # one bias for all units of the layer (CONTRACT section 7)
    residual: bool = False  # h = f(z) + the layer's input (a skip connection); see _residual


@dataclass(frozen=True)
class NetworkSpec:
    file: str
    title: dict[str, str]
    input: str
    input_size: int
    output: str
    index: str
    layers: tuple[LayerSpec, ...]
    loss: str
    target: str | None
    loss_name: str
    view: str
    notation: str
    weight_decay: float | str | None = None  # λ of (λ/2) Σ w², a number or a symbol name
    worked: object | None = None  # worked.Worked: values, learning rate, digits (CONTRACT section 7)
    boxes: str | None = None  # none | key; absent: as the seeds, key results framed only in the vector view's math notation

    def framed(self) -> str:
        """`boxes:` as given, else as the seed of this view: none for scalar (seed 000) and numpy (seed 002),
        the key results for the vector view's math notation (seed 004)."""
        return self.boxes or ("key" if self.view == "vector" and self.notation == "math" else "none")

    @property
    def of(self) -> str:
        """What is differentiated: the loss, or the output when there is none."""
        return self.output if self.loss == "none" else self.loss_name


def load_spec(path: str | Path) -> NetworkSpec:
    return parse_doc(load_file(path))


def load_spec_text(text: str, file: str = "<input>") -> NetworkSpec:
    return parse_doc(load_text(text, file))


def parse_doc(doc: Doc) -> NetworkSpec:
    if not isinstance(doc.data, dict):
        raise doc.error((), "a spec is a YAML mapping with keys such as kind, input, layers")
    spec = _Network(doc).parse()
    if spec.view == "vector" and spec.weight_decay is not None:
        raise doc.error(("weight_decay",), "weight_decay is derived in the scalar view only (view: scalar)")
    if spec.view == "vector" and spec.index != "target-source":
        where = ("index",) if "index" in doc.data else ("view",)
        raise doc.error(where, VECTOR_NEEDS)
    _check_scalar_only(doc, spec)
    return spec  # a worked example's values: are read by the kind (network.parse), which knows the model


def _check_scalar_only(doc: Doc, spec: NetworkSpec) -> None:
    """A shared bias and worked numbers belong to the scalar view (the matrix view's b^{[l]} is a vector)."""
    if spec.view != "vector":
        return
    for i, layer in enumerate(spec.layers):
        if layer.bias_shared:
            raise doc.error(("layers", i, "bias_shared"), "bias_shared needs view: scalar (the matrix view has a bias vector b per layer)")
    if "values" in doc.data:
        raise doc.error(("values",), "a worked example with values: is shown in view: scalar (every parameter, every step)")


VECTOR_NEEDS = ("view: vector needs `index: target-source` (W_{jk}: j = target, k = source, with a "
                "separate bias b_j), the matrix convention of z = W x + b")


class _Network:
    """Validation of one `kind: network` mapping, key by key."""

    def __init__(self, doc: Doc):
        self.doc, self.data = doc, doc.data

    def parse(self) -> NetworkSpec:
        self.doc.known_keys(self.data, NETWORK_KEYS)
        inp, size = self._input()
        layers_raw = self._layers_raw()
        loss = self._choice(("loss",), "none", ("none", *LOSSES))
        self._refuse_unused(layers_raw, loss)
        if isinstance(self.data.get("output"), dict):  # written like input: {name: x, size: 3}
            raise self.doc.error(("output",), "expected the output's name, e.g. output: y; its size is the "
                                              "number of units of the last layer")
        layers = self._name_layers(layers_raw, self._str(("output",), "y"))
        layers = self._residuals(layers_raw, layers, size)
        spec = NetworkSpec(
            file=self.doc.file,
            title=self.doc.title(),
            input=inp,
            input_size=size,
            output=self._name(("output",), "y"),
            index=self._choice(("index",), "source-target", INDEX_ORDERS),
            layers=layers,
            loss=loss,
            target=self._name(("target",), "t") if loss != "none" else None,
            loss_name=self._name(("loss_name",), "J"),
            view=self._choice(("view",), "scalar", ("scalar", "vector")),
            notation=self._choice(("notation",), "math", ("math", "numpy")),
            weight_decay=self._weight_decay(loss),
            boxes=self.doc.boxes(),
        )
        self._check_output(spec)
        self._check_distinct(spec)
        return spec

    def _refuse_unused(self, layers: list, loss: str) -> None:
        """Keys that would do nothing are errors, not silently dropped: a target or a loss name without a
        loss (a forgotten `loss:` would otherwise differentiate the output instead), a separate bias with
        index: source-target, where the bias is index 0 of the layer's parameters."""
        for key in ("target", "loss_name"):
            if key in self.data and loss == "none":
                raise self.doc.key_error((key,), f"{key} belongs to a loss, but there is no loss (loss: none "
                                                 f"differentiates the output itself); add a loss, e.g. loss: "
                                                 f"half_sse, or drop {key}")
        if self.data.get("index", "source-target") == "source-target":
            for i, layer in enumerate(layers):
                if isinstance(layer, dict) and "bias" in layer:
                    raise self.doc.key_error(("layers", i, "bias"), "a separate bias b_j belongs to index: "
                                             "target-source; with index: source-target (the default) the bias "
                                             "is index 0 of the layer's params (theta_01); drop bias, or write "
                                             "index: target-source")

    # -- residual connections (h = f(z) + input): kept apart from the other layer keys ----------
    def _residuals(self, raw: list[dict], layers: tuple[LayerSpec, ...], input_size: int) -> tuple[LayerSpec, ...]:
        widths = [input_size] + [layer.units for layer in layers]
        return tuple(replace(layer, residual=self._residual(raw[i], i, layer, widths[i])) for i, layer in enumerate(layers))

    def _residual(self, layer: dict, i: int, spec: LayerSpec, width_in: int) -> bool:
        path = ("layers", i, "residual")
        value = layer.get("residual", False)
        if not isinstance(value, bool):
            raise self.doc.error(path, f"expected true or false, got {_show(value)}")
        if value and spec.units != width_in:
            raise self.doc.error(path, f"a residual layer adds its input to its output, so its width must match its "
                                       f"input: it has {spec.units} units and {width_in} inputs")
        if value and spec.activation == "softmax":
            raise self.doc.error(path, "a softmax layer cannot be residual: its outputs are probabilities")
        return value


    # -- pieces ---------------------------------------------------------------
    def _input(self) -> tuple[str, int]:
        raw = self.data.get("input", "x")
        if isinstance(raw, dict):
            self.doc.known_keys(raw, ("name", "size"), ("input",))
            size = self._int(("input", "size"), raw.get("size", 1), 1, MAX_INPUTS)
            return self._name(("input", "name"), "x", raw), size
        return self._name(("input",), "x"), 1

    def _layers_raw(self) -> list[dict]:
        layers = self.data.get("layers")
        if layers is None:
            raise self.doc.error((), "missing key 'layers': a list of layers, e.g. - {units: 2, activation: relu}")
        if not isinstance(layers, list) or not layers:
            raise self.doc.error(("layers",), "expected a non-empty list of layers")
        if len(layers) > MAX_LAYERS:
            raise self.doc.error(("layers",), f"{len(layers)} layers; at most {MAX_LAYERS} are supported")
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict):
                raise self.doc.error(("layers", i), "expected a mapping such as {units: 2, activation: relu}")
            self.doc.known_keys(layer, LAYER_KEYS, ("layers", i))
        return layers

    def _name_layers(self, raw: list[dict], output: str) -> tuple[LayerSpec, ...]:
        last = len(raw) - 1
        given = [self._layer_names(layer, i, i == last) for i, layer in enumerate(raw)]
        counts = {role: Counter(names[role] for names in given if names[role]) for role in ("params", "bias", "pre", "post")}
        layers = []
        for i, (layer, names) in enumerate(zip(raw, given)):
            final = {
                role: (f"{name}{i + 1}" if name and counts[role][name] > 1 else name) for role, name in names.items()
            }
            layers.append(self._layer(layer, i, i == last, final, output))
        return tuple(layers)

    def _layer_names(self, layer: dict, i: int, is_last: bool) -> dict[str, str | None]:
        path = ("layers", i)
        target_source = self.data.get("index") == "target-source"
        activation = layer.get("activation", "identity")
        return {
            "params": self._name(path + ("params",), "W" if target_source else "w", layer),
            "bias": self._name(path + ("bias",), "b", layer) if target_source else None,
            # the matrix view writes z = W a + b for every layer, the identity output layer's too
            "pre": self._name(path + ("pre",), "z", layer)
            if (not is_last or activation != "identity" or self.data.get("view") == "vector") else None,
            "post": None if is_last else self._name(path + ("post",), "a", layer),
        }

    def _layer(self, layer: dict, i: int, is_last: bool, names: dict, output: str) -> LayerSpec:
        path = ("layers", i)
        if "units" not in layer:
            raise self.doc.error(path, "missing key 'units': the number of neurons, a whole number ≥ 1")
        units = self._int(path + ("units",), layer["units"], 1, MAX_UNITS)
        activation = self._choice(path + ("activation",), "identity", tuple(ACTIVATIONS), layer)
        if activation == "softmax" and (not is_last or units < 2):
            raise self.doc.error(path + ("activation",), "softmax is allowed only on the output layer, with 2 or more units")
        alpha = self._alpha(layer, path, activation)
        return LayerSpec(units, activation, alpha, names["params"], names["bias"], names["pre"], names["post"] or output,
                         self._bool(path + ("bias_shared",), layer.get("bias_shared", False)))

    def _alpha(self, layer: dict, path: tuple, activation: str) -> float | str | None:
        default = ACTIVATIONS[activation].alpha
        if "alpha" in layer and default is None:
            takes = ", ".join(name for name, a in ACTIVATIONS.items() if a.alpha is not None)
            raise self.doc.error(path + ("alpha",), f"alpha belongs to activation {takes} only")
        if default is None:
            return None
        return self._number_or_name(path + ("alpha",), layer.get("alpha", default), layer)

    def _number_or_name(self, path: tuple, raw: Any, mapping: dict) -> float | str:
        """A constant such as α or λ: a finite number, or the name of a symbol."""
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            if not abs(raw) <= MAX_ALPHA:  # 1e300 overflows the numeric check: the input's fault, not a bug
                raise self.doc.error(path, f"expected a number from -{MAX_ALPHA} to {MAX_ALPHA} "
                                           f"(a slope is usually 0.01 to 0.3), got {_show(raw)}")
            return float(raw)
        if not isinstance(raw, str):
            raise self.doc.error(path, f"expected a number or a name, e.g. 0.01 or lambda; got {_show(raw)}")
        if raw == "lambda":  # a Python keyword: SymPy's spelling, printed λ all the same
            return "lamda"
        return self._name(path, raw if isinstance(raw, str) else "", mapping)

    def _weight_decay(self, loss: str) -> float | str | None:
        if "weight_decay" not in self.data:
            return None
        if loss == "none":
            raise self.doc.error(("weight_decay",), "weight_decay is a term of the loss: choose a loss, e.g. loss: half_sse")
        return self._number_or_name(("weight_decay",), self.data["weight_decay"], self.data)

    def _check_output(self, spec: NetworkSpec) -> None:
        out = spec.layers[-1]
        if spec.loss == "none" and out.units != 1:
            raise self.doc.error(
                ("loss",), f"with loss: none the output is differentiated, so the last layer needs 1 unit (it has {out.units}); or choose a loss"
            )
        loss = LOSSES.get(spec.loss)
        if loss and loss.single_output and out.units != 1:
            raise self.doc.error(("loss",), f"{spec.loss} needs one output unit; the last layer has {out.units}")
        if loss and loss.needs_unit_interval and not ACTIVATIONS[out.activation].unit_interval:
            fitting = " or ".join(name for name, a in ACTIVATIONS.items() if a.unit_interval)
            raise self.doc.error(
                ("layers", len(spec.layers) - 1, "activation"),
                f"loss {spec.loss} takes logarithms of the outputs, so they must lie in (0, 1): use {fitting}",
            )

    def _check_distinct(self, spec: NetworkSpec) -> None:
        """Every name names one quantity; a clash is pointed at the second of the two (where the reader is)."""
        seen: dict[str, str] = {}
        roles = [(("input",), spec.input), (("output",), spec.output)]
        if spec.loss != "none":
            roles += [(("target",), spec.target), (("loss_name",), spec.loss_name)]
        for i, layer in enumerate(spec.layers):
            roles += [(("layers", i, role), getattr(layer, role)) for role in ("params", "bias", "pre")]
            roles += [(("layers", i, "post"), layer.post)] if i < len(spec.layers) - 1 else []
            roles += [(("layers", i, "alpha"), layer.alpha)] if isinstance(layer.alpha, str) else []
        if isinstance(spec.weight_decay, str):
            roles.append((("weight_decay",), spec.weight_decay))
        for path, name in roles:
            role = dotted(path)
            if name is None:
                continue
            if name in seen and not (role.endswith("alpha") and seen[name].endswith("alpha")):
                raise self.doc.error(path, f"the name {name!r} is used for both {seen[name]} and {role}; "
                                           f"names must differ")
            seen.setdefault(name, role)

    # -- typed getters ----------------------------------------------------------
    def _str(self, path: tuple, default: str, mapping: dict | None = None) -> str:
        mapping = self.data if mapping is None else mapping
        value = mapping.get(path[-1], default)
        if not isinstance(value, str):
            raise self.doc.error(path, f"expected a word, got {_show(value)}")
        return value

    def _name(self, path: tuple, default: str, mapping: dict | None = None) -> str:
        value = self._str(path, default, mapping)
        if not NAME_RE.match(value):
            greek = spelt_greek(value)
            hint = f"; did you mean {greek!r}? (it prints as {value})" if greek and not reserved(greek) else ""
            raise self.doc.error(path, f"{shown(value)} is not a valid name; expected Latin letters only, e.g. z, "
                                       f"theta, W{hint}")
        if reserved(value):
            raise self.doc.error(path, f"{value!r} is reserved ({why_reserved(value)}); choose another name")
        return value

    def _choice(self, path: tuple, default: str, options: tuple, mapping: dict | None = None) -> str:
        value = self._str(path, default, mapping)
        if value not in options:
            raise self.doc.error(path, f"unknown {path[-1]} {shown(value)}; {one_of(value, options, words())}")
        return value

    def _bool(self, path: tuple, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.doc.error(path, f"expected true or false, got {_show(value)}")
        return value

    def _int(self, path: tuple, value: Any, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.doc.error(path, f"expected a whole number from {low} to {high}, got {_show(value)}")
        return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
