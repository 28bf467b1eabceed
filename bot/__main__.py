"""`python -m bot` is the `baton` command."""

from bot.cli import main

main()
