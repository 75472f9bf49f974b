"""Subcommands of the ``aiflash`` command line; each module exposes ``register(subparsers)``."""
