"""Subcommands of the ``jaxrec`` command line; see :mod:`jaxrec.cli`."""
