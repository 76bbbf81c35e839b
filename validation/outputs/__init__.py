"""Outputs beyond results.json and the report: the results as DICOM (SR, STOW-RS)."""
