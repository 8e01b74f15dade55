"""The one error type for invalid scenarios."""


class ScenarioError(ValueError):
    """An invalid scenario; the message names the field and how to fix it."""
