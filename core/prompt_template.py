"""Prompt templates as component parameters: named text sections, the formatted ones with ``{placeholders}``
(``str.format``; a literal brace is doubled), checked when the component is built so that a bad template fails
there with a sentence, not in the middle of a request."""
from __future__ import annotations

from collections.abc import Mapping
from string import Formatter
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import InvalidInputError

T = TypeVar("T", bound="PromptTemplate")


def placeholder_names(text: str) -> set[str]:
    """The ``{names}`` a format string uses ("" for a positional ``{}``); ValueError when it is malformed."""
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


class PromptTemplate(BaseModel):
    """Subclasses declare ``str`` sections with today's text as the default, and in ``placeholders`` the
    (required, optional) names of each formatted section; a section not listed there is used as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    placeholders: ClassVar[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {}

    def problems(self) -> list[str]:
        """What is wrong with the sections, one sentence each (empty when nothing is)."""
        found = []
        for section, (required, optional) in self.placeholders.items():
            try:
                names = placeholder_names(getattr(self, section))
            except ValueError as error:
                found.append(f"the {section} section is not a valid format string ({error}; write a literal "
                             "brace as {{ or }})")
                continue
            allowed = ", ".join(f"{{{name}}}" for name in required + optional) or "none"
            found += [f"the {section} section uses the unknown placeholder {{{name}}} (allowed: {allowed})"
                      for name in sorted(names - set(required) - set(optional))]
            found += [f"the {section} section must contain {{{name}}}" for name in required
                      if name not in names]
        return found


def parse_template(cls: type[T], template: Mapping[str, Any] | None, what: str, **defaults: str) -> T:
    """``template`` as ``cls``: None keeps every default, a mapping replaces the sections it names
    (``defaults`` replace the class's defaults first); InvalidInputError when a section is unknown, not text,
    or uses a placeholder that is unknown or leaves out a required one."""
    if template is not None and not isinstance(template, Mapping):
        raise InvalidInputError(f"Invalid {what} prompt template: it must map section names "
                                f"({', '.join(cls.model_fields)}) to text.")
    try:
        parsed = cls.model_validate({**defaults, **(template or {})})
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise InvalidInputError(f"Invalid {what} prompt template ({details}); its sections are "
                                f"{', '.join(cls.model_fields)}.") from None
    if problems := parsed.problems():
        raise InvalidInputError(f"Invalid {what} prompt template: {'; '.join(problems)}.")
    return parsed
