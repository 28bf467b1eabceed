"""The Slack edge: bolt listeners for events, actions and commands."""
