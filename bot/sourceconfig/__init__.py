"""One configuration model per source (the `github:`, `slack:` and `linear:` sections of baton.yml)."""
