"""Pure statistics for diagnostic-accuracy studies.

Arrays or DataFrames in, frozen result objects out; no file I/O, no printing, no
global state (``DESIGN.md`` §1, §5). Each submodule lists its public names in
``__all__``; they are re-exported here so that ``from validation.stats import
roc_auc`` works.
"""

from validation.errors import UndefinedMetricError as UndefinedMetricError
from validation.stats._results import Comparison as Comparison
from validation.stats._results import Estimate as Estimate
from validation.stats._results import TestResult as TestResult
from validation.stats.agreement import *  # noqa: F403
from validation.stats.bootstrap import *  # noqa: F403
from validation.stats.calibration import *  # noqa: F403
from validation.stats.detection import *  # noqa: F403
from validation.stats.hypothesis import *  # noqa: F403
from validation.stats.monitoring import *  # noqa: F403
from validation.stats.mrmc import *  # noqa: F403
from validation.stats.multiplicity import *  # noqa: F403
from validation.stats.operating_points import *  # noqa: F403
from validation.stats.planning import *  # noqa: F403
from validation.stats.proportions import *  # noqa: F403
from validation.stats.roc import *  # noqa: F403
from validation.stats.segmentation import *  # noqa: F403
from validation.stats.subgroups import *  # noqa: F403
