"""echelon-gym: agents."""
