"""Private ID alignment (privgen.vfl.psi): the right rows, in one order, and no ID in any message."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("private_set_intersection.python", reason="openmined-psi not installed: pip install 'privgen[ray]'")

from privgen.errors import UserError  # noqa: E402
from privgen.vfl.psi import PsiParticipant, agreed_order, align_local  # noqa: E402


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
    assert parts[0].order == agreed_order(_ids(shared))  # the order depends on the intersection only


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
    assert len(record) == 4 * 3  # 2 chain + 2 hand-out runs, each a request, a setup and a response
    blob = b"".join(record)
    for i in {*parts[0].ids, *parts[1].ids}:
        assert i.encode() not in blob
        assert i.encode("utf-16-le") not in blob
