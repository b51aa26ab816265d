"""The KaTeX harness itself: it must be able to both pass and fail."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from katex import extract_math, extract_math_with_mode, katex_errors, require_katex

VALID = [
    r"\frac{\partial y}{\partial \theta_{01}} = I[z_1>0]",
    r"\boxed{x}",
    r"\color{red}{a}",
    r"a \odot b",
    r"\mathbb{1}",
    r"\text{не определена}",
    r"\text{pochodna względem}",
    r"x_{\text{вх}} = x_{вх}",  # Cyrillic directly in math: KaTeX renders it
    r"\begin{aligned} a &= b \\ c &= d \end{aligned}",
    r"\operatorname{ReLU}(z) = \max(0, z)",
]

INVALID = {
    r"\frac{a}{": "Unexpected end of input",
    r"\undefinedmacro x": r"Undefined control sequence: \undefinedmacro",
    r"\bbox[border: 1px]{x}": r"Undefined control sequence: \bbox",  # MathJax-only
    r"x^{a}^{b}": "Double superscript",
    r"\href{https://example.com}{a}": "untrusted",  # renders as red text
}


def test_valid_formulas_render():
    require_katex()
    assert katex_errors(VALID) == []


@pytest.mark.parametrize("tex", VALID)
def test_each_valid_formula_renders(tex):
    require_katex()
    assert katex_errors([tex]) == []


def test_invalid_formulas_are_reported():
    require_katex()
    errors = katex_errors(list(INVALID))
    assert [f for f, _ in errors] == list(INVALID)
    for formula, message in errors:
        assert INVALID[formula] in message, (formula, message)


def test_mixed_batch_reports_only_failures_in_order():
    require_katex()
    batch = [VALID[0], r"\frac{a}{", VALID[1], r"\undefinedmacro x", VALID[0], r"\frac{a}{"]
    errors = katex_errors(batch)
    assert [f for f, _ in errors] == [r"\frac{a}{", r"\undefinedmacro x", r"\frac{a}{"]
    assert all(isinstance(m, str) and m for _, m in errors)


def test_display_vs_inline_mode():
    require_katex()
    assert katex_errors([r"x \tag{1}"], display=True) == []
    assert katex_errors([r"x \tag{1}"], display=False) != []


def test_empty_batch_needs_no_node():
    assert katex_errors([]) == []


def test_require_katex_skips_or_fails_without_katex(monkeypatch, tmp_path):
    monkeypatch.setenv("DERIVE_KATEX_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install-katex"):
        require_katex()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="install-katex"):
        require_katex()


def test_require_katex_fails_on_ci_without_node(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="node"):
        require_katex()


def test_renderer_rejects_garbage_input():
    require_katex()
    js = Path(__file__).with_name("katex_render.js")
    proc = subprocess.run(["node", str(js)], input="not json", capture_output=True, text=True)
    assert proc.returncode != 0


SAMPLE = r"""# Gradient

The loss is $L = \frac{1}{2}(y - t)^2$ and it costs \$5 to compute, or \$10.
Prices like $5 and $10 are not math either.

$$
\frac{\partial L}{\partial y} = y - t
$$

Inline code `$not_math$` and ``a `$x$` b`` are skipped.

```python
cost = "$x$"
$$ also not math $$
```

~~~
$y$
~~~

Then $z_1 = w x$, and
$$\delta = \sigma'(z) \odot \nabla_a L$$
done.
"""


def test_extract_math_finds_exactly_the_math():
    assert extract_math(SAMPLE) == [
        r"L = \frac{1}{2}(y - t)^2",
        r"\frac{\partial L}{\partial y} = y - t",
        r"z_1 = w x",
        r"\delta = \sigma'(z) \odot \nabla_a L",
    ]
    assert [d for _, d in extract_math_with_mode(SAMPLE)] == [False, True, False, True]


@pytest.mark.parametrize(
    "md, expected",
    [
        ("no math here", []),
        (r"escaped \$x\$ and real $y$", ["y"]),
        ("$ a $", []),  # pandoc: no space after opening $
        ("$a$5", []),  # closing $ followed by a digit
        ("$a\n\nb$", []),  # inline math does not cross paragraphs
        ("$$a\n\nb$$", ["a\n\nb"]),  # display math may
        (r"$\$5$", [r"\$5"]),  # escaped dollar inside math
        (r"$a \\$", [r"a \\"]),  # \\ then closing $
        ("```\n$x$\n", []),  # unclosed fence runs to the end
        ("- item\n\n  ```\n  $x$\n  ```\n  $y$", ["y"]),  # indented fence in a list
        ("`` ` `` $k$", ["k"]),
        ("$$\n  a  \n$$ and $b$", ["a", "b"]),
    ],
)
def test_extract_math_edge_cases(md, expected):
    assert extract_math(md) == expected


def test_extracted_sample_renders():
    require_katex()
    assert katex_errors(extract_math(SAMPLE)) == []


def test_batch_of_thousands_is_fast():
    require_katex()
    formulas = [
        rf"\frac{{\partial L}}{{\partial w_{{{i}}}}} = \sum_{{k=1}}^{{{i % 7 + 1}}} "
        rf"\delta_k \odot \sigma'(z_{{{i}}}) \cdot \mathbb{{1}}[z_{{{i}}} > 0]"
        for i in range(2000)
    ]
    formulas[1234] = r"\frac{a}{"
    t0 = time.perf_counter()
    errors = katex_errors(formulas)
    elapsed = time.perf_counter() - t0
    assert [f for f, _ in errors] == [r"\frac{a}{"]
    assert elapsed < 30, elapsed
