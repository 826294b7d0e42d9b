"""The acmecf command line. `cli` is the click group, `main` the console entry point.

Commands are registered by their modules, which the group imports only when their command
runs (cli.base.COMMANDS says which module holds which command); `load_all` imports every one,
for tools that walk the whole tree (completion, the man page, tests).
"""

from acmecf.cli.base import COMMANDS, cli, main


def load_all() -> None:
    """Import every command module, so `cli.commands` holds every command."""
    import importlib

    for module in sorted({module for module, _ in COMMANDS.values()}):
        importlib.import_module(f"acmecf.cli.{module}")


__all__ = ["cli", "load_all", "main"]
