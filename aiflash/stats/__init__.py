"""How sure the rankings are (issue 12): pure functions over per-image scores and expert votes.

``objective``: bootstrap over images of every team's Score (paired, drawn as scipy.stats.bootstrap
draws; the full Score formula vectorised), rank intervals, P(upper neighbour truly ahead). ``experts``:
agreement (Kendall's W, Fleiss' kappa, per-expert correlation), the subjective and final scores'
bootstrap over experts and images, leave-one-expert-out, weight sensitivity. ``link``: objective
vs subjective rank correlations. ``plots``: inline SVG. Settings: the profile's ``statistics``.
Import the submodules directly: ``objective`` is all the scoring program's report needs, and it
must not pull in the assessment and leaderboard code that ``experts`` uses.
"""
