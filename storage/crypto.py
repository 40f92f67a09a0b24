"""Encryption of personal values at rest: one AES-GCM codec for every storage backend.

A seized server or a copied database file, WAL or backup must give nobody a name, a
position or a note. Each personal value is sealed on its way into a row and opened on its
way out, so the domain never sees ciphertext. A sealed value is text:

    q1.<key id>.<base64url of nonce + ciphertext + tag>

The key id (8 hex digits derived from the key, not the key) says which key sealed it, so
``qorgau rotate-key`` can tell old rows from new ones and resume after a crash. The
table and column are bound in as associated data: a value moved to another column does
not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "q1."
KEY_BYTES = 32
NONCE_BYTES = 12
RECENT = 4096  # opened values remembered (a few hundred kB at most)

# Personal columns, per table, and the type each reads back as: the one place that says
# what is sealed. Every write of these columns goes through Tx._sealed and every read
# through Tx._opened, so a new personal column is one line here. Region keys, states,
# times and ids stay plain: they drive queries and statistics.
PERSONAL: dict[str, dict[str, type]] = {
    "people": {"display_name": str},
    "alerts": {"lat": float, "lon": float, "accuracy_m": float},
    "alert_events": {"detail": str},
    "outbox": {"payload": str},
    "live_shares": {"lat": float, "lon": float, "accuracy_m": float},
    "phones": {"number": str, "code_word": str},
    "sms_out": {"number": str, "text": str},
}


class DataKeyError(Exception):
    """The data key is missing, malformed or not the one this data was sealed with; the
    message is one line for the operator and never contains a key."""


def new_key() -> str:
    """A fresh random data key, as ``qorgau keygen`` prints it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def parse_key(text: str) -> bytes:
    """The 32 key bytes of a base64 key; ValueError (without the value) if it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64; `qorgau keygen` prints a valid key") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"must be {KEY_BYTES} bytes in base64 (it is {len(raw)}); "
                         "`qorgau keygen` prints a valid key")
    return raw


def key_id(key: bytes) -> str:
    """A short public name of a key: which key sealed a value, without revealing it."""
    return hmac.new(key, b"qorgau data key id", hashlib.sha256).hexdigest()[:8]


class Codec:
    """Seals with the current key; opens with it or with any older key it was given (for
    rotation). Reusing one AESGCM object per key keeps a value's cost to microseconds."""

    def __init__(self, key: bytes, older: Iterable[bytes] = ()) -> None:
        self.key_id = key_id(key)
        self._seal_with = AESGCM(key)
        self._keys = {key_id(k): AESGCM(k) for k in older}
        self._keys[self.key_id] = self._seal_with
        self._recent: dict[tuple[str, str], str] = {}
        self._lookup_key = hmac.new(key, b"qorgau lookup key", hashlib.sha256).digest()

    def seal(self, plain: str, where: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        body = nonce + self._seal_with.encrypt(nonce, plain.encode("utf-8"), where.encode())
        return f"{PREFIX}{self.key_id}.{base64.urlsafe_b64encode(body).decode('ascii')}"

    def open(self, sealed: str, where: str) -> str:
        """The plain text; DataKeyError if the value is not sealed, sealed with a key we do
        not have, or tampered with. Never returns the input as if it were plain text.
        Recently opened values are remembered: the same people and alerts are read many
        times a second while an alert is paged, and a sealed value never changes."""
        known = self._recent.get((sealed, where))
        if known is not None:
            return known
        if len(self._recent) >= RECENT:
            self._recent.clear()
        plain = self._open(sealed, where)
        self._recent[(sealed, where)] = plain
        return plain

    def _open(self, sealed: str, where: str) -> str:
        if not isinstance(sealed, str) or not sealed.startswith(PREFIX):
            raise DataKeyError(f"{where}: a value is not encrypted")
        kid, _, body = sealed[len(PREFIX):].partition(".")
        aes = self._keys.get(kid)
        if aes is None:
            raise DataKeyError(f"{where}: a value is sealed with key {kid}, which was not given")
        try:
            raw = base64.urlsafe_b64decode(body)
            return aes.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], where.encode()).decode()
        except (InvalidTag, ValueError, binascii.Error):
            raise DataKeyError(f"{where}: a value does not open with key {kid}") from None

    def lookup_hash(self, plain: str, where: str) -> str:
        """A keyed hash of a value (HMAC-SHA256 under a key derived from the data key), so
        that a row can be found by a personal value (a sender's phone number) without
        opening every row; without the key it reveals nothing, not even across databases."""
        return hmac.new(self._lookup_key, f"{where}\0{plain}".encode(), hashlib.sha256
                        ).hexdigest()

    def sealed_with(self, sealed: str) -> str | None:
        """The key id of a sealed value (None if it is not sealed)."""
        if not sealed.startswith(PREFIX):
            return None
        return sealed[len(PREFIX):].partition(".")[0]

    def plain_size(self, sealed_size: int) -> int:
        """About how long the plain text of a sealed value of this length is (the delivery
        worker sizes bundles by it without opening every row)."""
        body = sealed_size - len(PREFIX) - 9
        return max(0, body * 3 // 4 - NONCE_BYTES - 16)
