"""Small wheels built in the tests, so environments install offline (``--find-links``,
``--no-index``): a pure-Python package ``NAME`` whose module holds ``VALUE`` and any extra
bytes (to make a wheel of a given size)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(directory: Path, name: str, version: str = "1.0", value: str = "",
                requires: list[str] | None = None, padding: int = 0) -> Path:  # fmt: skip
    """Write ``name-version-py3-none-any.whl`` into ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires or [])
    files = {
        f"{module}/__init__.py": f"VALUE = {value or f'{name}-{version}'!r}\n".encode(),
        f"{dist}/METADATA": metadata.encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: kinetic-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if padding:  # incompressible, so the packed environment really is that big
        import os

        files[f"{module}/blob.bin"] = os.urandom(padding)
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        record = []
        for arcname, data in files.items():
            whl.writestr(arcname, data)
            record.append(_record_line(arcname, data))
        record.append(f"{dist}/RECORD,,")
        whl.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path
