"""Logs, metrics and traces of one Baton process, and the one redactor."""
