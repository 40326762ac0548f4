"""Django management with the web's settings: `python -m loopin_web.manage migrate`."""

from __future__ import annotations

import sys

from django.core.management import execute_from_command_line

from .main import _setup_django
from .settings import Settings


def main() -> None:
    _setup_django(Settings())
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
