"""aiflash: scorer, ingestion program and Codabench bundle for NTIRE 2026 RAIM Track 3.

Data flows one way: files -> validated arrays (``images``, ``discovery``) -> per-image metric
rows (``scoring``) -> aggregates -> Score (``formula``) -> reports (``report``).
"""

__version__ = "0.1.0"
