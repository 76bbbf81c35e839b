"""Reader studies (MRMC): Obuchowski-Rockette and Dorfman-Berbaum-Metz analyses, AI versus
readers, non-inferiority, power and sample size.

Modules: :mod:`.analysis` (the public analyses and their result types), :mod:`.core` (the
OR/DBM ANOVA and tests), :mod:`.data` (readings to a figure-of-merit matrix), :mod:`.fom`
(figures of merit), :mod:`.power` (Hillis-Obuchowski power), :mod:`.roc` (reader curves),
:mod:`.readings` (the tidy readings contract these functions accept).
"""

from validation.stats.mrmc.analysis import (
    MRMCResult,
    MRMCTest,
    ReaderVsAI,
    mrmc_analysis,
    mrmc_noninferiority,
    reader_vs_ai,
)
from validation.stats.mrmc.data import reader_foms
from validation.stats.mrmc.power import MRMCPower, mrmc_power, mrmc_sample_size
from validation.stats.mrmc.roc import average_roc_curve, reader_roc_points

__all__ = [
    "MRMCPower",
    "MRMCResult",
    "MRMCTest",
    "ReaderVsAI",
    "average_roc_curve",
    "mrmc_analysis",
    "mrmc_noninferiority",
    "mrmc_power",
    "mrmc_sample_size",
    "reader_foms",
    "reader_roc_points",
    "reader_vs_ai",
]
