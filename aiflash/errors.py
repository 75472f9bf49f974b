"""One exception family per kind of user-facing failure.

Every message names the file (or setting) at fault and says what to do; the command-line layer
prints it as one line on stderr and exits non-zero, never with a traceback.
"""


class AiflashError(Exception):
    """Base class: a failure a person can act on (as opposed to a bug in this package)."""

    exit_code = 2


class SubmissionError(AiflashError):
    """The participant's submission is unusable (missing, extra or malformed result images)."""


class ReferenceDataError(AiflashError):
    """The organisers' reference data (ground truth, masks, inputs) is unusable."""


class WeightsError(AiflashError):
    """The LPIPS weights are missing or corrupted."""


class ProfileError(AiflashError):
    """A scoring profile (YAML) is malformed."""


class ModelError(AiflashError):
    """A participant's model failed (crash, hang, bad output, rescaling) during ingestion."""


class BundleError(AiflashError):
    """The Codabench bundle or competition.yaml breaks a platform rule."""


class CalibrationError(AiflashError):
    """The forensics calibration folders are unusable (no matching input/output pairs)."""


class StatisticsError(AiflashError):
    """Per-image scores or votes cannot support the ranking statistics (different images, too few)."""


class CodabenchError(AiflashError):
    """The Codabench site (or its storage) refused or failed a request, or its credentials are unusable."""
