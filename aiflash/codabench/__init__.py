"""The organisers' link to a live Codabench site: upload the bundle, pull a phase's leaderboard with
every entry's scoring output (and, for a code phase, each team's code and prediction output) into
one folder the leaderboard, statistics and reproduction commands read, and request re-runs.

HTTP goes through ``requests`` (see ``client.py``); the endpoints and their quirks are the ones a
real site answered with (the recorded exchanges under ``tests/fixtures/codabench_api/``).
"""
