"""The errors a user can cause (bad config, file, structure, run folder), in one tuple.

Entry points catch `USER_ERRORS` and print one line (``error: ...``) instead of a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from hamlearn.config import ConfigError
from hamlearn.data.basis import BasisError
from hamlearn.data.reference import ReferenceDataError
from hamlearn.data.sources import SourceError
from hamlearn.data.structure import StructureError
from hamlearn.training.checkpoint import CheckpointError


class DatasetError(ValueError):
    """A dataset that cannot be trained or evaluated on (e.g. every molecule failed)."""


USER_ERRORS = (ConfigError, SourceError, StructureError, ReferenceDataError, BasisError,
               CheckpointError, DatasetError, FileExistsError, FileNotFoundError,
               NotADirectoryError, IsADirectoryError, PermissionError)
