"""evigap's judgement layer: risk of bias, certainty, stream integration, the translational gap."""

from __future__ import annotations

__all__: list[str] = []
