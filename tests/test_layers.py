"""Imports run one way down the layers written in the README's "Layout" section.

Every module under ``jaxrec/`` is parsed with :mod:`ast`, and every ``import`` / ``from ... import``
in it -- at module level and inside functions, which is where jaxrec defers heavy imports -- is
mapped to the layer of the jaxrec module it names. An import of a higher layer (an arrow that runs
back up) fails the test with the importing file and line. Imports within one layer are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jaxrec

# highest first; a module may import its own layer and any layer below it
LAYERS = (
    ("cli", "commands", "bench", "__main__"),
    ("experiments",),
    ("sweep",),
    ("agents",),
    ("envs",),
    ("pareto",),
    ("models",),
    ("data",),
    ("metrics",),
    ("errors", "io", "tomlconfig", "ops", "__init__"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
ROOT = Path(jaxrec.__file__).parent


def layer_of(module: str) -> str:
    """The layer of a dotted jaxrec module name (``jaxrec.envs.platform`` -> ``envs``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 2:
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST, package: str) -> list[tuple[str, int]]:
    """(dotted module, line) of every jaxrec import anywhere in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from jaxrec import experiments` imports the subpackage itself
            if target == "jaxrec":
                found += [(f"jaxrec.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name.startswith("jaxrec.")]


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        name = module_name(path)
        own = layer_of(name)
        if path.name == "__main__.py":
            own = "__main__"
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for target, line in imported_modules(ast.parse(path.read_text()), package):
            if RANK[layer_of(target)] < RANK[own]:
                problems.append(f"{path.relative_to(ROOT.parent)}:{line} ({own}) imports {target}")
    return problems


def test_every_jaxrec_package_has_a_layer():
    packages = {
        p.stem if p.is_file() else p.name for p in ROOT.iterdir() if p.suffix in ("", ".py")
    }
    packages -= {"__pycache__"}
    assert packages - set(RANK) == set()


def test_no_import_runs_back_up_the_layers():
    assert upward_imports() == []


def test_the_check_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from jaxrec.experiments.plots import x\n")
    assert imported_modules(tree, "jaxrec.envs") == [("jaxrec.experiments.plots", 2)]
    assert RANK[layer_of("jaxrec.experiments.plots")] < RANK["envs"]
