"""Masking secret values in a job's output before it reaches the logs.

Output arrives in arbitrary pieces, so a secret may be split across two of them. The masker
holds back the shortest tail that could still be the start of a secret, and releases it
once the next piece shows it is not (or at the end).
"""

from __future__ import annotations

from kinetic.wire.secret_mask import MASK as TEXT_MASK

MASK = TEXT_MASK.encode()


class Masker:
    def __init__(self, secrets: list[str]):
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s.encode() for s in secrets if s}, key=len, reverse=True)
        self._held = b""

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def mask(self, data: bytes) -> bytes:
        """``data`` with every secret replaced (stateless: for whole messages)."""
        for secret in self.secrets:
            data = data.replace(secret, MASK)
        return data

    def _unsafe_tail(self, data: bytes) -> int:
        """Length of the longest suffix of ``data`` that is a proper prefix of a secret."""
        longest = 0
        for secret in self.secrets:
            for n in range(min(len(secret) - 1, len(data)), longest, -1):
                if secret.startswith(data[-n:]):
                    longest = n
                    break
        return longest

    def feed(self, data: bytes) -> bytes:
        """The part of the output seen so far that is safe to write, masked."""
        if not self.secrets:
            return data
        data = self.mask(self._held + data)
        keep = self._unsafe_tail(data)
        self._held = data[len(data) - keep :] if keep else b""
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return self.mask(held)
