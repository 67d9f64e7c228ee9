"""Data functions, one module per aggregate: keyword-only, they own their commits."""
