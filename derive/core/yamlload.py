"""Safe YAML loading that remembers where every value came from.

Only plain data is accepted (maps, lists, strings, numbers, booleans, null):
tags that build objects, aliases (the road to "billion laughs" bombs),
duplicate keys, binary and huge files are refused with a `SpecError` that
names file, line and column. So is everything that could take the work down
or reach a terminal or LaTeX raw: nesting deeper than MAX_DEPTH (checked as
the parser composes, before anything recurses), numbers longer than
MAX_NUMBER_CHARS, non-finite numbers, a plain tag applied to text it does not
fit (`!!int abc`), control characters and lone surrogates. Files are checked
before they are read: regular files only, at most MAX_BYTES + 1 bytes read.
The result is a `Doc`: the data plus the location of every key path, so later
validation can point at the bad value.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from derive.errors import Location, SpecError

MAX_BYTES = 1_000_000
MAX_NODES = 20_000  # values in one file (a spec has hundreds), counted as the parser composes them
MAX_DEPTH = 64  # nested maps and lists; real specs use fewer than 6
MAX_NUMBER_CHARS = 100  # a number literal; 1e300 fits, a 5000-digit integer does not
MAX_TITLE = 200  # characters of a title: a line on a title page, and a short PDF title
# C0 controls but tab and newline, DEL, C1 controls, bidi overrides and isolates, lone surrogates:
# nothing a spec needs, and each would reach a terminal, a PDF or LaTeX raw.
# (The surrogates are a class of their own: one class with all of them compiles about 100 times slower.)
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|[\ud800-\udfff]")
# Code points the documents' text fonts cover: Basic Latin to Cyrillic Supplement, Latin Extended
# Additional, Greek Extended, General Punctuation to Mathematical Operators (dashes, quotes, €, ←, ∑).
_FONT_RANGES = ((0x20, 0x7E), (0xA0, 0x52F), (0x1E00, 0x1FFF), (0x2000, 0x22FF))
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_TAG_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "null": "null"}
PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}


# `boxes:` in a spec: frame no equation (seeds 000, 001, 002) or the key results (seed 004)
BOXES = ("none", "key")


@dataclass
class Doc:
    """Loaded data with the location of each key path (a tuple of keys and indices)."""

    data: Any
    file: str
    marks: dict[tuple, Location] = field(default_factory=dict)
    keys: dict[tuple, Location] = field(default_factory=dict)  # where each mapping key itself is written

    def where(self, path: tuple) -> Location:
        """The location of path, or of its nearest ancestor that has one."""
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, Location(self.file))

    def error(self, path: tuple, message: str) -> SpecError:
        return SpecError(message, self.where(path), dotted(path))

    def key_error(self, path: tuple, message: str) -> SpecError:
        """An error about the key at the end of path (unknown, misspelt): pointed at the key, not its value."""
        return SpecError(message, self.keys.get(path) or self.where(path), dotted(path))

    def known_keys(self, mapping: dict, allowed, path: tuple = ()) -> None:
        """Refuse the first key of mapping (found at path) that is not in allowed, naming the allowed ones."""
        for key in mapping:
            if key not in allowed:
                raise self.key_error(path + (key,), f"unknown key {shown(key)}; {one_of(key, allowed, KEY_ALIASES)}")

    def boxes(self) -> str | None:
        """The spec's `boxes:` (which displayed equations the lecture frames), or None when absent:
        the kind then frames as its seed does (see BOXES)."""
        value = self.data.get("boxes") if isinstance(self.data, dict) else None
        if value is not None and (not isinstance(value, str) or value not in BOXES):
            raise self.error(("boxes",), f"unknown boxes {shown(value)}; {one_of(value, BOXES)}")
        return value

    def title(self, path: tuple = ("title",)) -> dict[str, str]:
        """The title at path, one text per language: a text (every language) or {ru: …, en: …, pl: …}.

        Empty when absent (the renderer then uses the kind's generic title); any
        language that has a catalog may be named.
        """
        from derive.core.languages import languages

        value = self.at(path)
        if value is None:
            return {}
        if isinstance(value, str):
            self._printable_title(path, value)
            return {lang: value for lang in languages()}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.error(path, "expected a text or a mapping {ru: …, en: …, pl: …}")
        for lang in value:
            if lang not in languages():
                raise self.error(path + (lang,), f"unknown language {shown(lang)}; {one_of(lang, languages())}")
        for lang, text in value.items():
            self._printable_title(path + (lang,) if isinstance(self.at(path), dict) else path, text)
        return dict(value)

    def _printable_title(self, path: tuple, text: str) -> None:
        """A title is one short line that every output can show: the PDF's fonts have Latin, Greek and
        Cyrillic letters and common symbols, not emoji or CJK (which would vanish silently)."""
        if len(text) > MAX_TITLE:
            raise self.error(path, f"the title has {len(text):,} characters; at most {MAX_TITLE} are allowed")
        for char in text:
            if not typesettable(char):
                raise self.error(path, f"the title contains {char!r} ({describe(char)}), which the PDF's fonts "
                                       f"cannot show; use Latin, Greek or Cyrillic letters, digits and punctuation")


    def at(self, path: tuple):
        """The value at path (None where a key is absent)."""
        value = self.data
        for part in path:
            if isinstance(part, int):
                value = value[part] if isinstance(value, list) and part < len(value) else None
            else:
                value = value.get(part) if isinstance(value, dict) else None
        return value


_WORD = re.compile(r"[A-Za-z_\\\u0370-\u03ff][A-Za-z0-9_\\{}^.\-\u0370-\u03ff]{0,39}\Z")  # names, \theta_{11}


def shown(value) -> str:
    """value quoted for an error message when it looks like a name or a number; otherwise only what it is.

    Error messages quote what was found (`unknown key 'relu6'`), but a file that
    is not a spec (a password file, a key) must not have its content echoed.
    """
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, str) and _WORD.match(value):
        return repr(value)
    if isinstance(value, str):
        return f"a text of {len(value):,} characters (not shown)"
    return f"a {type(value).__name__} (not shown)"


# Other names lecturers give to keys (from other tools and papers), offered as "did you mean" when the
# key they stand for is allowed where they were written.
KEY_ALIASES = {"lr": "learning_rate", "eta": "learning_rate", "l2": "weight_decay", "lambda": "weight_decay",
               "neurons": "units", "size": "units", "width": "units", "act": "activation", "nonlinearity": "activation",
               "weights": "params", "loss_function": "loss", "criterion": "loss", "units": "size", "dim": "size"}


def one_of(value, options, aliases: dict[str, str] | None = None) -> str:
    """"expected one of: a, b, c" for an error message, with "; did you mean 'b'?" when value looks like
    a slip for one of the options (see closest)."""
    listed = f"expected one of: {', '.join(str(o) for o in options)}"
    close = closest(value, options, aliases)
    return f"{listed}; did you mean {close!r}?" if close else listed


def _folded(text: str) -> str:
    return text.casefold().replace("-", "_").replace(" ", "_")


def closest(value, options, aliases: dict[str, str] | None = None) -> str | None:
    """The option value most likely stands for: the same word in another case or with - for _ (`ReLU`,
    `half-sse`), another name of it (aliases: `swish` for silu), or a close spelling (`relu6`, `lyaers`).
    None when nothing is close: only an option is ever shown, never the value."""
    if not isinstance(value, str) or not options:
        return None
    options = [str(o) for o in options]
    folded = {_folded(o): o for o in options} | {_folded(o).replace("_", ""): o for o in options}
    for word, option in (aliases or {}).items():
        if option in options:
            folded.setdefault(_folded(word), option)
    key = _folded(value)
    if key in folded or key.replace("_", "") in folded:
        return folded.get(key) or folded[key.replace("_", "")]
    if key.split("_")[0] in folded:  # loss_fn, activation_function: the option with a word added
        return folded[key.split("_")[0]]
    match = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return folded[match[0]] if match else None


def typesettable(char: str) -> bool:
    """Whether the document fonts (Computer Modern Unicode) have char: Latin, Greek, Cyrillic, punctuation."""
    code = ord(char)
    return any(low <= code <= high for low, high in _FONT_RANGES)


def dotted(path: tuple) -> str:
    """('layers', 1, 'activation') -> 'layers[1].activation'."""
    out = ""
    for part in path:
        part = part if isinstance(part, int) or _WORD.match(str(part)) else "(a key not shown)"
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _NoAliasLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses aliases and nesting deeper than MAX_DEPTH.

    PyYAML's scanner and parser keep explicit stacks; only the composer (and the
    builder after it) recurse, so bounding the composer bounds the recursion.
    """

    depth = 0
    nodes = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        mark = event.start_mark
        if self.depth >= MAX_DEPTH and not isinstance(event, yaml.ScalarEvent):
            raise SpecError(f"values are nested more than {MAX_DEPTH} levels deep; expected plain data a few levels deep",
                            Location(self.name, mark.line + 1, mark.column + 1))
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SpecError(f"the file has more than {MAX_NODES:,} values", Location(self.name, mark.line + 1, mark.column + 1))
        self.depth += 1
        try:
            return self._compose(parent, index)
        finally:
            self.depth -= 1

    def _compose(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            mark = event.start_mark
            raise SpecError(
                f"YAML aliases (*{event.anchor}) are not allowed in specs; write the value out",
                Location(self.name, mark.line + 1, mark.column + 1),
            )
        return super().compose_node(parent, index)


def forbidden_character(text: str) -> re.Match | None:
    """The first control character, bidi override or lone surrogate in text, if any."""
    return _FORBIDDEN.search(text)


def describe(char: str) -> str:
    """A character named safely, for an error message: U+001B."""
    return f"U+{ord(char):04X}"


def _check_characters(text: str, file: str) -> None:
    m = forbidden_character(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
        raise SpecError(f"the control character {describe(m.group())} is not allowed in a spec; delete it",
                        Location(file, line, column))


# PyYAML's words for the mistakes people make by hand, said in a lecturer's: (its problem starts with,
# what to say, whether the place to point at is where the construct began rather than where it broke).
_YAML_PROBLEMS = (
    ("found character '\\t'", "a tab character; YAML allows only spaces here (and to indent): replace the tab "
                                "with spaces", False),
    ("expected <block end>", "this line is not indented like the lines above it: the items of one list, and "
                             "the keys of one mapping, start in the same column", False),
    ("mapping values are not allowed here", "a ':' where none can be: is this line indented further than the "
                                            "key above it, does a key above lack the space after its colon "
                                            "(kind:network), or does a text hold ': '? (quote it: "
                                            "title: \"Lecture 3: backprop\")", False),
    ("could not find expected ':'", "expected `key: value` on this line (a colon and a space after the key)", True),
    ("expected ',' or '}'", "a {…} mapping needs a comma between its entries and a closing }", False),
    ("expected ',' or ']'", "a […] list needs a comma between its items and a closing ]", False),
    ("found unexpected end of stream", "a quotation mark opened here is never closed", True),
)


def plain_yaml_problem(problem: str) -> tuple[str, bool]:
    """PyYAML's problem in plain words, and whether to point at where the construct began (the key
    without a colon, the opening quote) rather than where the parser noticed. Unknown ones pass as they are."""
    for start, plain, at_context in _YAML_PROBLEMS:
        if problem.startswith(start):
            return plain, at_context
    return problem, False


def load_text(text: str, file: str = "<input>") -> Doc:
    """Parse YAML text into a Doc, or raise SpecError. Windows line ends (CR LF, saved by Notepad) are
    line ends, as YAML says; only a CR elsewhere is a stray control character."""
    text = text.replace("\r\n", "\n")
    _check_characters(text, file)
    loader = None
    try:
        loader = _NoAliasLoader(text)
        loader.name = file
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        problem, at_context = plain_yaml_problem(exc.problem or exc.context or "")
        mark = (exc.context_mark if at_context else None) or exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise SpecError(f"not valid YAML: {problem}", where) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", Location(file)) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise SpecError("the file is empty; expected a YAML mapping such as `kind: network`", Location(file))
    doc = Doc(None, file)
    doc.data = _Builder(doc, loader).build(root, ())
    return doc


def load_file(path: str | Path, max_bytes: int = MAX_BYTES, what: str = "specs") -> Doc:
    """Read and parse a YAML file (what: "specs", "answer files"); size, encoding and syntax problems
    become SpecErrors."""
    name = str(path)
    raw = read_limited(path, max_bytes, what)
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        line, column = raw.count(b"\n", 0, at) + 1, at - (raw.rfind(b"\n", 0, at) + 1) + 1
        raise SpecError("this is a binary file, not a YAML text (it holds a NUL byte)", Location(name, line, column))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = raw.count(b"\n", 0, exc.start) + 1, exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        guess = legacy_encoding(raw)
        said = f"; it looks like {guess[1]}" if guess else ""
        how = f" (e.g. iconv -f {guess[0]} -t utf-8 {name} > new.yaml)" if guess else ""
        raise SpecError(f"the file is not UTF-8 text{said}: save it as UTF-8 in the editor's encoding menu{how}",
                        Location(name, line, column)) from None
    return load_text(text, name)


# 8-bit encodings a lecturer's editor may still save in, with the letters each is expected to hold:
# Polish is tried first, since Russian text decoded as Windows-1250 is never all Polish letters; a Cyrillic
# letter inside a Latin word (café read as cafй) means the text is in neither.
_LEGACY = (
    ("cp1250", "Windows-1250 (Central European)", set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ"), None),
    ("cp1251", "Windows-1251 (Cyrillic)", {chr(c) for c in range(0x400, 0x460)},
     re.compile("[A-Za-z][\u0400-\u045f]|[\u0400-\u045f][A-Za-z]")),
)


def legacy_encoding(raw: bytes) -> tuple[str, str] | None:
    """(codec, name) of the 8-bit encoding raw is most likely in, when every letter outside ASCII is one
    of that encoding's Polish or Cyrillic letters; None otherwise."""
    for codec, label, letters, mixed in _LEGACY:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        foreign = {c for c in text if ord(c) > 0x7F}
        if foreign and foreign <= letters | set("«»„”–—№") and not (mixed and mixed.search(text)):
            return codec, label
    return None


def read_limited(path: str | Path, limit: int, what: str = "specs") -> bytes:
    """The bytes of a regular file of at most limit bytes, or a SpecError.

    The file is opened without blocking (a FIFO does not hang), checked with
    fstat on the open descriptor (no race with a swapped symlink), and at most
    limit + 1 bytes are read whatever its size claims (/dev/zero, a sparse file).
    """
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror}", Location(name)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError("not a regular file (a folder, device, FIFO or socket); expected a YAML file",
                            Location(name))
        if info.st_size > limit:
            raise SpecError(f"the file is {info.st_size:,} bytes; {what} are limited to {limit:,}", Location(name))
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror}", Location(name)) from None
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > limit:
        raise SpecError(f"the file has more than {limit:,} bytes; {what} are limited to {limit:,}", Location(name))
    return raw


class _Builder:
    """Turns a composed node tree into plain Python data, recording marks."""

    def __init__(self, doc: Doc, loader: yaml.SafeLoader):
        self.doc, self.loader, self.count = doc, loader, 0

    def build(self, node: yaml.Node, path: tuple) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(f"the file has more than {MAX_NODES:,} values", self._loc(node))
        if node.tag == "tag:yaml.org,2002:timestamp" and isinstance(node, yaml.ScalarNode):
            return node.value  # an unquoted date in a title stays text
        if node.tag not in PLAIN_TAGS:
            raise SpecError(
                f"the tag {node.tag} is not allowed; specs hold only plain data", self._loc(node), dotted(path)
            )
        self.doc.marks.setdefault(path, self._loc(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: tuple):
        """A plain value; a number that is too long or not finite, or a tag that does not fit, is refused."""
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            raise SpecError(f"a number of {len(node.value):,} characters; at most {MAX_NUMBER_CHARS} are allowed",
                            self._loc(node), dotted(path))
        try:
            value = self.loader.construct_object(node)
        except Exception:  # the plain constructors raise ValueError, KeyError (!!bool maybe), TypeError…
            what = node.tag.rsplit(":", 1)[-1]
            raise SpecError(f"the value does not fit its tag !!{what}; expected {_TAG_WORDS.get(what, what)} here",
                            self._loc(node), dotted(path)) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError("not a finite number (.nan and .inf are not allowed); expected a number",
                            self._loc(node), dotted(path))
        bad = forbidden_character(value) if isinstance(value, str) else None
        if bad:  # written as an escape ("\\ud800", "\\e") inside a quoted string
            raise SpecError(f"the character {describe(bad.group())} is not allowed in a spec; delete it",
                            self._loc(node), dotted(path))
        return value

    def _mapping(self, node: yaml.MappingNode, path: tuple) -> dict:
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in PLAIN_TAGS:
                raise SpecError("keys must be plain words", self._loc(key_node), dotted(path))
            key = self._scalar(key_node, path)
            key = key if isinstance(key, str) else str(key)
            if key in out:
                raise SpecError(f"the key {shown(key)} appears twice", self._loc(key_node), dotted(path))
            self.doc.marks[path + (key,)] = self._loc(value_node)
            self.doc.keys[path + (key,)] = self._loc(key_node)
            out[key] = self.build(value_node, path + (key,))
        return out

    def _loc(self, node: yaml.Node) -> Location:
        return Location(self.doc.file, node.start_mark.line + 1, node.start_mark.column + 1)
