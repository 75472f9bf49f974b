"""The ingestion program: runs a team's code submission on a phase's hidden inputs (issue 3).

- ``api``: the participant API (``model.py``: ``Model(...).restore`` or ``main(...)``);
- ``runner``: the parent process: limits, restarts, outputs (``run_ingestion``);
- ``worker``: the child process that imports and runs the participant's model;
- ``guard`` and ``audit``: the no-rescale guard (output check; resampling audit);
- ``capture``: the participant's stdout/stderr, capped; ``record``: ``ingestion.json``.
"""
