"""The one exception type for a user's mistake.

The library raises :class:`UserInputError` for bad input (a malformed data file, a wrong sweep
field, a missing model path). Each problem is one line that says where (file, record or key) and
what was wrong and what was expected. The CLI prints the lines and exits with code 2; everything
else is a bug and gets a traceback only with ``--debug``.
"""

from __future__ import annotations

from collections.abc import Iterable


class UserInputError(ValueError):
    """Bad input from the user. ``problems`` holds one line per problem, all found at once."""

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        if not self.problems:
            raise ValueError("UserInputError needs at least one problem")
        super().__init__("\n".join(self.problems))
