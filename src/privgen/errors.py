"""The one exception type for bad user input.

The CLI turns a `UserError` into a single line on stderr and exit code 2; anything else is a bug and keeps
its traceback. Library code raises it only for problems the caller can fix, and says how.
"""


class UserError(Exception):
    """Bad input: the message names the problem and the fix."""
