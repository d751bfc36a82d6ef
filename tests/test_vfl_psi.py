"""Private ID alignment (privgen.vfl.psi): the right rows, in one order, and no ID in any message."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

pytest.importorskip("private_set_intersection.python", reason="openmined-psi not installed: pip install 'privgen[ray]'")

from privgen.errors import UserError  # noqa: E402
from privgen.vfl.psi import PsiParticipant, agreed_order, align, align_local  # noqa: E402


def _ids(values) -> list[str]:
    return [f"person-{v:06d}" for v in values]


@pytest.mark.parametrize("m", [2, 3])
def test_overlapping_shuffled_sets_align_the_same_rows(m: int) -> None:
    rng = np.random.default_rng(0)
    shared = rng.choice(100_000, 40, replace=False)
    sets = []
    for k in range(m):  # every party: the shared IDs, its own others, in its own shuffled order
        own = rng.choice(np.arange(100_000 + 1000 * k, 100_000 + 1000 * k + 30), 30, replace=False)
        sets.append(rng.permutation(np.concatenate([shared, own])))
    parts = [PsiParticipant(_ids(s), f"party{k + 1}") for k, s in enumerate(sets)]
    assert align_local(parts) == 40
    rows = [np.asarray(sets[k])[p.aligned_positions()] for k, p in enumerate(parts)]
    for r in rows[1:]:
        np.testing.assert_array_equal(r, rows[0])  # row i is the same person at every party
    assert sorted(rows[0].tolist()) == sorted(shared.tolist())
    assert [p.order for p in parts[1:]] == [parts[0].order] * (m - 1)
    assert parts[0].order == agreed_order(_ids(shared), parts[0]._order_key)  # the run's agreed key orders I


def test_only_the_intersection_of_all_parties_survives() -> None:
    a, b, c = _ids(range(0, 60)), _ids(range(20, 80)), _ids(range(30, 100))
    parts = [PsiParticipant(x, f"p{k}") for k, x in enumerate((a, b, c))]
    assert align_local(parts) == 30  # 30..59
    assert sorted(parts[2].order) == _ids(range(30, 60))


def test_disjoint_sets_are_refused_with_the_count_only() -> None:
    parts = [PsiParticipant(_ids(range(0, 50)), "a"), PsiParticipant(_ids(range(45, 95)), "b")]
    with pytest.raises(UserError, match=r"only 5 IDs are shared by all 2 parties .*not shown") as e:
        align_local(parts)
    assert "person-" not in str(e.value)
    with pytest.raises(UserError, match="only 0 IDs"):
        align_local([PsiParticipant(_ids(range(0, 50)), "a"), PsiParticipant(_ids(range(50, 99)), "b")])


def test_duplicate_ids_are_refused_naming_the_party() -> None:
    with pytest.raises(UserError, match="party2: duplicate IDs"):
        PsiParticipant(["x", "y", "x"], "party2")


def test_no_id_appears_in_any_relayed_message() -> None:
    shared = _ids(range(0, 20))
    parts = [PsiParticipant(shared + _ids(range(500, 520)), "a"), PsiParticipant(_ids(range(900, 910)) + shared, "b"),
             PsiParticipant(shared[::-1], "c")]
    record: list[bytes] = []
    assert align_local(parts, record=record) == 20
    # 2 chain + 2 hand-out runs (a request, a setup and a response each), then 3 public keys and 2 sealed keys
    assert len(record) == 4 * 3 + 3 + 2
    blob = b"".join(record)
    for i in {*parts[0].ids, *parts[1].ids}:
        assert i.encode() not in blob
        assert i.encode("utf-16-le") not in blob


def _shared_parts(n_extra: int = 0) -> list[PsiParticipant]:
    shared = _ids(range(1000, 1040))
    return [PsiParticipant(shared + _ids(range(k * 100, k * 100 + n_extra)), f"party{k + 1}") for k in range(3)]


def _old_order_key(ids: list[str]) -> bytes:
    h = hashlib.sha256(b"privgen-psi-order\0")
    for i in sorted(ids):
        h.update(i.encode() + b"\0")
    return h.digest()


def test_the_order_key_is_random_and_never_crosses_the_relay() -> None:
    parts = _shared_parts(n_extra=15)
    record: list[bytes] = []
    assert align_local(parts, record=record) == 40
    keys = {p._order_key for p in parts}
    assert len(keys) == 1  # every party holds party 1's key
    key = keys.pop()
    assert isinstance(key, bytes) and len(key) == 32
    assert key != _old_order_key(parts[0].order)  # not derivable from the intersection
    blob = b"".join(record)
    assert key not in blob


def test_two_runs_on_one_intersection_order_rows_differently() -> None:
    first, second = _shared_parts(), _shared_parts()
    assert align_local(first) == align_local(second) == 40
    for parts in (first, second):
        assert [p.order for p in parts[1:]] == [parts[0].order] * 2  # one order within a run
    assert sorted(first[0].order) == sorted(second[0].order)
    assert first[0].order != second[0].order  # 40! orders: equal by chance with negligible probability
    assert first[0]._order_key != second[0]._order_key


def test_a_tampered_order_key_is_refused_naming_the_party() -> None:
    parts = _shared_parts()

    def call(k: int, method: str, *args):
        out = getattr(parts[k], method)(*args)
        if method == "seal_order_key":
            out = out[:-1] + bytes([out[-1] ^ 1])
        return out

    with pytest.raises(UserError, match="party2: the order key from party 1 failed authentication; the relay altered"):
        align(3, call, lambda x: x)
