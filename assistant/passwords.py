"""Salted password hashes: scrypt with its own random salt and parameters in every stored string,
so the parameters can be raised later without invalidating the hashes already stored."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import unicodedata

log = logging.getLogger(__name__)

# scrypt's cost: 32 MiB and about 0.1 s per hash, written into every stored hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32


def scrypt_key(password: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P,
               length: int = KEY_BYTES) -> bytes:
    """The scrypt key of ``password`` (NFC-normalised, UTF-8) with ``salt``."""
    # NFC, so that the same password typed through different input methods gives the same hash.
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    # OpenSSL refuses more than 32 MiB unless told: allow what these parameters need, and a little more.
    maxmem = 128 * r * (n + p + 2) + 2**20
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``: ``scrypt$n$r$p$<salt base64>$<hash base64>``."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = scrypt_key(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, key) of a stored hash.

    Raises:
        ValueError: not a scrypt hash this module wrote, or parameters out of a sane range.
    """
    parts = stored.split("$") if isinstance(stored, str) else []
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt$n$r$p$salt$hash string")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, key = (base64.b64decode(x, validate=True) for x in parts[4:6])
    except (ValueError, binascii.Error) as e:
        raise ValueError(f"unreadable scrypt parameters or base64: {e}") from e
    # Bounds keep a damaged file from asking for more than 1 GiB of memory at a login.
    if not (2 <= n and n & (n - 1) == 0 and 1 <= r and 1 <= p <= 16 and 128 * r * n <= 2**30):
        raise ValueError(f"scrypt parameters out of range (n={n}, r={r}, p={p})")
    if len(salt) < 8 or len(key) < 16:
        raise ValueError("salt or hash too short")
    return n, r, p, salt, key


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a ``hash_password`` string); False for a malformed one."""
    try:
        n, r, p, salt, key = parse_hash(stored)
    except ValueError as e:
        log.warning("a stored password hash cannot be read: %s", e)
        return False
    return hmac.compare_digest(scrypt_key(password, salt, n, r, p, len(key)), key)
