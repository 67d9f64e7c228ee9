"""Tests of the scaling package."""
