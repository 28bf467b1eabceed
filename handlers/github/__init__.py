"""The GitHub edge: webhooks in, one handler per event."""
