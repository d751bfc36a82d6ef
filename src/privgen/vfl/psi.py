"""Private ID alignment: the parties find the IDs they all hold with elliptic-curve PSI (openmined-psi),
then order them without the server.

Roles per PSI run (openmined-psi, reveal_intersection=True): the *client* blinds its IDs with its own key
and sends them; the *server* answers with the client's points re-blinded under its key plus a setup
message holding its own IDs blinded under its key; the client learns which of its own IDs the server also
holds. Neither sees the other's IDs in the clear. For M parties (docs/vfl.md, "What each participant
learns"):

1. chain: party 1 is the client against party 2, then (its candidate set now X1 ∩ X2) against party 3,
   ..., ending with I = X1 ∩ ... ∩ XM;
2. hand-out: party 1 serves I, and every other party j, as the client with its whole set, learns
   Xj ∩ I = I;
3. order key: party 1 draws a random 256-bit key K for this run; every party makes a fresh X25519 key pair
   (privgen.privacy.keys), the relay swaps public keys between party 1 and each party j, the two derive a
   pairwise key, party 1 seals K under it (ChaCha20-Poly1305) and party j opens it.

No party sends an ID in the clear at any point. Every party then sorts I by HMAC-SHA256 under K, so all
agree on one row order. K is fresh per run and the relay sees only public keys and ciphertexts, so the relay,
or anyone else who is not a party, cannot rebuild the order and link rows to IDs even if it can guess I
(structured IDs, say). The relay is honest-but-curious: one that substitutes its own public keys (a man in
the middle) is outside this protection, as in privgen.privacy.keys.

Messages are bytes relayed by whoever runs the protocol (`align`); under Ray the driver passes object
references from actor to actor and never reads them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any, Callable

import numpy as np
import pandas as pd
from cryptography.exceptions import InvalidTag

from privgen.errors import UserError
from privgen.privacy.keys import KeyPair, open_sealed, seal

FPR = 1e-9  # false-positive rate of the server's setup (RAW structure: exact, the rate only sizes it)
MIN_SHARED = 10  # the same floor as the in-process join
ORDER_KEY_BYTES = 32
ORDER_KEY_PURPOSE = "psi-order-key"


def _psi() -> Any:
    try:
        import private_set_intersection.python as psi
    except ImportError:
        raise UserError("private ID alignment (--align psi) needs openmined-psi: pip install 'privgen[ray]'") from None
    return psi


def id_strings(values: pd.Series) -> list[str]:
    """IDs as the strings both sides hash (numbers as their shortest decimal form: 7 and 7.0 match)."""
    out = []
    for v in values.tolist():
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out.append(str(v))
    return out


def agreed_order(ids: list[str], key: bytes) -> list[str]:
    """The intersection sorted by HMAC-SHA256(key, id): the same list at every party holding the run's key."""
    return sorted(ids, key=lambda i: hmac.new(key, i.encode(), hashlib.sha256).digest())


