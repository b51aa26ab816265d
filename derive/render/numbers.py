"""Numbers as a lecture prints them: significant digits, the language's decimal sign, exact fractions on request.

`format_number(x, lang, digits)` is the one place that turns a computed
value into text (0.3589 in English, 0,3589 in Russian and Polish; `{,}` in
LaTeX so the comma is not followed by a space). The decimal sign has one
source, the language's entry (`decimal_separator` in
templates/locale/<lang>/language.toml, derive.core.languages): every number
formatter reads it through `decimal_sign`, so a new language needs no code here. `Num` is the display
atom of a number inside a formula (a value substituted into a derivation);
`Times` shows a product of numbers with explicit dots, 0,15 · 0,05.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

import sympy as sp

DIGITS = 4  # significant digits when the spec does not say
PRECISION = 30  # decimal digits of the values computed before they are rounded for display
FIXED_RANGE = (1e-5, 1e7)  # outside it a number is written a · 10^k
_WIDE = decimal.Context(prec=PRECISION + 10, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)  # e^(-10^308) too


def decimal_sign(lang: str) -> str:
    """The language's decimal sign: its entry's `decimal_separator` (language.toml), the only source."""
    from derive.core.languages import language

    return language(lang).decimal


def times_sign(lang: str) -> str:
    """The sign before a power of ten (a × 10^k): × where the decimal sign is a point (English, ISO 80000-1, so
    that 1.4·10 cannot be misread), the centred dot where it is a comma (1,4 · 10^k in Russian and Polish)."""
    return r"\times" if decimal_sign(lang) == "." else r"\cdot"


def format_percent(fraction: float, lang: str = "en") -> str:
    """0.005 -> 0.5% (en; pl: 0,5%; ru: 0,5 % with a no-break space): the spacing from the language's
    CLDR percent pattern (English's if CLDR does not know the language), the decimal sign from its entry."""
    from babel import Locale, UnknownLocaleError
    from babel.numbers import format_percent as babel_percent

    try:
        locale = Locale.parse(lang)
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse("en")
    pattern = locale.percent_formats[None].pattern.replace("#,##0", "#,##0.##")
    return babel_percent(fraction, pattern, locale="en").replace(".", decimal_sign(lang))


def significant(x, digits: int) -> Decimal:
    """x rounded to `digits` significant digits (half away from zero), as a Decimal."""
    with decimal.localcontext(_WIDE):
        value = _decimal(x)
        if value == 0:
            return Decimal(0)
        exponent = value.adjusted() - digits + 1
        return value.quantize(Decimal(1).scaleb(exponent), rounding="ROUND_HALF_UP")


def is_exact(x, digits: int) -> bool:
    """True when x is shown without rounding at `digits` significant digits."""
    x = sp.nsimplify(x) if isinstance(x, float) else sp.sympify(x)
    if x.is_Rational:
        try:
            return sp.Rational(str(significant(x, digits))) == x
        except decimal.InvalidOperation:
            return False
    return False


def format_number(x, lang: str = "en", digits: int = DIGITS, tex: bool = False) -> str:
    """x with `digits` significant digits, trailing zeros dropped, in lang's format; tex: LaTeX math."""
    with decimal.localcontext(_WIDE):
        try:
            return _formatted(x, lang, digits, tex)
        except decimal.InvalidOperation:  # an exponent beyond any Decimal (e^(-10^80)): mantissa and exponent apart
            return _astronomical(x, lang, digits, tex)


SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
MINUS = "\u2212"  # the minus sign of running text, not the hyphen


def format_text(x, lang: str = "en", digits: int = DIGITS) -> str:
    """x as a sentence prints it, outside math: −2,431·10⁻⁸ (a true minus sign, a raised exponent).

    format_number's plain form (-2,431·10^-8) stays ASCII, for the places that read it back.
    """
    text = format_number(x, lang, digits)
    mantissa, power, exponent = text.partition("·10^")
    if power:
        sign = "×" if decimal_sign(lang) == "." else "·"
        mantissa = f"{mantissa}{sign}10{exponent.translate(SUPERSCRIPTS)}"
    return mantissa.replace("-", MINUS)


def _astronomical(x, lang: str, digits: int, tex: bool) -> str:
    mantissa, _, exponent = str(sp.N(x, PRECISION)).partition("e")
    value = significant(Decimal(mantissa), digits)
    shift = value.adjusted()
    body = _localized(_plain(value.scaleb(-shift), False), lang, tex)
    power = int(exponent or 0) + shift
    return rf"{body} {times_sign(lang)} 10^{{{power}}}" if tex else f"{body}·10^{power}"


def _formatted(x, lang: str, digits: int, tex: bool) -> str:
    value = significant(x, digits)
    exact = value == _decimal(x)  # a rounded value keeps its trailing zeros: 0,2910 has four digits
    if value != 0 and not FIXED_RANGE[0] <= abs(value) < FIXED_RANGE[1]:
        return _scientific(value, lang, tex, exact)
    return _localized(_plain(value, exact), lang, tex)


def _decimal(x) -> Decimal:
    """x as a Decimal: a Python float as it is written (0.1, not its binary neighbour)."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, (int, float)):
        return Decimal(repr(x))
    x = sp.sympify(x)
    if x.is_Integer:
        return Decimal(int(x))
    return Decimal(str(sp.N(x, PRECISION)))


def _plain(value: Decimal, strip: bool = True) -> str:
    text = format(value, "f")
    if "." in text and strip:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _localized(text: str, lang: str, tex: bool) -> str:
    sign = decimal_sign(lang)
    if sign != ".":
        text = text.replace(".", "{" + sign + "}" if tex else sign)
    return text


def _scientific(value: Decimal, lang: str, tex: bool, exact: bool) -> str:
    exponent = value.adjusted()
    mantissa = _localized(_plain(value.scaleb(-exponent), exact), lang, tex)
    if tex:
        return rf"{mantissa} {times_sign(lang)} 10^{{{exponent}}}"
    return f"{mantissa}·10^{exponent}"


def fraction_tex(x: sp.Rational) -> str:
    sign = "-" if x < 0 else ""
    return rf"{sign}\frac{{{abs(x.p)}}}{{{x.q}}}"


class Num(sp.Expr):
    """A computed number as a lecture shows it (display only, never computed with).

    args: (value, digits, exact, lang); `exact` shows a non-decimal rational as a
    fraction. Inside a formula a negative number is parenthesized, (−0,04).
    """

    is_commutative = True

    def __new__(cls, value, digits: int = DIGITS, exact: bool = False, lang: str = "en", bare: bool = False):
        value = sp.sympify(value)
        lang = lang.name if isinstance(lang, sp.Symbol) else lang  # rebuilt from its own args (expr.replace)
        return sp.Expr.__new__(cls, value, sp.Integer(int(digits)), sp.true if exact else sp.false,
                               sp.Symbol(lang), sp.true if bare else sp.false)

    @property
    def value(self) -> sp.Expr:
        return self.args[0]

    def as_bare(self) -> "Num":
        """The same number without brackets (where the brackets around it are already there)."""
        value, digits, exact, lang, _ = self.args
        return Num(value, int(digits), exact is sp.true, lang.name, True)

    @property
    def fraction(self) -> bool:
        value, digits, exact = self.args[0], int(self.args[1]), self.args[2] is sp.true
        return exact and value.is_Rational and not value.is_Integer and not is_exact(value, max(digits, 12))

    @property
    def rounded(self) -> bool:
        """Shown with fewer digits than it has."""
        return not self.fraction and not is_exact(self.value, int(self.args[1]))

    def text(self, tex: bool) -> str:
        value, digits, lang = self.args[0], int(self.args[1]), self.args[3].name
        if self.fraction:
            return fraction_tex(value) if tex else str(value)
        return format_number(value, lang, digits, tex)

    def _derive_latex(self, printer) -> str:
        text = self.text(tex=True)
        inside = self.args[4] is sp.false  # within a formula: −0,04 and 2 · 10^{-6} get brackets
        return rf"\left({text}\right)" if inside and (self.value < 0 or r"\cdot" in text) else text

    def _latex(self, printer) -> str:
        return self._derive_latex(printer)

    def _sympystr(self, printer) -> str:
        return self.text(tex=False)

    def could_extract_minus_sign(self) -> bool:
        return False


class Times(sp.Expr):
    """A product of substituted numbers shown with dots, 0,15 · 0,05 (display only)."""

    is_commutative = True

    def _derive_latex(self, printer) -> str:
        return r" \cdot ".join(_factor(printer, a) for a in self.args)

    def _latex(self, printer) -> str:
        return self._derive_latex(printer)

    def _sympystr(self, printer) -> str:
        return "*".join(printer._print(a) for a in self.args)

    def could_extract_minus_sign(self) -> bool:
        return False


def _factor(printer, arg: sp.Expr) -> str:
    tex = printer._print(arg)
    return rf"\left({tex}\right)" if arg.is_Add else tex


class Over(sp.Expr):
    """numerator / denominator with numbers in them, as a fraction (display only)."""

    is_commutative = True

    def _derive_latex(self, printer) -> str:
        top, bottom = (printer._print(a) for a in self.args)
        return rf"\frac{{{top}}}{{{bottom}}}"

    def _latex(self, printer) -> str:
        return self._derive_latex(printer)

    def _sympystr(self, printer) -> str:
        top, bottom = (printer._print(a) for a in self.args)
        return f"({top})/({bottom})"

    def could_extract_minus_sign(self) -> bool:
        return False
