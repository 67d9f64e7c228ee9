"""Pydantic schemas at the API edge, named by role (``XCreate``/``XUpdate`` only where a body differs)."""
