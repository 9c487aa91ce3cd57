"""Areas at risk, alert lifecycle, policy and CAP 1.2 rendering."""
