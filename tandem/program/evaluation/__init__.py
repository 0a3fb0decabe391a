"""Evaluation: survey responses in, competency gains and the cohort report out."""
