"""``langrl pareto``: a weight sweep from one SFT start, rewarded soups, the non-dominated set and its hypervolume."""
