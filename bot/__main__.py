"""`python -m bot` is the `baton` command."""

from bot.cli.main import main

main()
