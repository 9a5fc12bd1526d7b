"""Every option a ``jaxrec`` subcommand shows is read by the code behind it.

Method (static, no command is run): walk the whole parser tree of :func:`jaxrec.cli.build_parser`
down to every leaf parser (``jaxrec train cpo``, ``jaxrec bench env``, ``jaxrec demo``, ...). A
leaf's handler is its ``func`` default (for ``jaxrec bench NAME`` also the benchmark module's
``run``, which ``func`` calls by the module name it is given). From the handlers, follow every call
by name -- to functions of the same module, to names imported at module level or inside a function
body, and to ``module.function`` attributes of imported jaxrec modules -- as long as the callee is a
plain function defined in a ``jaxrec`` module, and parse each reached function with :mod:`ast`.
An option counts as read when a reached function reads ``args.<dest>`` (the convention: every
function handed the parsed arguments names them ``args``), or calls ``getattr(args, "<dest>")``; a
``getattr(args, name)`` with a computed name counts every string constant of that function. The
test fails, naming the subcommand and the option, when a shown option's ``dest`` is never read.
Reading ``args.X`` without showing X would be an AttributeError, which the command tests catch.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import textwrap
import types

from jaxrec.cli import build_parser


def leaf_parsers(parser: argparse.ArgumentParser, prefix: str = "jaxrec"):
    """(name, parser) of every parser in the tree that has its own handler."""
    subactions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if parser.get_default("func") is not None:
        yield prefix, parser
    for action in subactions:
        for name, sub in action.choices.items():
            yield from leaf_parsers(sub, f"{prefix} {name}")


def shown_dests(parser: argparse.ArgumentParser) -> set[str]:
    return {
        action.dest
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
    }


def _resolve(name: str, function: types.FunctionType, local_imports: dict[str, str]):
    """The object ``name`` stands for inside ``function`` (a lazy import or a module global)."""
    if name not in local_imports:
        return function.__globals__.get(name)
    path = local_imports[name]
    if not path.startswith("jaxrec"):
        return None
    module, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return importlib.import_module(path)


def _function_reads(function: types.FunctionType, seen: set, reads: set[str]) -> None:
    if function in seen or not function.__module__.startswith("jaxrec"):
        return
    seen.add(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    local_imports = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                local_imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                local_imports[alias.asname or alias.name] = alias.name
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "args":
                reads.add(node.attr)
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        if isinstance(target, ast.Name) and target.id == "getattr" and node.args:
            if isinstance(node.args[0], ast.Name) and node.args[0].id == "args":
                key = node.args[1] if len(node.args) > 1 else None
                if isinstance(key, ast.Constant):
                    reads.add(key.value)
                else:
                    reads.update(s for s in strings if isinstance(s, str))
        callee = None
        if isinstance(target, ast.Name):
            callee = _resolve(target.id, function, local_imports)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            owner = _resolve(target.value.id, function, local_imports)
            if isinstance(owner, types.ModuleType):
                callee = getattr(owner, target.attr, None)
        if isinstance(callee, types.FunctionType):
            _function_reads(callee, seen, reads)


def options_read(parser: argparse.ArgumentParser) -> set[str]:
    handlers = [parser.get_default("func")]
    if parser.get_default("module_name"):
        handlers.append(importlib.import_module(parser.get_default("module_name")).run)
    seen: set = set()
    reads: set[str] = set()
    for handler in handlers:
        _function_reads(handler, seen, reads)
    return reads


def test_every_shown_option_is_read():
    unread = {
        name: sorted(shown_dests(parser) - options_read(parser))
        for name, parser in leaf_parsers(build_parser())
    }
    assert {name: dests for name, dests in unread.items() if dests} == {}


def test_the_walk_sees_every_train_mode_and_catches_an_unread_option():
    leaves = dict(leaf_parsers(build_parser()))
    modes = {"cpo", "ppo-lag", "compare", "sweep", "platform", "evaluate"}
    assert {f"jaxrec train {m}" for m in modes} <= set(leaves)
    platform = leaves["jaxrec train platform"]
    # `train platform` builds its world from no data file: a --data option there would be unread
    assert "data" not in shown_dests(platform) and "delta" not in shown_dests(platform)
    platform.add_argument("--never-read", type=int)
    assert "never_read" in shown_dests(platform) - options_read(platform)
