"""The dashboard: the web pages `baton serve` shows and who may read them."""
