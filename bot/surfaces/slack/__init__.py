"""The Slack surface: the status card, its thread, App Home."""
