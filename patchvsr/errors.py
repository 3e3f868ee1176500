"""The one exception type a user sees: its message is printed as a single line, exit code 2."""


class PatchVSRError(Exception):
    """Bad input or an impossible request, explained in one line for the user."""
