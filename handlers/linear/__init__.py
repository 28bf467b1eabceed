"""The Linear edge: webhooks in, one handler per event."""
