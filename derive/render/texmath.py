"""Math that goes from Markdown into LaTeX: checked against a whitelist, colours mapped for xcolor.

Markdown math (`$…$`, `$$…$$`) passes into the LaTeX document unchanged, so it
must be harmless there: every control word must be one that both KaTeX and
LaTeX (with amsmath, mathtools, amssymb, xcolor, cancel, bm) know, and none
that reads or writes files or defines macros (`\\input`, `\\write18`,
`\\def`, `\\csname`, `^^` escapes are all refused). `check(tex)` returns the
reason a formula is refused, or None; the renderer prints a refused formula
as literal text. `colours(tex)` maps KaTeX's CSS colours (names, `#hex`) to
xcolor: CSS names to xcolor's `svgnames`, hex codes to colours the preamble
defines.

COMMANDS was generated from KaTeX 0.16's command names, keeping those that
LaTeX defines with the preamble's packages, minus macro programming and I/O.
"""

from __future__ import annotations

import re

COMMANDS = frozenset(
    """
    AA  AE  And  Bbb  Bbbk  Big  Bigg  Biggl  Biggm  Biggr  Bigl  Bigm  Bigr  Box  Bumpeq  Cap
    Colonapprox  Coloneq  Coloneqq  Colonsim  Cup  DOTSB  DOTSI  DOTSX  Delta  Diamond  Doteq
    Downarrow  Eqcolon  Eqqcolon  Finv  Game  Gamma  H  Huge  Im  Join  LARGE  LaTeX  Lambda  Large
     Leftarrow  Leftrightarrow  Lleftarrow  Longleftarrow  Longleftrightarrow  Longrightarrow  Lsh
    O  OE  Omega  P  Phi  Pi  Pr  Psi  Re  Rightarrow  Rrightarrow  Rsh  S  Sigma  Subset  Supset
    TeX  Theta  Uparrow  Updownarrow  Upsilon  Vdash  Vert  Vvdash  Xi  aa  above  acute  ae  aleph
     allowbreak  alpha  amalg  angle  approx  approxcolon  approxeq  arccos  arcsin  arctan  arg
    arraystretch  ast  asymp  atop  backepsilon  backprime  backsim  backsimeq  backslash  bar
    barwedge  bcancel  because  beta  beth  between  bf  bgroup  big  bigcap  bigcirc  bigcup  bigg
     biggl  biggm  biggr  bigl  bigm  bigodot  bigoplus  bigotimes  bigr  bigsqcup  bigstar
    bigtriangledown  bigtriangleup  biguplus  bigvee  bigwedge  binom  blacklozenge  blacksquare
    blacktriangle  blacktriangledown  blacktriangleleft  blacktriangleright  bm  bmod  bold
    boldsymbol  bot  bowtie  boxdot  boxed  boxminus  boxplus  boxtimes  brace  brack  breve
    bullet  bumpeq  c  cal  cancel  cap  cdot  cdotp  cdots  centerdot  cfrac  check  checkmark
    chi  choose  circ  circeq  circlearrowleft  circlearrowright  circledR  circledS  circledast
    circledcirc  circleddash  clap  clubsuit  colon  colonapprox  coloneq  coloneqq  colonsim
    color  colorbox  complement  cong  coprod  copyright  cos  cosh  cot  coth  cr  csc  cup
    curlyeqprec  curlyeqsucc  curlyvee  curlywedge  curvearrowleft  curvearrowright  d  dag  dagger
     daleth  dashleftarrow  dashrightarrow  dashv  dbinom  dblcolon  ddag  ddagger  ddddot  dddot
    ddot  ddots  deg  delta  det  dfrac  diagdown  diagup  diamond  diamondsuit  digamma  dim
    displaystyle  div  divideontimes  dot  doteq  doteqdot  dotplus  dots  dotsb  dotsc  dotsi
    dotsm  dotso  doublebarwedge  doublecap  doublecup  downarrow  downdownarrows  downharpoonleft
    downharpoonright  egroup  ell  emph  empty  emptyset  enskip  enspace  epsilon  eqcirc  eqcolon
     eqqcolon  eqsim  eqslantgtr  eqslantless  equiv  eta  eth  exists  exp  fallingdotseq  fbox
    fcolorbox  flat  footnotesize  forall  frac  frak  frown  gamma  gcd  ge  genfrac  geq  geqq
    geqslant  gets  gg  ggg  gggtr  gimel  gnapprox  gneq  gneqq  gnsim  grave  gtrapprox  gtrdot
    gtreqless  gtreqqless  gtrless  gtrsim  gvertneqq  hat  hbar  heartsuit  hline  hom
    hookleftarrow  hookrightarrow  hphantom  hslash  huge  i  iff  iiint  iint  imath  impliedby
    implies  in  inf  infty  injlim  int  intercal  intop  iota  it  j  jmath  kappa  ker  lVert
    lambda  land  langle  large  lbrace  lbrack  lceil  ldotp  ldots  le  leadsto  left  leftarrow
    leftarrowtail  leftharpoondown  leftharpoonup  leftleftarrows  leftrightarrow  leftrightarrows
    leftrightharpoons  leftrightsquigarrow  leftthreetimes  leq  leqq  leqslant  lessapprox
    lessdot  lesseqgtr  lesseqqgtr  lessgtr  lesssim  lfloor  lg  lgroup  lhd  lim  liminf  limits
    limsup  ll  llap  llcorner  lll  llless  lmoustache  ln  lnapprox  lneq  lneqq  lnot  lnsim
    log  longleftarrow  longleftrightarrow  longmapsto  longrightarrow  looparrowleft
    looparrowright  lor  lozenge  lparen  lq  lrcorner  ltimes  lvert  lvertneqq  maltese  mapsto
    mathbb  mathbf  mathbin  mathcal  mathclap  mathclose  mathellipsis  mathfrak  mathinner
    mathit  mathllap  mathnormal  mathop  mathopen  mathord  mathpunct  mathrel  mathring  mathrlap
     mathrm  mathsf  mathsterling  mathstrut  mathtt  max  measuredangle  medspace  mho  mid
    middle  min  mod  models  mp  mu  multimap  nLeftarrow  nLeftrightarrow  nRightarrow  nVDash
    nVdash  nabla  natural  ncong  ne  nearrow  neg  negmedspace  negthickspace  negthinspace  neq
    newline  nexists  ngeq  ngeqq  ngeqslant  ngtr  ni  nleftarrow  nleftrightarrow  nleq  nleqq
    nleqslant  nless  nmid  nobreak  nobreakspace  nolimits  nonumber  normalsize  not  notag
    notin  nparallel  nprec  npreceq  nrightarrow  nshortmid  nshortparallel  nsim  nsubseteq
    nsubseteqq  nsucc  nsucceq  nsupseteq  nsupseteqq  ntriangleleft  ntrianglelefteq
    ntriangleright  ntrianglerighteq  nu  nvDash  nvdash  nwarrow  o  odot  oe  oint  omega  ominus
     operatorname  operatornamewithlimits  oplus  ordinarycolon  oslash  otimes  over  overbrace
    overbracket  overleftarrow  overleftrightarrow  overline  overrightarrow  overset  owns
    parallel  partial  perp  phantom  phi  pi  pitchfork  pm  pmb  pmod  pod  pounds  prec
    precapprox  preccurlyeq  preceq  precnapprox  precneqq  precnsim  precsim  prime  prod  projlim
     propto  psi  qquad  quad  r  rVert  raisebox  rangle  ratio  rbrace  rbrack  rceil  real
    restriction  rfloor  rgroup  rhd  rho  right  rightarrow  rightarrowtail  rightharpoondown
    rightharpoonup  rightleftarrows  rightleftharpoons  rightrightarrows  rightsquigarrow
    rightthreetimes  risingdotseq  rlap  rm  rmoustache  rparen  rq  rtimes  rule  rvert
    scriptscriptstyle  scriptsize  scriptstyle  searrow  sec  setminus  sf  sharp  shortmid
    shortparallel  show  sigma  sim  simcolon  simeq  sin  sinh  small  smallfrown  smallint
    smallsetminus  smallsmile  smash  smile  space  spadesuit  sphericalangle  sqcap  sqcup  sqrt
    sqsubset  sqsubseteq  sqsupset  sqsupseteq  square  ss  stackrel  star  subset  subseteq
    subseteqq  subsetneq  subsetneqq  substack  succ  succapprox  succcurlyeq  succeq  succnapprox
    succneqq  succnsim  succsim  sum  sup  supset  supseteq  supseteqq  supsetneq  supsetneqq  surd
     swarrow  t  tag  tan  tanh  tau  tbinom  text  textasciicircum  textasciitilde  textbackslash
    textbar  textbardbl  textbf  textbraceleft  textbraceright  textcircled  textcolor
    textcopyright  textdagger  textdaggerdbl  textdegree  textdollar  textellipsis  textemdash
    textendash  textgreater  textit  textless  textmd  textnormal  textquotedblleft
    textquotedblright  textquoteleft  textquoteright  textregistered  textrm  textsf  textsterling
    textstyle  texttt  textunderscore  textup  tfrac  th  therefore  theta  thickapprox  thicksim
    thickspace  thinspace  tilde  times  tiny  tmspace  to  top  triangle  triangledown
    triangleleft  trianglelefteq  triangleq  triangleright  trianglerighteq  tt  twoheadleftarrow
    twoheadrightarrow  u  ulcorner  underbar  underbrace  underbracket  underleftarrow
    underleftrightarrow  underline  underrightarrow  underset  unlhd  unrhd  uparrow  updownarrow
    upharpoonleft  upharpoonright  uplus  upsilon  upuparrows  urcorner  v  vDash  varDelta
    varGamma  varLambda  varOmega  varPhi  varPi  varPsi  varSigma  varTheta  varUpsilon  varXi
    varepsilon  varinjlim  varkappa  varliminf  varlimsup  varnothing  varphi  varpi  varprojlim
    varpropto  varrho  varsigma  varsubsetneq  varsubsetneqq  varsupsetneq  varsupsetneqq  vartheta
     vartriangle  vartriangleleft  vartriangleright  vcentcolon  vcenter  vdash  vdots  vec  vee
    veebar  vert  vphantom  wedge  widehat  widetilde  wp  wr  xLeftarrow  xLeftrightarrow
    xRightarrow  xcancel  xhookleftarrow  xhookrightarrow  xi  xleftarrow  xleftharpoondown
    xleftharpoonup  xleftrightarrow  xleftrightharpoons  xmapsto  xrightarrow  xrightharpoondown
    xrightharpoonup  xrightleftharpoons  yen  zeta
    """.split()
)
CONTROL_SYMBOLS = frozenset([*r", ; ! : > { } | _ % # & $".split(), "\\", " "])
ENVIRONMENTS = frozenset(
    "matrix pmatrix bmatrix Bmatrix vmatrix Vmatrix smallmatrix array subarray aligned alignedat "
    "gathered cases dcases rcases split".split()
)
# xcolor's base names, used as they are; other CSS names map to xcolor's svgnames (CamelCase).
XCOLOR_BASE = frozenset(
    "red green blue cyan magenta yellow black gray white darkgray lightgray brown lime olive orange "
    "pink purple teal violet".split()
)
SVG_NAMES = {
    name.lower(): name
    for name in """
    AliceBlue AntiqueWhite Aqua Aquamarine Azure Beige Bisque Black BlanchedAlmond Blue BlueViolet
    Brown BurlyWood CadetBlue Chartreuse Chocolate Coral CornflowerBlue Cornsilk Crimson Cyan
    DarkBlue DarkCyan DarkGoldenrod DarkGray DarkGreen DarkGrey DarkKhaki DarkMagenta
    DarkOliveGreen DarkOrange DarkOrchid DarkRed DarkSalmon DarkSeaGreen DarkSlateBlue
    DarkSlateGray DarkSlateGrey DarkTurquoise DarkViolet DeepPink DeepSkyBlue DimGray DimGrey
    DodgerBlue FireBrick FloralWhite ForestGreen Fuchsia Gainsboro GhostWhite Gold Goldenrod Gray
    Green GreenYellow Grey Honeydew HotPink IndianRed Indigo Ivory Khaki Lavender LavenderBlush
    LawnGreen LemonChiffon LightBlue LightCoral LightCyan LightGoldenrod LightGoldenrodYellow
    LightGray LightGreen LightGrey LightPink LightSalmon LightSeaGreen LightSkyBlue LightSlateBlue
    LightSlateGray LightSlateGrey LightSteelBlue LightYellow Lime LimeGreen Linen Magenta Maroon
    MediumAquamarine MediumBlue MediumOrchid MediumPurple MediumSeaGreen MediumSlateBlue
    MediumSpringGreen MediumTurquoise MediumVioletRed MidnightBlue MintCream MistyRose Moccasin
    NavajoWhite Navy NavyBlue OldLace Olive OliveDrab Orange OrangeRed Orchid PaleGoldenrod
    PaleGreen PaleTurquoise PaleVioletRed PapayaWhip PeachPuff Peru Pink Plum PowderBlue Purple Red
    RosyBrown RoyalBlue SaddleBrown Salmon SandyBrown SeaGreen Seashell Sienna Silver SkyBlue
    SlateBlue SlateGray SlateGrey Snow SpringGreen SteelBlue Tan Teal Thistle Tomato Turquoise
    Violet VioletRed Wheat White WhiteSmoke Yellow YellowGreen
    """.split()
}
COLOUR_COMMANDS = ("color", "textcolor", "colorbox", "fcolorbox")

