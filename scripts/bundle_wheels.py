"""The wheels of an offline bundle: the lock's pins for a target platform and Python, fetched and checked
against the lock's hashes by pip, and a report naming every dependency that has no wheel for that target.

pip decides what fits (``pip download --only-binary=:all: --platform ... --python-version ...``); this module
only reads the lock, chooses the target's tags, and reads pip's own output to tell the user what is missing.
"""

from __future__ import annotations

import email.parser
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version


class BundleError(Exception):
    """A bundle cannot be made; the message says why and what to do."""


# The oldest glibc of each manylinux architecture (PEP 600): x86 reaches back to manylinux1, the rest to 2014.
_OLDEST_GLIBC = {"x86_64": 5, "i686": 5}
_OLDEST_GLIBC_OTHER = 17
_LEGACY_ALIASES = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
_TAG = re.compile(r"^(?:manylinux_(?P<major>\d+)_(?P<minor>\d+)|(?P<legacy>manylinux(?:2014|2010|1)))_(?P<arch>\w+)$")
_LEGACY_GLIBC = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
# pip reads ``--python-version 3.11`` as 3.11.0 and would refuse a wheel that needs 3.11.5 (soupsieve does).
# The bundle is for a minor version, so pip is told the newest micro release, and the micro release the
# wheels really need is read from their own Requires-Python afterwards (``python_floor``).
_ANY_MICRO = 99


@dataclass(frozen=True)
class Target:
    """Where a bundle will run: a manylinux platform (an architecture and a glibc) and a CPython minor version."""

    platform: str
    arch: str
    glibc: int
    python: tuple[int, int]

    @classmethod
    def parse(cls, platform: str, python: str) -> Target:
        """``manylinux_2_28_x86_64`` / ``manylinux2014_aarch64`` and ``3.11``.

        Raises:
            BundleError: Not a manylinux tag, or not a ``MAJOR.MINOR`` version.
        """
        match = _TAG.match(platform)
        if not match or (match["major"] and match["major"] != "2"):
            raise BundleError(
                f"--platform {platform!r} is not a manylinux platform tag; bundles are for Linux with glibc, "
                "e.g. manylinux_2_28_x86_64, manylinux_2_28_aarch64, manylinux2014_aarch64")
        glibc = _LEGACY_GLIBC[match["legacy"]] if match["legacy"] else int(match["minor"])
        if not re.fullmatch(r"3\.\d+", python):
            raise BundleError(f"--python-version {python!r} must be a CPython minor version such as 3.11")
        major, minor = (int(part) for part in python.split("."))
        return cls(platform, match["arch"], glibc, (major, minor))

    @property
    def python_version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def abi(self) -> str:
        return f"cp{self.python[0]}{self.python[1]}"

    def pip_platforms(self) -> list[str]:
        """Every manylinux tag a machine with this glibc and architecture runs, newest first (pip takes
        ``--platform`` literally: ``manylinux_2_28_x86_64`` alone would refuse a ``manylinux2014`` wheel)."""
        oldest = _OLDEST_GLIBC.get(self.arch, _OLDEST_GLIBC_OTHER)
        tags = []
        for minor in range(self.glibc, oldest - 1, -1):
            tags.append(f"manylinux_2_{minor}_{self.arch}")
            if minor in _LEGACY_ALIASES:
                tags.append(f"{_LEGACY_ALIASES[minor]}_{self.arch}")
        return tags

    def pip_options(self) -> list[str]:
        """``pip download`` options that fetch wheels for this target only."""
        options = ["--only-binary=:all:", "--implementation", "cp", "--abi", self.abi,
                   "--python-version", f"{self.python_version}.{_ANY_MICRO}"]
        for tag in self.pip_platforms():
            options += ["--platform", tag]
        return options

    def marker_environment(self) -> dict[str, str]:
        """The values of PEP 508 markers on the target (pip would evaluate them on this machine)."""
        return {"implementation_name": "cpython", "platform_python_implementation": "CPython",
                "platform_machine": self.arch, "platform_system": "Linux", "sys_platform": "linux",
                "os_name": "posix", "python_version": self.python_version,
                "python_full_version": f"{self.python_version}.{_ANY_MICRO}"}

    def describe(self) -> str:
        """In words, for messages."""
        return (f"CPython {self.python_version} on Linux {self.arch} with glibc 2.{self.glibc} or later "
                f"({self.platform})")


