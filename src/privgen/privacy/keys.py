"""Pairwise secrets between parties that a relay (the server, the Ray driver) cannot learn.

Two uses: the parties' masks on their per-example squared norms (`privgen.privacy.secagg`) and the PSI row-order
key (`privgen.vfl.psi`). Each participant makes an X25519 key pair from the OS CSPRNG; only public keys travel,
relayed by whoever runs the protocol; two participants derive the same 32-byte secret with HKDF-SHA256 over the
Diffie-Hellman value, bound to a purpose string so one exchange never serves two uses by accident.

Threat model: the relay is honest-but-curious. It forwards public keys unchanged; a relay that substitutes its own
keys (a man in the middle) is outside what this protects against, as in any unauthenticated key agreement.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PUBLIC_KEY_BYTES = 32


class KeyPair:
    """One participant's X25519 key pair; the private half never leaves this object."""

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()  # OS CSPRNG

    @property
    def public(self) -> bytes:
        return self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def shared(self, peer_public: bytes, purpose: str) -> bytes:
        """The 32-byte secret this participant shares with the owner of `peer_public`, for `purpose`."""
        if len(peer_public) != PUBLIC_KEY_BYTES:
            raise ValueError(f"an X25519 public key has {PUBLIC_KEY_BYTES} bytes, got {len(peer_public)}")
        raw = self._private.exchange(X25519PublicKey.from_public_bytes(bytes(peer_public)))
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"privgen:{purpose}".encode()).derive(raw)


def keystream(key: bytes, counter: int, n_bytes: int) -> bytes:
    """n_bytes of ChaCha20 keystream under `key`, nonce = `counter` (one fresh stream per step)."""
    nonce = int(counter).to_bytes(16, "little")
    return Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor().update(bytes(n_bytes))


def seal(key: bytes, plaintext: bytes, purpose: str) -> bytes:
    """Authenticated encryption (ChaCha20-Poly1305) under a pairwise key; a fresh random nonce is prepended."""
    nonce = os.urandom(12)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, purpose.encode())


def open_sealed(key: bytes, sealed: bytes, purpose: str) -> bytes:
    """Inverse of `seal`; a tampered or misaddressed message raises cryptography's InvalidTag."""
    return ChaCha20Poly1305(key).decrypt(sealed[:12], sealed[12:], purpose.encode())