_TOKEN = re.compile(r"\\(?P<word>[A-Za-z]+)|\\(?P<symbol>.)|(?P<bad>%|#|\^\^)", re.S)
_ARG = re.compile(r"\s*\{(?P<arg>[^{}]*)\}")
_HEX = re.compile(r"#?(?P<hex>[0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def check(tex: str) -> str | None:
    """Why tex may not pass into LaTeX (a forbidden command, a comment, …), or None if it may."""
    for m in _TOKEN.finditer(tex):
        if m["bad"]:
            return f"{m['bad']!r} is not allowed in math"
        if m["symbol"] is not None and m["symbol"] not in CONTROL_SYMBOLS:
            return f"\\{m['symbol']} is not allowed in math"
        word = m["word"]
        if word is None:
            continue
        if word in ("begin", "end"):
            arg = _ARG.match(tex, m.end())
            if not arg or arg["arg"] not in ENVIRONMENTS:
                return f"environment {arg['arg'] if arg else '?'!r} is not allowed in math"
        elif word not in COMMANDS:
            return f"\\{word} is not allowed in math"
    return None


def colour(name: str) -> str:
    """The xcolor name for a KaTeX colour: a base name, an svgnames name, or derive-RRGGBB for hex."""
    name = name.strip()
    if name in XCOLOR_BASE:
        return name
    if (m := _HEX.fullmatch(name)) and (name.startswith("#") or name.lower() not in SVG_NAMES):
        code = m["hex"].upper()
        return "derive-" + (code if len(code) == 6 else "".join(c * 2 for c in code))
    return SVG_NAMES.get(name.lower(), "black")


def colours(tex: str) -> tuple[str, set[str]]:
    """tex with every colour argument mapped to xcolor, and the derive-RRGGBB colours it needs defined."""
    needed: set[str] = set()

    def mapped(m: re.Match) -> str:
        name = colour(m["arg"])
        if name.startswith("derive-"):
            needed.add(name)
        return f"\\{m['cmd']}{{{name}}}"

    pattern = r"\\(?P<cmd>%s)\s*\{(?P<arg>[^{}]*)\}" % "|".join(COLOUR_COMMANDS)
    return re.sub(pattern, mapped, tex), needed