@dataclass(frozen=True)
class Pin:
    """One locked dependency: an exact version, the hashes of its files, and a marker saying where it applies."""

    name: str
    version: str
    hashes: tuple[str, ...]
    marker: Marker | None = None

    def applies_to(self, target: Target) -> bool:
        return self.marker is None or self.marker.evaluate(target.marker_environment())

    def requirement_line(self) -> str:
        """The pin as a line of a pip requirements file (no marker: the caller chose it for the target)."""
        return f"{self.name}=={self.version}" + "".join(f" --hash={h}" for h in self.hashes)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def read_lock(path: Path) -> list[Pin]:
    """The pins of a hashed lock written by pip-compile (``requirements.lock``).

    Raises:
        BundleError: A line is not an exact pin with hashes.
    """
    logical, current = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    pins = []
    for line in logical:
        words = line.split()
        hashes = tuple(word.split("=", 1)[1] for word in words if word.startswith("--hash="))
        requirement = Requirement(" ".join(word for word in words if not word.startswith("--")))
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or not hashes:
            raise BundleError(f"{path}: {line[:80]!r} is not an exact pin with hashes; regenerate it with ./scripts/lock.sh")
        pins.append(Pin(canonicalize_name(requirement.name), specifiers[0].version, hashes, requirement.marker))
    return pins


@dataclass
class Missing:
    """A locked dependency with no wheel for the target, and what pip saw instead."""

    pin: Pin
    reason: str
    platforms: list[str] = field(default_factory=list)  # platform tags of this version's wheels for the target's Python
    wheelless: bool = False  # pip saw no wheel of this version at all (an sdist may still build one)


@dataclass
class WheelSet:
    """What ``fetch_wheels`` found: a wheel file per pin, the pins built from their sdists, the pins missing."""

    files: dict[str, Path] = field(default_factory=dict)
    built: list[Pin] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)


def fetch_wheels(pins: list[Pin], target: Target, dest: Path, scratch: Path, pip_args: list[str]) -> WheelSet:
    """Download the wheel of every pin for ``target`` into ``dest``, each checked against the lock's hashes.

    A pin with no wheel at all (only an sdist, like jieba) is built here and kept if the wheel is pure
    Python. Every other pin with no wheel for the target is reported in ``missing``, all of them, not
    just the first.

    Raises:
        BundleError: pip failed for another reason (a hash mismatch, no network); its output is in the message.
    """
    dest.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    result = WheelSet()
    for name in _download(pins, target, dest, scratch, pip_args):
        pin = next(p for p in pins if p.name == name)
        missing = diagnose(pin, target, scratch, pip_args)
        if not missing.wheelless:
            result.missing.append(missing)
            continue
        wheel = _build_pure_wheel(pin, scratch, pip_args)
        if wheel is None:
            result.missing.append(Missing(pin, "only a source distribution, which does not build a pure-Python wheel"))
            continue
        shutil.move(wheel, dest / wheel.name)
        result.built.append(pin)
    by_name = {canonicalize_name(parse_wheel_filename(path.name)[0]): path for path in dest.glob("*.whl")}
    absent = {m.pin.name for m in result.missing}
    for pin in pins:
        if pin.name in by_name:
            result.files[pin.name] = by_name[pin.name]
        elif pin.name not in absent:
            raise BundleError(f"pip reported success but left no wheel of {pin} in {dest}")
    return result


def _pip(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True)


def _requirements_file(pins: list[Pin], path: Path) -> Path:
    path.write_text("".join(pin.requirement_line() + "\n" for pin in pins), encoding="utf-8")
    return path


def _download(pins: list[Pin], target: Target, dest: Path, scratch: Path, pip_args: list[str]) -> list[str]:
    """Download what pip can; the names of the pins it cannot find. pip stops at the first pin it cannot
    find, naming it: that pin is set aside and the rest tried again. pip works through a requirements file
    in order, so the pins before the one it stopped at were found and are fetched in a pass of their own."""
    if not pins:
        return []
    requirements = _requirements_file(pins, scratch / "wanted.txt")
    done = _pip("download", "--no-deps", "--require-hashes", "--progress-bar", "off", *target.pip_options(),
                *pip_args, "--dest", str(dest), "--requirement", str(requirements))
    if done.returncode == 0:
        return []
    name = culprit(done.stdout + done.stderr)
    index = next((i for i, pin in enumerate(pins) if pin.name == name), None)
    if index is None:
        raise BundleError("pip download failed:\n" + _tail(done.stdout + done.stderr))
    return ([name] + _download(pins[index + 1:], target, dest, scratch, pip_args)
            + _download(pins[:index], target, dest, scratch, pip_args))


