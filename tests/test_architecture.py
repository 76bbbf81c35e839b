"""The layout rules of docs/architecture.md, checked on the source tree.

- no import cycle among radval's modules;
- imports go down the flow (a module imports only from its own layer or a lower one),
  and ``validation.stats`` imports nothing from radval but ``errors`` and itself;
- a function-local import of a radval module is allowed only for a heavy optional
  dependency (torch through ``validation.modeling``) and in the command line (which loads
  the library per command so that ``radval --help`` starts fast), never to dodge a cycle;
- no function body over 120 lines (docstrings excluded) and no line over 100 characters.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "validation"

#: Layers, lowest first: a module may import its own layer or a lower one.
LAYERS: list[tuple[str, ...]] = [
    (
        "validation",
        "validation.errors",
        "validation.io",
        "validation.tables",
        "validation.safe_yaml",
    ),
    ("validation.stats", "validation.data", "validation.modeling"),
    ("validation.protocol", "validation.results", "validation.audit"),
    (
        "validation.study",
        "validation.gate",
        "validation.report",
        "validation.demo",
        "validation.monitor",
        "validation.outputs",
    ),
    ("validation.cli", "validation.__main__"),
]
#: Modules that may be imported inside a function: they pull in torch and Lightning,
#: which a statistics-only run must not load.
LAZY_OK = ("validation.modeling",)
#: The command line imports the library inside each command, so that ``radval --help``
#: and ``radval --version`` start without loading pandas, scipy or torch.
LAZY_IMPORTERS = ("validation.cli",)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _layer(module: str) -> int:
    best = (-1, -1)
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best[1]:
                best = (i, len(name))
    if best[0] < 0:
        raise AssertionError(f"module {module} is in no layer of tests/test_architecture.py")
    return best[0]


def _resolve(module: str, node: ast.ImportFrom, path: Path) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> list[tuple[str, bool, int]]:
    """(imported radval module, inside a function?, line) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom):
                target = _resolve(module, child, path)
                if target.startswith("validation"):
                    out.append((target, in_function, child.lineno))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("validation"):
                        out.append((alias.name, in_function, child.lineno))
            elif isinstance(child, ast.If) and _is_type_checking(child):
                continue
            visit(child, inside)

    visit(tree, False)
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _owner(target: str, modules: dict[str, Path]) -> str:
    """The radval module an import names (``validation.stats.roc`` for ``...roc.auc_test``)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target


def test_imports_go_down_the_flow_and_stats_stands_alone() -> None:
    modules = _modules()
    wrong = []
    for module, path in modules.items():
        for target, _, line in _imports(module, path):
            owner = _owner(target, modules)
            if module.startswith("validation.stats") and not (
                owner.startswith("validation.stats") or owner == "validation.errors"
            ):
                wrong.append(f"{path.name}:{line}: stats imports {owner}")
            elif _layer(owner) > _layer(module):
                wrong.append(f"{module}:{line} imports {owner}, a higher layer")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle() -> None:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for target, in_function, _ in _imports(module, path):
            owner = _owner(target, modules)
            if owner and owner != module and not in_function:
                graph[module].add(owner)
    # a package's __init__ re-exporting its submodules is not a cycle with them
    for module in list(graph):
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(
                    " -> ".join(stack[stack.index(nxt) :] + [nxt])
                    if nxt in stack
                    else f"{node} -> {nxt}"
                )
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_no_function_local_import_of_radval_modules() -> None:
    modules = _modules()
    found = [
        f"{module}:{line} imports {target} inside a function"
        for module, path in modules.items()
        for target, in_function, line in _imports(module, path)
        if in_function and not target.startswith(LAZY_OK) and not module.startswith(LAZY_IMPORTERS)
    ]
    assert not found, "\n".join(found)


def test_no_long_functions_and_no_long_lines() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for i, line in enumerate(text.splitlines(), start=1):
            if len(line) > 100:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{i}: line of {len(line)}")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            first = body[0]
            has_doc = (
                isinstance(first, ast.Expr)
                and isinstance(getattr(first, "value", None), ast.Constant)
                and isinstance(first.value.value, str)
            )
            start = (
                (body[1].lineno if len(body) > 1 else node.end_lineno) if has_doc else first.lineno
            )
            length = (node.end_lineno or start) - start + 1
            if length > 120:
                problems.append(
                    f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.name} has a "
                    f"{length}-line body"
                )
    assert not problems, "\n".join(problems)
