"""Exceptions raised by pytest-autotune.

Every error carries enough context to act on: configuration errors name the file, the field
(and line when the format has one) and what is allowed; deployment and benchmark errors carry the
tail of the server or benchmark log.
"""

from __future__ import annotations


class AutotuneWarning(UserWarning):
    """Accepted, but deserves attention.

    Filter with ``ignore::pytest_autotune.errors.AutotuneWarning``.
    """


class AutotuneError(Exception):
    """Base class of every pytest-autotune error."""


class ConfigError(AutotuneError):
    """A tuning case, marker or option is invalid.

    ``str()`` renders ``<source>:<line>: <field>: <message>`` so a user can jump to the spot.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.field = field
        self.line = line
        super().__init__(self.render())

    def render(self) -> str:
        where = self.source or ""
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        parts = [p for p in (where, self.field) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message

    def located(self, *, source: str | None = None, line: int | None = None) -> ConfigError:
        """A copy with the source (and line) filled in where they were unknown."""
        return ConfigError(
            self.message,
            source=self.source or source,
            field=self.field,
            line=self.line if self.line is not None else line,
        )


class DeployError(AutotuneError):
    """The server could not be deployed or did not become ready."""

    def __init__(self, message: str, *, log_tail: str = "", log_path: str | None = None) -> None:
        self.message = message
        self.log_tail = log_tail
        self.log_path = log_path
        super().__init__(self.render())

    def render(self) -> str:
        text = self.message
        if self.log_path:
            text += f"\nfull log: {self.log_path}"
        if self.log_tail:
            text += "\n--- server log (last lines) ---\n" + self.log_tail.rstrip()
        return text


class Infeasible(DeployError):
    """The server refused to start for a resource reason (OOM, KV memory, missing GPUs).

    The configuration is reported as *infeasible* (a skip) rather than an error, unless
    ``--autotune-strict`` is given.
    """

    def __init__(
        self, reason: str, *, log_tail: str = "", log_path: str | None = None
    ) -> None:
        self.reason = reason
        super().__init__(reason, log_tail=log_tail, log_path=log_path)


class ReadinessTimeout(DeployError):
    """The server did not answer ``/health`` and ``/v1/models`` within the deploy timeout."""


class BenchError(AutotuneError):
    """genai-bench failed or produced no result for a workload point."""

    def __init__(self, message: str, *, output_tail: str = "") -> None:
        self.message = message
        self.output_tail = output_tail
        super().__init__(self.render())

    def render(self) -> str:
        if not self.output_tail:
            return self.message
        tail = self.output_tail.rstrip()
        return f"{self.message}\n--- genai-bench output (last lines) ---\n{tail}"
