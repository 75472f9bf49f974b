"""Leaderboard site for the three phases and the final ranking (issue 6).

``sources`` reads Codabench exports, scores.json folders, the reproduction report and the tallied
expert scores into canonical tables (column names in ``columns``); ``ranking`` orders them (Score,
ties by LPIPS_person; Final = objective_weight × Score + subjective_weight × expert score, from
the profile); ``site`` renders one self-contained page plus CSV/JSON of every table.
"""

from .ranking import FinalSettings, final_ranking, ranked
from .site import build_site, write_site
from .sources import LeaderboardError, load_results, load_subjective

__all__ = ["FinalSettings", "LeaderboardError", "build_site", "final_ranking", "load_results",
           "load_subjective", "ranked", "write_site"]
