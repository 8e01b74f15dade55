"""The error type for invalid scenarios and the warning for scenarios with demand no node can serve."""


class ScenarioError(ValueError):
    """An invalid scenario; the message names the field and how to fix it."""


class UnservableDemandWarning(UserWarning):
    """A scenario has demand no node can serve; the message names the regions and speeds."""