_NOT_FOUND = re.compile(r"(?:No matching distribution found for|Cannot install|"
                        r"Could not find a version that satisfies the requirement) ([A-Za-z0-9][A-Za-z0-9._-]*)")


def culprit(pip_output: str) -> str | None:
    """The (canonical) name of the requirement pip could not find, from its error output."""
    match = _NOT_FOUND.search(pip_output)
    return canonicalize_name(match[1]) if match else None


_SKIPPED = re.compile(r"Skipping link: none of the wheel's tags \(([^)]*)\) are compatible[^:]*: (\S+)")
_OTHER_PYTHON = re.compile(r"(\S+) Requires-Python (\S+?)(?:;|$)")


def diagnose(pin: Pin, target: Target, scratch: Path, pip_args: list[str]) -> Missing:
    """Why pip finds no wheel of ``pin`` for ``target``: ask it again, verbosely, and read what it skipped."""
    requirements = _requirements_file([pin], scratch / f"{pin.name}.txt")
    done = _pip("download", "-vv", "--no-deps", "--require-hashes", "--progress-bar", "off", *target.pip_options(),
                *pip_args, "--dest", str(scratch / "probe"), "--requirement", str(requirements))
    return missing_from_pip_output(pin, target, done.stdout + done.stderr)


def missing_from_pip_output(pin: Pin, target: Target, pip_output: str) -> Missing:
    """What ``pip download -vv`` says about one pin it could not fetch: the platforms that this very version
    has wheels for (for the target's Python), or the Python it needs."""
    platforms, other_pythons = set(), set()
    for _tags, link in _SKIPPED.findall(pip_output):
        filename = unquote(link.split("#", 1)[0].rsplit("/", 1)[-1])
        try:
            name, version, _build, tags = parse_wheel_filename(filename)
        except ValueError:
            continue
        if canonicalize_name(name) != pin.name or version != Version(pin.version):
            continue
        for tag in tags:
            if _runs_on_python(tag, target):
                platforms.add(tag.platform)
            else:
                other_pythons.add(tag.interpreter)
    for line in pip_output.splitlines():
        if "require a different python version" in line:
            for version, needs in _OTHER_PYTHON.findall(line.split(":", 1)[1]):
                if version == pin.version:
                    return Missing(pin, f"needs Python {needs}")
    if platforms:
        return Missing(pin, f"no wheel for {target.platform}", sorted(platforms))
    if other_pythons:
        return Missing(pin, f"no wheel for CPython {target.python_version}; wheels of it exist for: "
                            + ", ".join(sorted(other_pythons)))
    return Missing(pin, "no wheel of this version at the indexes and --find-links pip was given", wheelless=True)


def _runs_on_python(tag, target: Target) -> bool:
    if tag.interpreter.startswith("py3") or tag.interpreter == "py2.py3":
        return True
    if tag.abi == "abi3":
        return tag.interpreter.startswith("cp3") and int(tag.interpreter[3:] or 0) <= target.python[1]
    return tag.interpreter == target.abi


def _build_pure_wheel(pin: Pin, scratch: Path, pip_args: list[str]) -> Path | None:
    """Build the wheel of a pin that has only an sdist (checked against the lock's hash); None unless pure Python."""
    out = scratch / "built" / pin.name
    requirements = _requirements_file([pin], scratch / f"{pin.name}-sdist.txt")
    done = _pip("wheel", "--no-deps", "--require-hashes", "--no-binary", pin.name, "--progress-bar", "off",
                *pip_args, "--wheel-dir", str(out), "--requirement", str(requirements))
    wheels = list(out.glob("*.whl")) if done.returncode == 0 else []
    if len(wheels) != 1:
        return None
    tags = parse_wheel_filename(wheels[0].name)[3]
    return wheels[0] if all(tag.abi == "none" and tag.platform == "any" for tag in tags) else None


