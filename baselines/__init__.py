"""echelon-gym: baselines."""
