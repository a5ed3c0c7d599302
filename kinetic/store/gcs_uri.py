"""``gs://bucket/prefix`` URIs: parsing and GCS bucket naming rules.

Checked before anything is created, so a store URI that can never work is refused with
the reason, as a SpecError for the ``store`` option.
"""

from __future__ import annotations

import os
import re

from kinetic.model.errors import SpecError

FORM = "gs://BUCKET[/PREFIX]"

_BUCKET_CHARS = re.compile(r"^[a-z0-9._-]+$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_BAD_PREFIX_CHARS = re.compile(r"[\x00-\x1f\x7f#?*\[\]]")


def _bucket_problem(name: str) -> str | None:
    """Why ``name`` breaks the GCS bucket naming rules, or None."""
    if name != name.lower():
        return "has uppercase letters: bucket names are lowercase"
    if not _BUCKET_CHARS.match(name):
        return "may only contain lowercase letters, digits, '-', '_' and '.'"
    limit = 222 if "." in name else 63
    if not 3 <= len(name) <= limit:
        return f"must be 3-{limit} characters long"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must start and end with a letter or digit"
    if any(not part or len(part) > 63 for part in name.split(".")):
        return "has an empty or over-long (>63) dot-separated part"
    if _IPV4.match(name):
        return "cannot be an IP address"
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        return "cannot start with 'goog' or contain 'google'"
    return None


def parse_gs_uri(text: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix`` -> ("bucket", "some/prefix"); SpecError if malformed."""
    raw = os.fspath(text).strip()
    if not raw.startswith("gs://"):
        raise SpecError("store", text, f"a GCS store URI looks like {FORM}")
    bucket, _, prefix = raw[len("gs://") :].partition("/")
    if not bucket:
        raise SpecError("store", text, f"the URI names no bucket; expected {FORM}")
    if problem := _bucket_problem(bucket):
        raise SpecError("store", text, f"bucket name {bucket!r} {problem}")
    prefix = prefix.strip("/")
    if prefix:
        if any(part in ("", ".", "..") for part in prefix.split("/")):
            raise SpecError("store", text, "the prefix may not contain empty, '.' or '..' parts")
        if _BAD_PREFIX_CHARS.search(prefix):
            raise SpecError(
                "store", text, "the prefix may not contain control characters or # ? * [ ]"
            )
        if len(prefix.encode()) > 512:
            raise SpecError("store", text, "the prefix is longer than 512 bytes")
    return bucket, prefix
