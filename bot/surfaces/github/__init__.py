"""The GitHub surface: the status comment and linked-PRs section."""
