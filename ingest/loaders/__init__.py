"""File loaders, one module per format: a file in, a ``LoadedFile`` of raw lines out.

Every loader is a pure function of the file's bytes (the .doc loader also runs LibreOffice on a
temporary copy). Reasons a file cannot be read are raised as ``LoadError`` with a message a user
can act on; the caller adds the file name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders.csvfile import load_csv
from ingest.loaders.doc import load_doc
from ingest.loaders.docx import load_docx
from ingest.loaders.html import load_html
from ingest.loaders.image import load_image
from ingest.loaders.pdf import load_pdf
from ingest.loaders.text import load_markdown, load_text
from ingest.loaders.xlsx import load_xlsx
from ingest.models import LoadedFile

DEFAULT_MAX_BYTES = 200 * 2**20

_LOADERS: dict[str, Callable[[Path], LoadedFile]] = {
    ".txt": load_text,
    ".md": load_markdown,
    ".docx": load_docx,
    ".pdf": load_pdf,
    ".html": load_html,
    ".htm": load_html,
    ".doc": load_doc,
    ".png": load_image,
    ".jpg": load_image,
    ".jpeg": load_image,
    ".tif": load_image,
    ".tiff": load_image,
    ".bmp": load_image,
    ".xlsx": load_xlsx,
    ".csv": load_csv,
}

SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(_LOADERS)

__all__ = ["DEFAULT_MAX_BYTES", "SUPPORTED_EXTENSIONS", "is_supported", "load_file", "refuse_too_large"]


def is_supported(path: Path) -> bool:
    """True when the file's extension (any case) has a loader."""
    return Path(path).suffix.lower() in _LOADERS


def load_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedFile:
    """Load a file with the loader for its extension (any case).

    Raises:
        LoadError: unsupported type, missing or unreadable, too large, empty, or whatever the
            format's loader refuses (corrupt, encrypted, binary, no text even by OCR...).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise LoadError(
            f"unsupported file type {suffix or '(no extension)'} "
            f"(supported: {' '.join(SUPPORTED_EXTENSIONS)})"
        )
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise LoadError("not a file")
        refuse_too_large(size, max_bytes)
        if size == 0:
            raise LoadError("empty file")
        return loader(path)
    except FileNotFoundError as e:
        raise LoadError("file not found") from e
    except OSError as e:
        raise LoadError(f"cannot read the file: {e.strerror or e}") from e


def refuse_too_large(size: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Raise LoadError for a file of ``size`` bytes over ``max_bytes``."""
    if size > max_bytes:
        raise LoadError(f"too large ({_megabytes(size)} MB > {_megabytes(max_bytes)} MB limit)")


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f}".removesuffix(".0")
