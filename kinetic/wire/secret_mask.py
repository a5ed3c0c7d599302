"""How a secret value is hidden wherever a job's text goes: its logs (kinetic.job.masking,
for output arriving in pieces), its result envelope and the messages built from it
(kinetic.wire.payload), the state records, the termination message, the KineticJob."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "********"


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced, longest first (a secret containing another is
    masked whole)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