def missing_report(missing: list[Missing], target: Target, total: int) -> str:
    """The message for a target some dependencies have no wheel for: every one, by name and version."""
    verb = "has" if len(missing) == 1 else "have"
    lines = [f"{len(missing)} of the {total} locked dependencies {verb} no wheel for {target.describe()}:"]
    width = max(len(str(m.pin)) for m in missing)
    for m in sorted(missing, key=lambda m: m.pin.name):
        lines.append(f"  {m.pin!s:<{width}}  {m.reason}{_elsewhere(m.platforms, target)}")
    lines += _newer_glibc_hint(missing, target)
    lines.append("A dependency with no wheel for this target can come from elsewhere: put its wheel in a folder, "
                 "lock its hash (./scripts/lock.sh --find-links DIR) and bundle with --find-links DIR.")
    lines.append("Nothing was written.")
    return "\n".join(lines)


def _elsewhere(platforms: list[str], target: Target) -> str:
    """Where the wheels of a missing pin do run: the same machine with a newer glibc, or other machines."""
    if not platforms:
        return ""
    same = [tag for tag in platforms if _glibc_of(tag) is not None and tag.endswith("_" + target.arch)]
    if same:
        return "; it has wheels for " + ", ".join(same)
    kinds = {re.sub(r"^(?:many|musl)linux_?\d*_\d*_?|^manylinux(?:2014|2010|1)_", "", tag) for tag in platforms
             if "linux" in tag}
    kinds |= {"macOS" for tag in platforms if tag.startswith("macosx")}
    kinds |= {"Windows" for tag in platforms if tag.startswith("win")}
    return "; it has wheels for other machines only: " + ", ".join(sorted(kinds, key=str.lower))


def _newer_glibc_hint(missing: list[Missing], target: Target) -> list[str]:
    """Which newer glibc of the same architecture has wheels for the missing pins, and for which not."""
    needed, uncovered = 0, []
    for m in missing:
        levels = [_glibc_of(tag) for tag in m.platforms if tag.endswith("_" + target.arch)]
        levels = [level for level in levels if level is not None and level > target.glibc]
        if levels:
            needed = max(needed, min(levels))
        else:
            uncovered.append(str(m.pin))
    if not needed:
        return []
    platform = f"--platform manylinux_2_{needed}_{target.arch}"
    if not uncovered:
        return [f"All of them have wheels for {platform}: a bundle for it runs on machines with glibc 2.{needed} or later."]
    but = ", ".join(uncovered)
    return [f"With {platform} (machines with glibc 2.{needed} or later) all of them would have wheels but {but}."]


def _glibc_of(platform_tag: str) -> int | None:
    match = re.match(r"^manylinux_2_(\d+)_|^(manylinux(?:2014|2010|1))_", platform_tag)
    if not match:
        return None
    return int(match[1]) if match[1] else _LEGACY_GLIBC[match[2]]


def glibc_floor(wheels: list[Path], target: Target) -> int:
    """The oldest glibc every wheel runs on (a wheel tagged for several levels needs only the lowest)."""
    floor = 0
    for wheel in wheels:
        levels = [_glibc_of(tag.platform) for tag in parse_wheel_filename(wheel.name)[3]]
        levels = [level for level in levels if level is not None and level <= target.glibc]
        if levels:
            floor = max(floor, min(levels))
    return floor


def python_floor(wheels: list[Path], target: Target) -> str:
    """The oldest micro release of the target's Python that every wheel's Requires-Python accepts.

    Raises:
        BundleError: No micro release of that Python satisfies them all.
    """
    specifiers = SpecifierSet()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
            metadata = email.parser.HeaderParser().parsestr(archive.read(name).decode("utf-8"))
        if metadata.get("Requires-Python"):
            specifiers &= SpecifierSet(metadata["Requires-Python"].replace(" ", ""))
    for micro in range(_ANY_MICRO + 1):
        version = f"{target.python_version}.{micro}"
        if specifiers.contains(version, prereleases=True):
            return version
    raise BundleError(f"the wheels need Python {specifiers}, which no CPython {target.python_version} release satisfies")


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _tail(text: str, lines: int = 25) -> str:
    kept = [line for line in text.splitlines() if "is ignored: it is neither a file nor a directory" not in line]
    return "\n".join(kept[-lines:])
