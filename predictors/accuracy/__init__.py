"""Accuracy predictors in three tiers: prior (no probes), probe (COSMOS), measured (a real run)."""
