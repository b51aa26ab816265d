"""Safe YAML loading that remembers where every value came from.

Only plain data is accepted (maps, lists, strings, numbers, booleans, null):
tags that build objects, aliases (the road to "billion laughs" bombs),
duplicate keys, binary and huge files are refused with a `SpecError` that
names file, line and column. The result is a `Doc`: the data plus the
location of every key path, so later validation can point at the bad value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Location, SpecError

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}


@dataclass
class Doc:
    """Loaded data with the location of each key path (a tuple of keys and indices)."""

    data: Any
    file: str
    marks: dict[tuple, Location] = field(default_factory=dict)

    def where(self, path: tuple) -> Location:
        """The location of path, or of its nearest ancestor that has one."""
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, Location(self.file))

    def error(self, path: tuple, message: str) -> SpecError:
        return SpecError(message, self.where(path), dotted(path))

    def known_keys(self, mapping: dict, allowed, path: tuple = ()) -> None:
        """Refuse the first key of mapping (found at path) that is not in allowed, naming the allowed ones."""
        for key in mapping:
            if key not in allowed:
                raise self.error(path + (key,), f"unknown key {key!r}; expected one of: {', '.join(allowed)}")

    def title(self, path: tuple = ("title",)) -> dict[str, str]:
        """The title at path, one text per language: a text (every language) or {ru: …, en: …, pl: …}.

        Empty when absent (the renderer then uses the kind's generic title); any
        language that has a catalog may be named.
        """
        from .i18n import languages

        value = self.at(path)
        if value is None:
            return {}
        if isinstance(value, str):
            return {lang: value for lang in languages()}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.error(path, "expected a text or a mapping {ru: …, en: …, pl: …}")
        for lang in value:
            if lang not in languages():
                raise self.error(path + (lang,), f"unknown language {lang!r}; expected one of: {', '.join(languages())}")
        return dict(value)

    def at(self, path: tuple):
        """The value at path (None where a key is absent)."""
        value = self.data
        for part in path:
            if isinstance(part, int):
                value = value[part] if isinstance(value, list) and part < len(value) else None
            else:
                value = value.get(part) if isinstance(value, dict) else None
        return value


def dotted(path: tuple) -> str:
    """('layers', 1, 'activation') -> 'layers[1].activation'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _NoAliasLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses aliases instead of sharing nodes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            mark = event.start_mark
            raise SpecError(
                f"YAML aliases (*{event.anchor}) are not allowed in specs; write the value out",
                Location(self.name, mark.line + 1, mark.column + 1),
            )
        return super().compose_node(parent, index)


def load_text(text: str, file: str = "<input>") -> Doc:
    """Parse YAML text into a Doc, or raise SpecError."""
    loader = _NoAliasLoader(text)
    loader.name = file
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise SpecError(f"not valid YAML: {exc.problem or exc.context}", where) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", Location(file)) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecError("the file is empty; expected a YAML mapping such as `kind: network`", Location(file))
    doc = Doc(None, file)
    doc.data = _Builder(doc, loader).build(root, ())
    return doc


def load_file(path: str | Path) -> Doc:
    """Read and parse a YAML file; size, encoding and syntax problems become SpecErrors."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror}", Location(name)) from None
    if len(raw) > MAX_BYTES:
        raise SpecError(f"the file is {len(raw):,} bytes; specs are limited to {MAX_BYTES:,}", Location(name))
    if b"\x00" in raw:
        raise SpecError("this is a binary file, not a YAML text", Location(name))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError("the file is not UTF-8 text", Location(name, line)) from None
    return load_text(text, name)


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
        return self.loader.construct_object(node)

    def _mapping(self, node: yaml.MappingNode, path: tuple) -> dict:
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in PLAIN_TAGS:
                raise SpecError("keys must be plain words", self._loc(key_node), dotted(path))
            key = self.loader.construct_object(key_node)
            key = key if isinstance(key, str) else str(key)
            if key in out:
                raise SpecError(f"the key {key!r} appears twice", self._loc(key_node), dotted(path))
            self.doc.marks[path + (key,)] = self._loc(value_node)
            out[key] = self.build(value_node, path + (key,))
        return out

    def _loc(self, node: yaml.Node) -> Location:
        return Location(self.doc.file, node.start_mark.line + 1, node.start_mark.column + 1)
