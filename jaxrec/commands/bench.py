"""``jaxrec bench [NAME]``: throughput benchmarks; with no name, every benchmark at default sizes."""

from __future__ import annotations

import argparse
import importlib


def register(subparsers: argparse._SubParsersAction) -> None:
    from jaxrec.bench import benchmark_modules

    parser = subparsers.add_parser(
        "bench",
        help="measure compile time and steady-state throughput",
        description="Run one benchmark, or all of them with no name; print a table and "
        "optionally write the full record as JSON.",
    )
    parser.add_argument("--json", dest="json_path", help="write the records here (JSON)")
    parser.set_defaults(func=run_all, benchmark=None, validate=validate)
    names = parser.add_subparsers(dest="benchmark", metavar="NAME")
    for name, module_name in benchmark_modules().items():
        module = importlib.import_module(module_name)
        sub = names.add_parser(name, help=(module.__doc__ or name).strip().splitlines()[0])
        module.add_arguments(sub)
        sub.add_argument("--json", dest="json_path", help="write the record here (JSON)")
        sub.set_defaults(func=run_one, module_name=module_name, validate=validate)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"
    return str(value)


def _print_table(rows: list[dict], indent: str) -> None:
    """Rows of one record (paths, seed counts) as aligned columns, a blank cell where a row lacks one."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [
        [_cell(row[c]) if c in row and row[c] is not None else "" for c in columns] for row in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(indent + "  ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print(indent + "  ".join(f"{v:>{w}}" for v, w in zip(r, widths, strict=True)))


def _print_record(record: dict) -> None:
    tables = {
        k: v for k, v in record.items() if v and isinstance(v, list) and isinstance(v[0], dict)
    }
    width = max(len(key) for key in record)
    for key, value in record.items():
        if key not in tables:
            print(f"  {key:<{width}}  {_cell(value)}")
    for key, rows in tables.items():
        print(f"  {key}:")
        _print_table(rows, "    ")


def validate(args: argparse.Namespace) -> None:
    """Check that ``--json`` can be written before any benchmark runs; write nothing."""
    from jaxrec.commands._outputs import check_file_out

    if args.json_path:
        check_file_out(args.json_path, "--json")


def run_one(args: argparse.Namespace) -> int:
    from jaxrec.io import write_json

    validate(args)
    record = importlib.import_module(args.module_name).run(args)
    _print_record(record)
    if args.json_path:
        write_json(args.json_path, record)
    return 0


def run_all(args: argparse.Namespace) -> int:
    from jaxrec.bench import benchmark_modules
    from jaxrec.io import write_json

    validate(args)
    records = []
    for name, module_name in benchmark_modules().items():
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        print(f"== {name}")
        record = module.run(parser.parse_args([]))
        _print_record(record)
        records.append({"name": name, **record})
    keys = ("device", "jax_version", "compile_s")
    print()
    print(f"{'benchmark':<10} " + " ".join(f"{k:>14}" for k in keys))
    for record in records:
        cells = [record.get(k, "") for k in keys]
        print(
            f"{record['name']:<10} "
            + " ".join(f"{c:>14.3g}" if isinstance(c, float) else f"{c!s:>14}" for c in cells)
        )
    if args.json_path:
        write_json(args.json_path, records)
    return 0
