"""The vocabulary every part speaks: models, the ports the engine depends on, branch naming."""
