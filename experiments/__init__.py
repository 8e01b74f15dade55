"""echelon-gym: experiments."""
