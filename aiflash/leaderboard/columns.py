"""The one place that names the columns the leaderboard and the assessment read and write.

Metric keys are the scorer's ``scores.json`` keys (``report.LEADERBOARD_KEYS``); their direction
(higher or lower is better) comes from the profile's metric ranges. The reproduction report
(``aiflash reproduce``) is read through ``REPRODUCTION_COLUMNS``; a few spellings other tools use
are accepted through ``ALIASES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..profile import Profile
from ..report import LEADERBOARD_KEYS

TEAM = "team"
SCORE = "Score"
TIE_BREAK = "LPIPS_person"  # ties on Score are broken by LPIPS_person, lower is better
METRICS = LEADERBOARD_KEYS  # Score, GlobalScore, LPIPS_person, DeltaE_person, PSNR_bg, SSIM_global
# Display order on the site: Score first, then the four measured metrics, then GlobalScore.
DISPLAY_METRICS = ("Score", "LPIPS_person", "DeltaE_person", "PSNR_bg", "SSIM_global", "GlobalScore")
DECIMALS = {"Score": 4, "GlobalScore": 4, "LPIPS_person": 4, "DeltaE_person": 3, "PSNR_bg": 2,
            "SSIM_global": 4}

# The reproduction report, one row per team (CSV, or JSON records under "teams"), as `aiflash
# reproduce` writes it (reproduction/reproduction.csv; its other columns are ignored here).
ONLINE_SCORE = "online_score"
DIFFERENCE = "difference"  # reproduced Score - online Score
DISCREPANCY = "discrepancy"  # true when |difference| is beyond the reproduction tolerance
STATUS = "status"  # "ok" when the team's code was reproduced; anything else is a failure
REASON = "reason"  # why it failed (or why it was disqualified)
REVIEW = "review"  # the rescaling review flag ("REVIEW: n flagged, m rejected image(s)"), or empty
REPRODUCTION_COLUMNS = (TEAM, *METRICS, ONLINE_SCORE, DIFFERENCE, DISCREPANCY, STATUS, REASON, REVIEW)
OK_STATUSES = frozenset({"ok", "finished", "success", "succeeded", "done", "reproduced", "passed"})

# Derived columns every loaded table carries.
DISQUALIFIED = "disqualified"

# The expert assessment (`aiflash assess tally`), one row per assessed team.
SUBJECTIVE = "subjective"  # the expert score, normalised to the profile's subjective_range
POINTS = "points"  # weighted Top-3 count the subjective score is normalised from
TOP3 = "top3"  # how often the team was in an expert's Top-3
FIRST, SECOND, THIRD = "first", "second", "third"
SUBJECTIVE_COLUMNS = (TEAM, TOP3, FIRST, SECOND, THIRD, POINTS, SUBJECTIVE)

# The final ranking (`aiflash assess final`, and the site's last section).
FINAL = "Final"
FINAL_COLUMNS = ("rank", TEAM, FINAL, SCORE, SUBJECTIVE, TIE_BREAK)

ALIASES = {
    TEAM: ("team", "teamname", "name", "participant", "username", "owner", "submitter"),
    SCORE: ("score", "reproducedscore", "reproduced"),
    "GlobalScore": ("globalscore", "global"),
    "LPIPS_person": ("lpipsperson", "lpips"),
    "DeltaE_person": ("deltaeperson", "deltae", "eperson", "de"),
    "PSNR_bg": ("psnrbg", "psnrbackground", "psnrbackgrounddb", "psnrbgdb", "psnr"),
    "SSIM_global": ("ssimglobal", "ssim"),
    ONLINE_SCORE: ("onlinescore", "online", "codabenchscore", "phase3score"),
    DIFFERENCE: ("difference", "diff", "delta", "scoredifference"),
    DISCREPANCY: ("discrepancy", "flagged", "discrepancyflag"),
    STATUS: ("status", "state", "outcome"),
    REASON: ("reason", "failurereason", "error", "failure", "message", "note"),
    REVIEW: ("review", "reviewflag", "rescalingreview"),
    SUBJECTIVE: ("subjective", "subjectivescore", "expertscore", "expert"),
    POINTS: ("points", "votes", "weightedvotes"),
    TOP3: ("top3", "top3count", "picks"),
}


def squash(name: str) -> str:
    """A header reduced to lower-case letters and digits ("LPIPS (person) ↓" -> "lpipsperson")."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical(header: str) -> str | None:
    """The column a header means, or None when it is none of ours."""
    if header in ALIASES:
        return header
    squashed = squash(header)
    for key, names in ALIASES.items():
        if squashed == squash(key) or squashed in names:
            return key
    return None


@dataclass(frozen=True)
class Direction:
    higher_is_better: bool

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def words(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


def metric_directions(profile: Profile) -> dict[str, Direction]:
    """Direction of every leaderboard metric: Score and GlobalScore up, the rest per the profile."""
    directions = {SCORE: Direction(True), "GlobalScore": Direction(True)}
    directions.update({k: Direction(r.higher_is_better) for k, r in profile.ranges.items()})
    return directions
