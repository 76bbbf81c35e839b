"""radval: clinical validation and regulatory evaluation suite for radiology AI.

The import package is ``validation``; the distribution and console script are
``radval``. See ``DESIGN.md`` (shared) for the flow and the data contracts.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("radval")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
