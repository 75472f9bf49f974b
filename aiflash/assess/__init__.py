"""Expert blind assessment of the Top-N teams (issue 6).

``prepare`` draws the images and the per-image label permutations and writes one voting page per
expert plus a sealed key; ``tally`` checks the exported vote files against the key and turns Top-3
counts into the subjective score (linear to the profile's subjective_range); the final ranking
(``leaderboard.final_ranking``) combines it with the objective Score.
"""

from .model import CRITERIA, AssessmentError, Key
from .prepare import PrepareOptions, prepare
from .tally import normalise, read_ballots, tally

__all__ = ["CRITERIA", "AssessmentError", "Key", "PrepareOptions", "normalise", "prepare",
           "read_ballots", "tally"]
