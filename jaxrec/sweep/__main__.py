"""``python -m jaxrec.sweep``: the ``jaxrec sweep`` command (:mod:`jaxrec.commands.sweep`) without
loading the other commands.

Multi-process runs use it, since ``jax.distributed.initialize`` must run before anything touches
a JAX backend.
"""

from __future__ import annotations

import argparse
import sys

from jaxrec.commands import sweep as command
from jaxrec.errors import Interrupted, JaxrecError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxrec.sweep", description=command.DESCRIPTION)
    command.add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except Interrupted as err:
        print(f"jaxrec sweep: interrupted: {err}", file=sys.stderr)
        return 130
    except JaxrecError as err:
        print(f"jaxrec sweep: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
