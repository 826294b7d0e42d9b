"""The acmecf command line. `cli` is the click group, `main` the console entry point.

Importing this package registers every command; each command module imports what it needs
lazily, inside its commands.
"""

import acmecf.cli.certbot  # noqa: F401  (registers import-certbot)
from acmecf.cli import (  # noqa: F401  (registers the commands)
    accounts,
    certificates,
    fleet,
    install,
    inventory,
    origin,
    persist,
    reconfigure,
    sandbox,
    webserver,
)
from acmecf.cli.base import cli, main

__all__ = ["cli", "main"]
