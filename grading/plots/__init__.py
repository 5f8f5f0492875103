"""Publication figures: forest, translational forest, gap map, risk of bias, funnel."""

from __future__ import annotations

__all__: list[str] = []
