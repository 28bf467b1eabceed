"""The clients of the services Baton talks to, one package each."""
