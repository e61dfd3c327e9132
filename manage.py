#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

HELP_ARGUMENTS = {"-h", "--help", "help", "--version"}


def asks_for_help(argv: list[str]) -> bool:
    """`manage.py`, `manage.py help [...]` or any `--help`: argparse prints and exits, nothing runs."""
    return len(argv) < 2 or argv[1] == "help" or any(arg in HELP_ARGUMENTS for arg in argv[1:])


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blogapi.settings")
    if asks_for_help(sys.argv):
        # Help needs no production secret; every command that runs still refuses to start without one.
        os.environ.setdefault("SECRET_KEY", "help-only-never-signs-anything")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
