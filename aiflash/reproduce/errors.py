"""The reproduction's user-facing failure (bad arguments, missing data, Docker unavailable)."""

from ..errors import AiflashError


class ReproductionError(AiflashError):
    """The reproduction run cannot start or continue; the message names the cause and the fix."""
