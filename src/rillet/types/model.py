from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel

__all__ = ["Model"]


class Model(BaseModel):
    id: str
    created: int
    object: Literal["model"]
    owned_by: str
    shutdown_date: str | None
