"""``python -m alignlab``: the CLI, as the ``alignlab`` command runs it."""

from alignlab.cli import main

main()
