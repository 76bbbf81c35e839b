"""Lesion detection endpoints (placeholder re-export while being built)."""

from validation.stats._froc_fom import FomArrays, froc_figure_of_merit, froc_fom_arrays

__all__ = ["FomArrays", "froc_figure_of_merit", "froc_fom_arrays"]
