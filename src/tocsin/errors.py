"""The one error hierarchy of tocsin.

::

    TocsinError
    ├── InputError            bad user input: a file, a line, a field
    │   ├── ScenarioError     a drill scenario that cannot be run
    │   └── WireError         a message that breaks the exchange format
    └── ConfigError           bad configuration (keys, policy, server settings)

Every user-facing error names where the problem is (file, line, field) so the CLI
can print it on one line and exit with status 2, never with a traceback.
"""

from __future__ import annotations


class TocsinError(Exception):
    """Base of every error tocsin raises on purpose."""


class InputError(TocsinError):
    """Bad input, located as precisely as possible.

    ``str(err)`` is one line: ``file:line: field: message`` with the parts that are
    known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        fld = f"{self.field}: " if self.field else ""
        return f"{where}{fld}{self.message}"


class ScenarioError(InputError):
    """A drill scenario file that cannot be run."""


class WireError(InputError):
    """A message that does not follow the exchange format."""


class ConfigError(TocsinError):
    """Bad configuration."""
