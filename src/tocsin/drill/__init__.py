"""Drill scenarios, simulation, injects, scoring and after-action reports."""
