"""``python -m walletchaos`` is the ``walletchaos`` command."""

from .cli import main

main()
