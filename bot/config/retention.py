"""`retention:` in baton.yml: how long Baton keeps what it only needs for a while.

`deliveries_days` bounds the deliveries table (the record of every webhook delivery, comment and
label event Baton acted on, which is what makes a re-sent body a duplicate). Anything older than
that is pruned daily, and a comment or label event older than that is never acted on — so a
forgotten record cannot make an old comment count again.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Retention(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deliveries_days: float = Field(default=30, gt=0)
