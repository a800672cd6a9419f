"""One exception family for segmint (layer 0: imports nothing from segmint).

Every error a user can cause is a :class:`SegmintError`. Members also subclass the matching
built-in (``ValueError``, ``KeyError``, ...) so generic ``except ValueError`` code keeps working,
and carry structured fields the CLI and the HTTP API render the same way::

    <what> must be <constraint>. Got <value> instead. Did you mean <x>? (<location>) Hint: <fix>.

Example:
    >>> err = ValidationError("'amount' must be a number. Got '12,3O' instead.",
    ...                       location="orders.csv row 1,204")
    >>> str(err)
    "'amount' must be a number. Got '12,3O' instead. (orders.csv row 1,204)"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "DataError",
    "DefinitionError",
    "DefinitionProblem",
    "EngineMissingError",
    "ForbiddenError",
    "ImportProblem",
    "ImportValidationError",
    "NotFittedError",
    "NotFoundError",
    "SegmintError",
    "SignatureError",
    "UnauthorizedError",
    "ValidationError",
    "WorkspaceError",
    "close_matches",
]


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates close to ``word`` (for "did you mean" hints).

    >>> close_matches("recncy", ["recency", "frequency", "monetary"])
    ['recency', 'frequency']
    """
    cands = list(candidates)
    lowered = {c.lower(): c for c in cands}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


class SegmintError(Exception):
    """Base of every error segmint raises on purpose.

    Attributes:
        message: what was wrong, in one sentence.
        location: where (file, row, column, JSON pointer), if known.
        suggestions: close names the user may have meant.
        hint: how to fix it.
    """

    type_name = "segmint_error"

    def __init__(
        self,
        message: str,
        *,
        location: str | None = None,
        suggestions: Sequence[str] = (),
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.location = location
        self.suggestions = list(suggestions)
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        parts = [self.message]
        if self.suggestions:
            quoted = ", ".join(f"'{s}'" for s in self.suggestions)
            parts.append(f"Did you mean {quoted}?")
        if self.location:
            parts.append(f"({self.location})")
        if self.hint:
            parts.append(f"Hint: {self.hint}")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict:
        """JSON body used by the HTTP API: ``{type, message, location, suggestions}``."""
        return {
            "type": self.type_name,
            "message": self.message,
            "location": self.location,
            "suggestions": self.suggestions,
            "hint": self.hint,
        }


class ValidationError(SegmintError, ValueError):
    """A value or definition does not satisfy a constraint."""

    type_name = "validation_error"


class ConfigError(SegmintError, ValueError):
    """The workspace configuration is invalid."""

    type_name = "config_error"


class DataError(SegmintError, ValueError):
    """Data in the workspace cannot support the requested computation."""

    type_name = "data_error"


class NotFoundError(SegmintError, KeyError):
    """A named thing (workspace, table, segment, customer) does not exist."""

    type_name = "not_found"

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.render()


class WorkspaceError(SegmintError, RuntimeError):
    """The workspace folder or its database is missing, locked or of the wrong version."""

    type_name = "workspace_error"


class EngineMissingError(SegmintError, ImportError):
    """An optional engine or extra is not installed."""

    type_name = "engine_missing"


class NotFittedError(SegmintError, AttributeError):
    """A model was used before ``fit``."""

    type_name = "not_fitted"


class SignatureError(SegmintError, PermissionError):
    """A signed request (a channel webhook) has a missing, malformed or wrong signature."""

    type_name = "invalid_signature"


class UnauthorizedError(SegmintError, PermissionError):
    """A service request carries no API key, or one that is unknown or revoked (HTTP 401)."""

    type_name = "unauthorized"


class ForbiddenError(SegmintError, PermissionError):
    """A service request's API key may not do this, e.g. an ingest key reading (HTTP 403)."""

    type_name = "forbidden"


@dataclass(frozen=True)
class ImportProblem:
    """One problem found while validating an import file.

    ``row`` is the 1-based data row as a spreadsheet user counts it (header = row 1, so the first
    data row is row 2); ``None`` for problems of the whole file or a whole column.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def render(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row:,}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class ImportValidationError(ValidationError):
    """An import was refused and nothing was written; carries every problem found."""

    type_name = "import_validation_error"

    def __init__(self, problems: Sequence[ImportProblem], *, max_shown: int = 20) -> None:
        self.problems = list(problems)
        shown = [p.render() for p in self.problems[:max_shown]]
        more = len(self.problems) - len(shown)
        head = f"Import refused: {len(self.problems)} problem(s) found; nothing was written."
        body = "\n  - " + "\n  - ".join(shown) if shown else ""
        tail = f"\n  … and {more:,} more" if more > 0 else ""
        super().__init__(
            head + body + tail,
            hint="fix the rows above (or map columns with --map FIELD=COLUMN) and import again.",
        )

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["problems"] = [p.__dict__ for p in self.problems]
        return d

    def render(self) -> str:
        # the list ends with a problem that may carry its own hint: put ours on its own line
        return f"{self.message}\nHint: {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class DefinitionProblem:
    """One problem found in a segment definition: where (file and JSON pointer) and what.

    >>> DefinitionProblem("segments.yaml", "/segments/2/where/all/0/field",
    ...     "Segment 'at_risk' refers to unknown field 'recncy'.", ("recency",)).render()
    "Segment 'at_risk' refers to unknown field 'recncy'. Did you mean 'recency'? \
(segments.yaml, /segments/2/where/all/0/field)"
    """

    file: str | None
    pointer: str
    message: str
    suggestions: tuple[str, ...] = ()
    hint: str | None = None

    @property
    def location(self) -> str:
        pointer = self.pointer or "/"
        return f"{self.file}, {pointer}" if self.file else pointer

    def render(self) -> str:
        parts = [self.message]
        if self.suggestions:
            parts.append("Did you mean " + ", ".join(f"'{s}'" for s in self.suggestions) + "?")
        parts.append(f"({self.location})")
        if self.hint:
            parts.append(f"Hint: {self.hint}")
        return " ".join(parts)


class DefinitionError(ValidationError):
    """Segment definitions were refused; carries every problem found, not only the first.

    With one problem it reads like any other error (message, suggestions, location, hint).
    """

    type_name = "definition_error"

    def __init__(self, problems: Sequence[DefinitionProblem], *, max_shown: int = 50) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            p = self.problems[0]
            super().__init__(p.message, location=p.location, suggestions=p.suggestions, hint=p.hint)
            return
        shown = [p.render() for p in self.problems[:max_shown]]
        more = len(self.problems) - len(shown)
        head = f"{len(self.problems)} problems in segment definitions:"
        tail = f"\n  … and {more:,} more" if more > 0 else ""
        super().__init__(head + "\n  - " + "\n  - ".join(shown) + tail)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["problems"] = [
            {
                "file": p.file,
                "pointer": p.pointer,
                "message": p.message,
                "suggestions": list(p.suggestions),
                "hint": p.hint,
            }
            for p in self.problems
        ]
        return d
