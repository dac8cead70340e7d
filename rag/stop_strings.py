"""A client's stop strings (OpenAI's ``stop``): generation ends once the text contains one, and the text ends
before it (the stop string is not part of the answer)."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from core.llm_backend import Decoding


@dataclass(frozen=True)
class StopStrings:
    """Literal strings, matched case-sensitively in the generated text (never in the prompt)."""

    strings: tuple[str, ...] = ()

    def decoding(self, decoding: Decoding) -> Decoding:
        """``decoding`` whose stop rule also matches any of the strings."""
        if not self.strings:
            return decoding
        literal = "|".join(f"(?-i:{re.escape(s)})" for s in self.strings)
        if decoding.stop is None:
            return replace(decoding, stop=re.compile(literal))
        return replace(decoding, stop=re.compile(f"(?:{decoding.stop.pattern})|{literal}", decoding.stop.flags))

    def cut(self, text: str) -> str:
        """``text`` up to the first stop string in it."""
        found = [i for i in (text.find(s) for s in self.strings) if i >= 0]
        return text[:min(found)] if found else text

    def settled(self, text: str) -> int:
        """How much of ``text`` later text cannot cut: all of it up to a stop string in it (generation ends there),
        else all but a tail that may be the start of one ("So the ans" when "So the answer" is a stop string)."""
        end = len(self.cut(text))
        if end < len(text):
            return end
        tails = [size for stop in self.strings for size in range(1, len(stop)) if text.endswith(stop[:size])]
        return len(text) - max(tails, default=0)
