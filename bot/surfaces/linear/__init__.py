"""The Linear surface: the status comment, agent session activities, states."""
