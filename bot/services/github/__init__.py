"""GitHub's REST API: credentials, retries, issues and comments, tracing."""
