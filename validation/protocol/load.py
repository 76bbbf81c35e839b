"""Read, check and resolve a protocol file.

The YAML is parsed once with the safe loader under :mod:`validation.safe_yaml`'s limits
(size, nesting depth, aliases and their expansion: an alias bomb or a deeply nested
file is refused with its line, never expanded); its node tree gives each problem a line
number. Every problem is reported with its YAML path (``endpoints[0].ci.method``), so
``radval protocol check`` can print them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from validation.errors import ProtocolError
from validation.io import sha256_bytes, sha256_file
from validation.protocol.cards import card_threshold
from validation.protocol.schema import Protocol, _metric_problems
from validation.protocol.sizing import planning_problems
from validation.safe_yaml import YamlLimitError, parse_yaml, read_yaml_bytes


@dataclass(frozen=True)
class Problem:
    """One problem in a protocol: where (YAML path and line) and what."""

    path: str
    message: str
    line: int | None = None

    def format(self, file: str | Path) -> str:
        """Return ``FILE:LINE: PATH: MESSAGE``."""
        where = f"{file}:{self.line}" if self.line is not None else str(file)
        return f"{where}: {self.path or '<root>'}: {self.message}"


@dataclass(frozen=True)
class LoadedProtocol:
    """A validated protocol with where it came from.

    Attributes
    ----------
    path : Path
        Absolute path of the protocol file.
    protocol : Protocol
        The validated model.
    sha256 : str
        sha256 of the file's bytes (what the lock records).
    raw : dict
        The YAML mapping as read.
    """

    path: Path
    protocol: Protocol
    sha256: str
    raw: dict[str, Any]

    @property
    def base_dir(self) -> Path:
        """Folder relative paths in the protocol are resolved against."""
        return self.path.parent

    def resolve(self, rel: str | None) -> Path | None:
        """Resolve a path written in the protocol (relative to the protocol file)."""
        if rel is None:
            return None
        p = Path(rel)
        return (p if p.is_absolute() else self.base_dir / p).resolve()


def yaml_path(loc: tuple[Any, ...]) -> str:
    """Format a location tuple as a YAML path: ``('endpoints', 0, 'ci')`` -> ``endpoints[0].ci``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicate_keys(node: yaml.Node | None, loc: tuple[Any, ...] = ()) -> list[Problem]:
    out: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            if key in seen:
                out.append(
                    Problem(yaml_path((*loc, key)), f"duplicate key {key!r}", k.start_mark.line + 1)
                )
            seen.add(key)
            out.extend(_duplicate_keys(v, (*loc, key)))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.extend(_duplicate_keys(v, (*loc, i)))
    return out


def _message(err: dict[str, Any]) -> str:
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] not in ("missing", "value_error") and not isinstance(
        err.get("input"), dict | list
    ):
        msg += f" (found {err.get('input')!r})"
    return msg


def _yaml_problem(exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, YamlLimitError):
        return Problem("", f"refused: {problem}", line)
    return Problem("", f"not valid YAML: {problem}", line)


def _parse_text(text: str) -> tuple[Any, yaml.Node | None, list[Problem]]:
    try:
        data, root = parse_yaml(text)
    except yaml.YAMLError as exc:
        return None, None, [_yaml_problem(exc)]
    return data, root, _duplicate_keys(root)


def _check_parsed(
    text: str, *, registry: bool = True
) -> tuple[Protocol | None, list[Problem], Any, yaml.Node | None]:
    """:func:`check_text`, also returning the parsed data and node tree."""
    data, root, problems = _parse_text(text)
    if data is None and not problems:
        return None, [Problem("", "the protocol is empty; expected a YAML mapping", 1)], None, None
    if problems and data is None:
        return None, problems, None, None
    if not isinstance(data, dict):
        found = type(data).__name__
        return (
            None,
            [Problem("", f"expected a YAML mapping at the top level, found {found}", 1)],
            data,
            root,
        )
    try:
        proto = Protocol.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append(Problem(yaml_path(loc), _message(dict(err)), node_line(root, loc)))
        return None, problems, data, root
    if registry:
        for loc, msg in _metric_problems(proto):
            problems.append(Problem(yaml_path(loc), msg, node_line(root, loc)))
        for loc, msg in planning_problems(proto):
            problems.append(Problem(yaml_path(loc), msg, node_line(root, loc)))
    return (proto if not problems else None), problems, data, root


def check_text(text: str, *, registry: bool = True) -> tuple[Protocol | None, list[Problem]]:
    """Validate protocol text; return the model (if valid) and every problem found."""
    proto, problems, _, _ = _check_parsed(text, registry=registry)
    return proto, problems


