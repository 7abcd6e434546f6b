"""``python -m starting_kit``: the same as the ``flair-kit`` command."""

from starting_kit.cli import main

main()
