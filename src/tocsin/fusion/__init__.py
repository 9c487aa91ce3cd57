"""Multi-sensor, multi-target ballistic tracking."""