def _file_problems(loaded: LoadedProtocol, root: yaml.Node | None) -> list[Problem]:
    p = loaded.protocol
    checks: list[tuple[tuple[Any, ...], str | None, str | None, bool]] = [
        (("test_set", "manifest"), p.test_set.manifest, p.test_set.sha256, True),
    ]
    for key, ref in (("model", p.model), ("baseline", p.baseline)):
        if ref is not None:
            checks += [
                ((key, "scores"), ref.scores, ref.scores_sha256, False),
                ((key, "spec"), ref.spec, None, True),
                ((key, "checkpoint"), ref.checkpoint, ref.checkpoint_sha256, True),
                # the model card exists once the model is trained, i.e. before the lock
                ((key, "card"), ref.card, ref.card_sha256, True),
            ]
    if p.reader_study is not None:
        # readings are collected after the lock: only checked when a sha256 is declared
        checks.append(
            (("reader_study", "readings"), p.reader_study.readings, p.reader_study.sha256, False)
        )
    if p.detection is not None:
        checks.append((("detection", "marks"), p.detection.marks, p.detection.marks_sha256, False))
        checks.append(
            (("detection", "lesions"), p.detection.lesions, p.detection.lesions_sha256, True)
        )
    if p.segmentation is not None:
        checks.append(
            (
                ("segmentation", "predictions"),
                p.segmentation.predictions,
                p.segmentation.predictions_sha256,
                False,
            )
        )
    if p.test_set.truthing is not None:
        t = p.test_set.truthing
        checks.append((("test_set", "truthing", "file"), t.file, t.sha256, True))
    if p.measurement is not None:
        m = p.measurement
        checks.append(
            (("measurement", "measurements"), m.measurements, m.measurements_sha256, False)
        )
    out: list[Problem] = []
    for loc, rel, sha, required in checks:
        if rel is None:
            continue
        path = loaded.resolve(rel)
        assert path is not None
        line = node_line(root, loc)
        if not path.is_file():
            if required or sha is not None:
                out.append(Problem(yaml_path(loc), f"file not found: {path}", line))
            continue
        if sha is not None:
            actual = sha256_file(path)
            if actual != sha:
                out.append(
                    Problem(
                        yaml_path(loc),
                        f"sha256 of {path} is {actual}, the protocol expects {sha}",
                        line,
                    )
                )
    out.extend(_card_threshold_problems(loaded, root))
    return out


def _card_threshold_problems(loaded: LoadedProtocol, root: yaml.Node | None) -> list[Problem]:
    """A threshold stated beside a model card must be the card's (see :mod:`.cards`)."""
    out: list[Problem] = []
    refs = [("model", loaded.protocol.model), ("baseline", loaded.protocol.baseline)]
    for role, ref in refs:
        if ref is None or ref.card is None:
            continue
        path = loaded.resolve(ref.card)
        assert path is not None
        if not path.is_file():
            continue  # reported as a missing file
        try:
            recorded = card_threshold(path, where=f"{role}.card")
        except ProtocolError as exc:
            if ref.threshold is None:  # the study would need the card's threshold
                out.append(
                    Problem(yaml_path((role, "card")), str(exc), node_line(root, (role, "card")))
                )
            continue
        if ref.threshold is not None and float(ref.threshold) != recorded:
            out.append(
                Problem(
                    yaml_path((role, "threshold")),
                    f"{role}.threshold is {ref.threshold!r}, but the model card {path} records "
                    f"operating threshold {recorded!r}; leave {role}.threshold out to use the card's, "
                    "or state exactly the card's value",
                    node_line(root, (role, "threshold")),
                )
            )
    return out


def inspect_protocol(
    path: str | Path, *, files: bool = True
) -> tuple[LoadedProtocol | None, yaml.Node | None, list[Problem]]:
    """Read a protocol once (under the YAML limits) and check it.

    Returns the loaded protocol (when the YAML and the schema are valid), the YAML node
    tree (for locating problems by line) and every problem found; with ``files=True``
    the files it names are checked too (existence, sha256).
    """
    file = Path(path)
    if file.is_dir():
        return None, None, [Problem("", "expected a protocol YAML file, found a directory")]
    try:
        raw = read_yaml_bytes(file)
    except YamlLimitError as exc:
        return None, None, [_yaml_problem(exc)]
    except OSError as exc:
        return None, None, [Problem("", f"cannot read protocol: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        why = f"the protocol is not UTF-8 text ({exc.reason} at byte {exc.start})"
        return None, None, [Problem("", why)]
    proto, problems, data, root = _check_parsed(text)
    if proto is None:
        return None, root, problems
    loaded = LoadedProtocol(file.resolve(), proto, sha256_bytes(raw), data)
    if files:
        problems.extend(_file_problems(loaded, root))
    return loaded, root, problems


def check_protocol(path: str | Path, *, files: bool = True) -> list[Problem]:
    """Return every problem in the protocol file at ``path`` (empty when it is valid).

    With ``files=True`` the files it names are checked too (existence, sha256).
    """
    return inspect_protocol(path, files=files)[2]


def load_protocol(path: str | Path, *, files: bool = True) -> LoadedProtocol:
    """Load and validate a protocol; raise :class:`ProtocolError` listing every problem."""
    file = Path(path)
    loaded, _, problems = inspect_protocol(file, files=files)
    if loaded is not None and not problems:
        return loaded
    lines = "; ".join(p.format(file) for p in problems)
    raise ProtocolError(f"invalid protocol {file} ({len(problems)} problem(s)): {lines}")
