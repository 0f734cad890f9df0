"""The zip packages of Office files (.docx, .xlsx): checked before any part of them is inflated."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ingest.errors import LoadError

MAX_UNCOMPRESSED_BYTES = 200 * 2**20
MAX_COMPRESSION_RATIO = 100
# Below this a high ratio is harmless (a short document full of repeated markup).
_RATIO_CHECK_FROM_BYTES = 10 * 2**20


def refuse_bad_archive(path: Path, kind: str) -> None:
    """Raise LoadError when the file at ``path`` is not a complete zip, or would expand like a zip bomb.

    zipfile never inflates a member past the size its header declares, so the declared sizes bound
    what a reader can be made to read. ``kind`` names the format in the message (``.docx``).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as e:
        raise LoadError(f"corrupt {kind}: not a complete zip archive ({e})") from e
    expanded = sum(m.file_size for m in members)
    packed = max(1, sum(m.compress_size for m in members))
    ratio = expanded / packed
    if expanded > MAX_UNCOMPRESSED_BYTES or (expanded > _RATIO_CHECK_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO):
        raise LoadError(f"refused: {kind} expands to {expanded / 2**20:.0f} MB from {packed / 2**20:.1f} MB "
                        f"(ratio {ratio:.0f}:1, zip bomb?)")
