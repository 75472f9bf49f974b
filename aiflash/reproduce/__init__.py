"""The organisers' reproduction run: every finalist's code re-run in the pinned competition image,
isolated from the ground truth and the network, scored, and compared with the online leaderboard.

``steps`` describes the two steps (ingestion, scoring) once; ``runners`` executes them in a
container or locally; ``schedule`` runs teams in parallel, one per GPU; ``pipeline`` ties these
together with resuming; ``report`` writes the CSV/JSON/HTML table. Entry point: ``aiflash
reproduce`` (``aiflash/commands/reproduce.py``); walk-through: ``docs/organisers.md``.
"""

from ..bundle import DOCKER_IMAGE

__all__ = ["DOCKER_IMAGE"]
