"""What every configuration model shares: strict models (an unknown key is an error) and the error
that names the key and the reason."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(Exception):
    """Configuration that cannot be used; the message names the key and the reason."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
