"""Reviewing a run's change set: every PR's diff, read from git or the forge, on one page, as one
patch, in the terminal, and as a diffstat on the cards."""
