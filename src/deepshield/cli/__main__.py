"""``python -m deepshield.cli``: the ``deepshield`` command, run by module name."""

from deepshield.cli.main import main

main()
