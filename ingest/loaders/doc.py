"""Legacy Word .doc files: converted to .docx by LibreOffice, when it is installed."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import zipfile
from pathlib import Path

from ingest.errors import LoadError
from ingest.loaders.docx import read_docx
from ingest.models import LoadedFile

logger = logging.getLogger(__name__)

CONVERT_TIMEOUT_SECONDS = 120
NEEDS_LIBREOFFICE = (
    "legacy .doc needs LibreOffice: install it (apt-get install libreoffice-writer) "
    "or save the file as .docx"
)


def load_doc(path: Path) -> LoadedFile:
    """Load a .doc file through a LibreOffice conversion to .docx (format "doc").

    A ".doc" that is in fact a .docx (a zip, as some systems name their exports) is read
    directly, without LibreOffice. LibreOffice runs headless with a throw-away profile, so the
    user's own profile is never touched, and is stopped after two minutes.

    Raises:
        LoadError: LibreOffice missing, conversion failed or timed out, or what the .docx
            loader raises for the converted file.
    """
    if zipfile.is_zipfile(path):
        return read_docx(path, format="doc")
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        raise LoadError(NEEDS_LIBREOFFICE)
    with tempfile.TemporaryDirectory(prefix="xunshi-doc-") as tmp:
        converted = _convert(office, path.resolve(), Path(tmp))
        return read_docx(converted, format="doc")


def _convert(office: str, source: Path, workdir: Path) -> Path:
    outdir = workdir / "out"
    profile = (workdir / "profile").as_uri()
    command = [office, f"-env:UserInstallation={profile}", "--headless", "--norestore",
               "--convert-to", "docx", "--outdir", str(outdir), str(source)]
    # Its own session, so that a timeout stops soffice.bin and not only the launcher script.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=CONVERT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as e:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise LoadError(
            f"LibreOffice did not convert the .doc within {CONVERT_TIMEOUT_SECONDS} s: "
            "save the file as .docx"
        ) from e
    converted = outdir / f"{source.stem}.docx"
    if not converted.is_file():
        detail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [
            f"exit code {process.returncode}"]
        raise LoadError(f"LibreOffice could not convert the .doc ({detail[0]}): "
                        "check that it opens in Word, or save it as .docx")
    logger.debug("converted %s with LibreOffice", source.name)
    return converted
