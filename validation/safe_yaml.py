"""YAML reading with limits: every YAML file radval reads (protocols, model specs) goes here.

``yaml.safe_load`` builds no Python objects from tags, but on its own it does not bound
the work a hostile file can cause: an alias bomb ("billion laughs": a few lines whose
aliases expand to billions of nodes) hangs whatever walks the result, a deeply nested
document ends in a ``RecursionError``, and some scalars make the constructor raise a
plain ``ValueError`` (``2024-13-45`` as a date, an integer of 5,000 digits). Here the
text is composed once with the safe loader under :class:`YamlLimits`:

* size: at most ``max_bytes`` bytes (checked before the file is read in full);
* depth: at most ``max_depth`` nested collections, counted while composing, so a deep
  document is refused before Python's recursion limit is near;
* aliases: at most ``max_aliases`` alias uses, and no alias inside its own anchor
  (a recursive structure);
* expansion: at most ``max_nodes`` nodes and ``max_depth`` levels once every alias is
  expanded (measured without recursion on the shared node graph).

A file over a limit, or one the constructor cannot turn into values, raises
:class:`yaml.YAMLError` (:class:`YamlLimitError` for a limit) with the line it stopped
at; callers turn that into their own :class:`~validation.errors.InputError` naming the
file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULT_LIMITS", "YamlLimitError", "YamlLimits", "parse_yaml", "read_yaml_bytes"]


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on a YAML document (see the module docstring)."""

    max_bytes: int = 1 << 20
    max_depth: int = 64
    max_aliases: int = 1_000
    max_nodes: int = 1_000_000


#: The limits radval applies to protocols and model specs: far above any real one (a
#: protocol is a few kB, nests under 10 levels and uses a handful of anchors).
DEFAULT_LIMITS = YamlLimits()


class YamlLimitError(yaml.MarkedYAMLError):
    """A YAML document exceeds one of the :class:`YamlLimits`."""


def read_yaml_bytes(path: str | os.PathLike[str], *, limits: YamlLimits = DEFAULT_LIMITS) -> bytes:
    """Read a YAML file's bytes, refusing one larger than ``limits.max_bytes`` unread.

    Raises
    ------
    OSError
        The file cannot be read.
    YamlLimitError
        The file is larger than the limit.
    """
    p = Path(path)
    with open(p, "rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise YamlLimitError(
            problem=(
                f"the file is larger than {limits.max_bytes:,} bytes (a limit against hostile "
                "files; a protocol or model spec is a few kB)"
            )
        )
    return data


class _LimitedLoader(yaml.SafeLoader):
    """The safe loader, counting depth and aliases while it composes."""

    def __init__(self, stream: str, limits: YamlLimits) -> None:
        super().__init__(stream)
        self._limits = limits
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self._limits.max_aliases:
                raise YamlLimitError(
                    problem=f"more than {self._limits.max_aliases:,} aliases (a limit against "
                    "alias bombs)",
                    problem_mark=self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self._limits.max_depth:
                raise YamlLimitError(
                    problem=f"nested deeper than {self._limits.max_depth} levels (a limit "
                    "against hostile files)",
                    problem_mark=self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                problem=f"cannot read the value {str(node.value)[:40]!r}: "
                f"{(str(exc).splitlines() or [''])[0][:120]}",
                problem_mark=node.start_mark,
            ) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _measure(root: yaml.Node, limits: YamlLimits) -> None:
    """Refuse a node graph whose alias expansion is too large, too deep or recursive.

    Iterative depth-first walk with memoised sizes: each distinct node is visited once,
    so the cost is linear in the composed document, not in its expansion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            on_path.discard(key)
            if size[key] > limits.max_nodes:
                raise YamlLimitError(
                    problem=f"its aliases expand to more than {limits.max_nodes:,} nodes (an "
                    "alias bomb?)",
                    problem_mark=node.start_mark,
                )
            if depth[key] > limits.max_depth:
                raise YamlLimitError(
                    problem=f"its aliases expand to more than {limits.max_depth} nested levels",
                    problem_mark=node.start_mark,
                )
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                raise YamlLimitError(
                    problem="an alias refers to a collection that contains it (a recursive "
                    "structure)",
                    problem_mark=kid.start_mark,
                )
            if id(kid) not in size:
                stack.append((kid, False))


def parse_yaml(text: str, *, limits: YamlLimits = DEFAULT_LIMITS) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document under ``limits``; return ``(data, node tree)``.

    The node tree keeps line numbers for messages; ``data`` is what ``yaml.safe_load``
    would return. An empty document gives ``(None, None)``.

    Raises
    ------
    yaml.YAMLError
        Invalid YAML, a limit exceeded (:class:`YamlLimitError`) or a scalar the
        constructor cannot convert (wrapped in a :class:`yaml.constructor.ConstructorError`).

    Examples
    --------
    >>> parse_yaml("a: [1, 2]")[0]
    {'a': [1, 2]}
    """
    if len(text.encode("utf-8", errors="surrogatepass")) > limits.max_bytes:
        raise YamlLimitError(problem=f"the text is larger than {limits.max_bytes:,} bytes")
    loader = _LimitedLoader(text, limits)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _measure(root, limits)
        try:
            data = loader.construct_document(root)
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                problem=f"cannot read a value: {exc}", problem_mark=None
            ) from None
        return data, root
    finally:
        loader.dispose()
