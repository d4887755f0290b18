"""Training agents built from rlspec's verified formulas."""
