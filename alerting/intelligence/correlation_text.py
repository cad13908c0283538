"""Message templates: variable tokens masked so that "disk 91% on db-3" and "disk 97% on db-7"
read the same, and a similarity between two templates.

Masking is drain3's (the log-template miner's masker, with our instructions); similarity is
rapidfuzz's normalised Indel ratio on the masked text.
"""

from __future__ import annotations

from functools import lru_cache

from drain3.masking import LogMasker, MaskingInstruction  # type: ignore[import-untyped]
from rapidfuzz import fuzz, process

#: Order matters: the more specific patterns run first so an IP is not masked as numbers.
_INSTRUCTIONS = [
    MaskingInstruction(
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "ID"
    ),
    MaskingInstruction(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "IP"),
    # Host and pod names: a word followed by suffixes with digits (db-3, api-7f9c-x2).
    MaskingInstruction(r"\b[A-Za-z][A-Za-z]*(?:[-_.](?=[A-Za-z]*\d)\w+)+\b", "HOST"),
    MaskingInstruction(r"\b(?:0x)?[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b", "HEX"),
    MaskingInstruction(r"\b(?:0x)?[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\d[0-9a-fA-F]*\b", "HEX"),
    MaskingInstruction(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|d)\b", "DURATION"),
    MaskingInstruction(r"[-+]?\b\d+(?:\.\d+)?%?", "NUM"),
]
_MASKER = LogMasker(_INSTRUCTIONS, "<", ">")

#: Messages longer than this are compared on their start only (characters).
MAX_TEMPLATE_CHARS = 300


@lru_cache(maxsize=8192)
def message_template(message: str) -> str:
    """The message with variable tokens masked, whitespace collapsed."""
    masked: str = _MASKER.mask(" ".join(message.split()[:80]))
    return masked[:MAX_TEMPLATE_CHARS]


def best_template_similarity(template: str, templates: list[str]) -> tuple[float, str | None]:
    """The highest similarity (0-1) of ``template`` to one of ``templates``, and that one."""
    if not templates:
        return 0.0, None
    if template in templates:
        return 1.0, template
    found = process.extractOne(template, templates, scorer=fuzz.ratio)
    if found is None:
        return 0.0, None
    return float(found[1]) / 100.0, str(found[0])