class PsiParticipant:
    """One party's side of the alignment. It holds its own IDs; what it sends are blinded curve points."""

    def __init__(self, ids: list[str], name: str) -> None:
        if len(set(ids)) != len(ids):
            raise UserError(f"{name}: duplicate IDs; IDs must be unique")
        self.name, self.ids = name, list(ids)
        self.candidates = list(ids)  # the client's running intersection (party 1 in the chain)
        self.order: list[str] | None = None
        self._client: Any = None
        self._request_items: list[str] = []
        self._keys: KeyPair | None = None
        self._order_key: bytes | None = None

    # ---- client role ----
    def request(self, whole_set: bool = False) -> bytes:
        """Blind the candidate IDs (or all own IDs, in the hand-out) under a fresh key."""
        psi = _psi()
        self._client = psi.client.CreateWithNewKey(True)
        self._request_items = list(self.ids if whole_set else self.candidates)
        return self._client.CreateRequest(self._request_items).SerializeToString()

    def receive(self, answer: tuple[bytes, bytes]) -> int:
        """The server's (setup, response): keep the requested IDs the server also holds; return how many."""
        psi = _psi()
        setup, response = psi.ServerSetup(), psi.Response()
        setup.ParseFromString(answer[0])
        response.ParseFromString(answer[1])
        idx = self._client.GetIntersection(setup, response)
        self.candidates = [self._request_items[i] for i in sorted(idx)]
        self._client, self._request_items = None, []
        return len(self.candidates)

    # ---- server role ----
    def serve(self, request: bytes, candidates_only: bool = False) -> tuple[bytes, bytes]:
        """Answer a client's request with this party's IDs (or its current candidates) blinded under a fresh key."""
        psi = _psi()
        req = psi.Request()
        req.ParseFromString(request)
        server = psi.server.CreateWithNewKey(True)
        items = self.candidates if candidates_only else self.ids
        setup = server.CreateSetupMessage(FPR, max(1, len(req.encrypted_elements)), items, psi.DataStructure.RAW)
        return setup.SerializeToString(), server.ProcessRequest(req).SerializeToString()

    # ---- order key ----
    def public_key(self, draw_order_key: bool = False) -> bytes:
        """A fresh key pair for this run (its public half goes to the relay); party 1 also draws the order key."""
        self._keys = KeyPair()
        self._order_key = os.urandom(ORDER_KEY_BYTES) if draw_order_key else None
        return self._keys.public

    def seal_order_key(self, peer_public: bytes) -> bytes:
        """Party 1: the order key sealed for the owner of `peer_public`; the relay cannot open it."""
        assert self._keys is not None and self._order_key is not None, "public_key(draw_order_key=True) first"
        return seal(self._keys.shared(peer_public, ORDER_KEY_PURPOSE), self._order_key, ORDER_KEY_PURPOSE)

    def receive_order_key(self, party1_public: bytes, sealed: bytes) -> None:
        """Party j: open the order key party 1 sealed for it; anything the relay changed fails authentication."""
        assert self._keys is not None, "public_key() first"
        try:
            key = open_sealed(self._keys.shared(party1_public, ORDER_KEY_PURPOSE), sealed, ORDER_KEY_PURPOSE)
        except (InvalidTag, ValueError):
            raise UserError(f"{self.name}: the order key from party 1 failed authentication; the relay altered "
                            "it (or the public keys it relayed)") from None
        if len(key) != ORDER_KEY_BYTES:
            raise UserError(f"{self.name}: the order key from party 1 has {len(key)} bytes, not {ORDER_KEY_BYTES}")
        self._order_key = key

    def finish(self) -> int:
        """Fix the agreed order of the intersection under the run's order key; return its size."""
        if self._order_key is None:
            raise RuntimeError(f"{self.name}: no order key agreed for this run")
        self.order = agreed_order(self.candidates, self._order_key)
        self._keys = None
        return len(self.order)

    def aligned_positions(self) -> np.ndarray:
        """Positions in this party's own ID list of the intersection, in the agreed order."""
        assert self.order is not None, "finish() first"
        where = {i: k for k, i in enumerate(self.ids)}
        return np.array([where[i] for i in self.order], dtype=np.int64)


Call = Callable[..., Any]


def align(n_parties: int, call: Call, get: Callable[[Any], Any], min_shared: int = MIN_SHARED) -> int:
    """Run the chain, the hand-out and the order-key agreement among `n_parties` participants; return the
    intersection size.

    `call(k, method, *args)` invokes a method of participant k and returns its result or a handle to it
    (a Ray object reference); `get(handle)` resolves one. Only sizes (and the key receipts, so a refused key
    is raised here) are resolved: the relayed messages go from one participant to the next unread.
    """
    if n_parties < 2:
        raise UserError("private ID alignment needs at least 2 parties")
    size = 0
    for j in range(1, n_parties):  # chain: party 1's candidates shrink to X1 ∩ ... ∩ Xj
        answer = call(j, "serve", call(0, "request"))
        size = int(get(call(0, "receive", answer)))
    if size < min_shared:
        raise UserError(f"only {size} IDs are shared by all {n_parties} parties (private set intersection; which "
                        f"ones is not shown); need at least {min_shared}: the files must describe the same individuals")
    # hand-out: party j learns Xj ∩ I = I (dispatched together: under Ray the runs overlap)
    received = [call(j, "receive", call(0, "serve", call(j, "request", True), True)) for j in range(1, n_parties)]
    [get(r) for r in received]
    party1_public = call(0, "public_key", True)
    receipts = []
    for j in range(1, n_parties):  # one handle per message, so each stays unread on its way
        sealed = call(0, "seal_order_key", call(j, "public_key"))
        receipts.append(call(j, "receive_order_key", party1_public, sealed))
    [get(r) for r in receipts]
    sizes = [int(get(call(k, "finish"))) for k in range(n_parties)]
    if len(set(sizes)) != 1:
        raise RuntimeError(f"PSI hand-out disagreed on the intersection size: {sizes}")
    return size


def align_local(participants: list[PsiParticipant], min_shared: int = MIN_SHARED,
                record: list[bytes] | None = None) -> int:
    """`align` within one process (tests, timing); `record` collects every relayed message's bytes."""

    def call(k: int, method: str, *args: Any) -> Any:
        out = getattr(participants[k], method)(*args)
        if record is not None and isinstance(out, bytes):
            record.append(out)
        elif record is not None and isinstance(out, (tuple, list)):
            record.extend(m for m in out if isinstance(m, bytes))
        return out

    return align(len(participants), call, lambda x: x, min_shared)
