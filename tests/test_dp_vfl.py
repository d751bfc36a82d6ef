"""DP training of VFL models: clipping, noise, sampling, what the paper mode touches, bad inputs, resume."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from privgen.data.tabular import Span
from privgen.privacy import mechanisms as mech
from privgen.privacy.config import DPConfig
from privgen.privacy.secret import OsRandom
from privgen.vfl.config import GanConfig
from privgen.vfl.models import VFLGAN, Centralized
from privgen.vfl.nets import SIZE_PRESETS
from privgen.vfl.trainer import PoissonSchedule, SubsetSchedule, train
from conftest import assert_user_error
from test_vfl_cli import write_parties

TINY = SIZE_PRESETS["tiny"]
CFG = GanConfig(batch_size=16)


def _parts(n: int = 64, seed: int = 0) -> tuple[list[torch.Tensor], list[list[Span]]]:
    g = torch.Generator().manual_seed(seed)
    return ([torch.randn(n, 4, generator=g), torch.randn(n, 3, generator=g)],
            [[Span(0, 4, "numeric")], [Span(0, 3, "numeric")]])


def _critic_params(model: VFLGAN) -> dict[str, torch.Tensor]:
    out = {}
    for p in model.parties:
        for part, mod in (("bottom", p.bottom), ("head", p.head)):
            out.update({f"{p.name}.{part}.{k}": v for k, v in mod.named_parameters()})
    out.update({f"server.{k}": v for k, v in model.server.critic.named_parameters()})
    return out


def _noiseless_clipped_sum(model: VFLGAN, idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """B·(fake term) + Σ_i c_i g_i of one sound critic step with σ = 0, B = 2, no optimiser step."""
    for opt in model.optimizers().values():
        opt.step = lambda *a, **k: None  # type: ignore[method-assign]
    torch.manual_seed(0)
    model.critic_step(idx, 123, torch.full((len(idx), 1), 0.5), partners=torch.arange(len(idx)) % 2)
    return {k: v.grad.clone() * model.dp.expected_batch for k, v in _critic_params(model).items()}


def test_sound_clipping_bounds_each_example_in_every_part() -> None:
    """Replacing one real row by itself ×1000 moves the noiseless update by at most 2C jointly (replace-one:
    its clipped contribution goes from one vector of norm ≤ C to another), and so in every part (each
    party's D_Ck and D_pk, the server's D_S); without clipping the same change moves it by far more."""
    clip = 0.05
    parts, spans = _parts()
    idx = torch.arange(8)
    dp = DPConfig("sound", sigma=0.0, clip=clip, sample_rate=0.25, expected_batch=2)
    base = VFLGAN(parts, spans, TINY, CFG, dp=dp)
    bumped = copy.deepcopy(base)
    for p in bumped.parties:
        p.x = p.x.clone()
        p.x[0] *= 1000.0
    a, b = _noiseless_clipped_sum(copy.deepcopy(base), idx), _noiseless_clipped_sum(bumped, idx)
    diffs = {k: (a[k] - b[k]).pow(2).sum() for k in a}
    joint = float(sum(diffs.values()).sqrt())
    assert 0 < joint <= 2 * clip * (1 + 1e-5)
    groups = {}
    for k, d in diffs.items():
        groups.setdefault(".".join(k.split(".")[:2]) if not k.startswith("server") else "server", []).append(d)
    assert set(groups) == {"party1.bottom", "party1.head", "party2.bottom", "party2.head", "server"}
    for name, ds in groups.items():
        assert float(sum(ds).sqrt()) <= 2 * clip * (1 + 1e-5), name
    unclipped = dataclass_replace(dp, clip=1e12)
    u0 = VFLGAN(parts, spans, TINY, CFG, dp=unclipped)
    u1 = copy.deepcopy(u0)
    for p in u1.parties:
        p.x = p.x.clone()
        p.x[0] *= 1000.0
    ua, ub = _noiseless_clipped_sum(u0, idx), _noiseless_clipped_sum(u1, idx)
    assert float(sum((ua[k] - ub[k]).pow(2).sum() for k in ua).sqrt()) > 100 * clip


def dataclass_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def test_each_clipped_example_has_joint_norm_at_most_c() -> None:
    sq = [torch.tensor([4.0, 0.01, 100.0]), torch.tensor([5.0, 0.0, 0.0])]  # party, server squared norms
    f = mech.clip_factors(sq, clip=1.0)
    norms = torch.stack(sq).sum(0).sqrt() * f
    assert torch.allclose(norms, torch.tensor([1.0, 0.1, 1.0]))
    assert f[1] == 1.0  # an example inside the ball is not scaled


def test_paper_noise_has_the_configured_std() -> None:
    gen = OsRandom()
    clip, sigma = 1.5 / 64, 0.8
    out = mech.paper_privatise(torch.zeros(300, 300), clip, sigma, gen)
    assert float(out.std()) == pytest.approx(2 * clip * sigma, rel=0.01)  # 90k draws: std error ≈ 0.25%
    assert abs(float(out.mean())) < 3 * 2 * clip * sigma / 300
    big = torch.full((10, 10), 5.0)  # Frobenius norm 50 > C: clipped to C before the noise
    clipped = mech.paper_privatise(big, clip, 0.0, gen)
    assert float(clipped.norm()) == pytest.approx(clip, rel=1e-5)


def test_sound_noise_has_the_configured_std() -> None:
    out = mech.noisy_mean({"w": torch.zeros(200, 200)}, sigma=1.3, clip=0.5, expected_batch=10, source=OsRandom())["w"]
    assert float(out.std()) == pytest.approx(1.3 * 0.5 / 10, rel=0.015)


def test_the_os_sampler_is_standard_normal_and_uniform() -> None:
    """The CSPRNG-backed draws have the distributions the accountant assumes (KS tests at 1e-3)."""
    from scipy import stats

    src = OsRandom()
    assert stats.kstest(src.normal((50_000,), torch.float64).numpy(), "norm").pvalue > 1e-3
    assert stats.kstest(src.uniform(50_000).numpy(), "uniform").pvalue > 1e-3
    counts = np.bincount(src.integers(60_000, 6).numpy(), minlength=6)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_sound_mode_samples_poisson_batches() -> None:
    n, b = 400, 20
    sched = PoissonSchedule(n, b, seed=1)
    sizes, hits = [], torch.zeros(n)
    for _ in range(2000):
        idx = sched.rows()
        assert len(set(idx.tolist())) == len(idx)
        sizes.append(len(idx))
        hits[idx] += 1
    sizes = np.array(sizes)
    q = b / n
    assert sizes.mean() == pytest.approx(b, rel=0.02)
    assert sizes.var() == pytest.approx(n * q * (1 - q), rel=0.1)  # binomial, not fixed-size batches
    assert float(hits.mean() / 2000) == pytest.approx(q, rel=0.02)
    # and the sound model trains on it: the rows sent vary in number from step to step
    parts, spans = _parts(n=128)
    model = VFLGAN(parts, spans, TINY, CFG, dp=DPConfig("sound", 1.0, 1.0, 16 / 128, 16))
    train(model, 128, 3, seed=0, quiet=True)
    rows = [r.shape[0] for r in model.transport.records if r.tag == "rows" and r.receiver == "party1"]
    assert len(rows) == 15 and len(set(rows)) > 1
    tags = {(r.kind, r.tag) for r in model.transport.records}
    assert {("control", "sq_norms"), ("control", "clip_factors"), ("control", "partners")} <= tags
    assert {r.kind for r in model.transport.records} <= {"control", "features", "feature_grad"}


def test_paper_mode_subsets_are_fixed_size_without_replacement() -> None:
    sched = SubsetSchedule(100, 10, seed=0)
    draws = [sched.rows() for _ in range(50)]
    assert all(len(d) == 10 and len(set(d.tolist())) == 10 for d in draws)
    assert len({tuple(sorted(d.tolist())) for d in draws}) == 50  # fresh subsets, not an epoch partition


@pytest.mark.parametrize("model_cls", [VFLGAN, Centralized])
def test_paper_mode_touches_exactly_the_first_layers(model_cls) -> None:
    """One critic step with the paper's clip+noise vs the same step with neither (same state, same rows):
    only the first linear layer of each bottom critic differs, and that layer has no bias."""
    parts, spans = _parts()
    dp = DPConfig("paper", sigma=1.0, clip=1.5 / 16, sample_rate=0.25, expected_batch=16)
    torch.manual_seed(0)
    a = model_cls(parts, spans, TINY, CFG, dp=dp)
    b = copy.deepcopy(a)
    for p in (b.parties if model_cls is VFLGAN else [b.pool]):
        p.dp = dataclass_replace(dp, sigma=0.0, clip=1e12)
    for m in (a, b):
        torch.manual_seed(1)
        m.critic_step(torch.arange(16), 5, torch.rand(16, 1, generator=torch.Generator().manual_seed(2)))
    changed = set()
    for name, mod in a.modules().items():
        other = b.modules()[name]
        assert [k for k, _ in mod.named_parameters()] == [k for k, _ in other.named_parameters()]
        for (k, x), (_, y) in zip(mod.named_parameters(), other.named_parameters()):
            if not torch.equal(x, y):
                changed.add(f"{name}.{k}")
    owners = [p.name for p in (a.parties if model_cls is VFLGAN else [a.pool])]
    assert changed == {f"{o}.bottom.0.weight" for o in owners}
    for o in (a.parties if model_cls is VFLGAN else [a.pool]):
        assert o.bottom[0].bias is None and o.bottom[2].bias is not None


# ---- the CLI: bad inputs (one line, exit 2, nothing written), metrics, resume ----

SCHEMA = {"n": 48, "columns": [{"name": "age", "kind": "numeric", "min": 18, "max": 80, "integer": True},
                      {"name": "colour", "kind": "categorical", "categories": ["red", "green", "blue"]},
                      {"name": "income", "kind": "numeric", "min": 0, "max": 100},
                      {"name": "owner", "kind": "categorical", "categories": ["yes", "no"]}]}


def _base(tmp_path: Path, n: int = 60) -> list[str]:
    a, b = write_parties(tmp_path / "d", n=n)
    return ["vfl", "train", "--party-file", str(a), "--party-file", str(b), "--id-column", "id",
            "--size", "tiny", "--batch-size", "16", "--device", "cpu", "--quiet"]


def _schema(tmp_path: Path, doc: dict = SCHEMA) -> str:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _bad_schema_cols(doc):
    return {"columns": doc["columns"][:3]}


def _bad_schema_cats(doc):
    cols = copy.deepcopy(doc["columns"])
    cols[1]["categories"] = ["red", "green"]
    return {"columns": cols}


@pytest.mark.parametrize("extra,needle", [
    (["--dp", "paper", "--epsilon", "0"], "--epsilon must be a positive"),
    (["--dp", "paper", "--epsilon", "-1"], "--epsilon must be a positive"),
    (["--dp", "paper", "--epsilon", "1", "--delta", "0"], "--delta must be in (0, 1)"),
    (["--dp", "paper", "--epsilon", "1", "--delta", "1"], "--delta must be in (0, 1)"),
    (["--dp", "paper", "--sigma", "0"], "--sigma must be a positive"),
    (["--dp", "paper", "--sigma", "1", "--epsilon", "1"], "exactly one of --epsilon"),
    (["--dp", "paper"], "exactly one of --epsilon"),
    (["--dp", "paper", "--epsilon", "0.01", "--iterations", "400"], "smallest reachable ε is"),
    (["--dp", "sound", "--sigma", "1"], "--dp sound needs a public schema"),
    (["--dp", "sound", "--sigma", "1", "--model-type", "vertigan"], "--dp applies to vflgan and centralized"),
    (["--dp", "paper", "--sigma", "1", "--model-type", "vertigan"], "--dp applies to vflgan and centralized"),
    (["--dp", "maybe", "--sigma", "1"], "--dp 'maybe' is unknown"),
    (["--epsilon", "1"], "need --dp paper or --dp sound"),
    (["--dp", "sound", "--sigma", "1", "SCHEMA_COLS"], "does not match the data"),
    (["--dp", "sound", "--sigma", "1", "SCHEMA_CATS"], "categories the schema"),
    (["--dp", "sound", "--sigma", "1", "SCHEMA_NO_N"], "needs a public row count N"),
    (["--dp", "sound", "--sigma", "1", "--impute", "SCHEMA"], "--impute fills gaps with the private rows'"),
    (["--dp", "paper", "--sigma", "1", "--n-public", "100"], "--n-public sets the public row count"),
    (["--dp", "sound", "--sigma", "1", "--n-public", "8", "SCHEMA"], "--n-public 8 is smaller than the batch 16"),
])
def test_dp_bad_inputs(extra, needle, tmp_path, cli) -> None:
    args = list(extra)
    if "SCHEMA_COLS" in args:
        args[args.index("SCHEMA_COLS"):] = ["--schema", _schema(tmp_path, _bad_schema_cols(SCHEMA))]
    if "SCHEMA_CATS" in args:
        args[args.index("SCHEMA_CATS"):] = ["--schema", _schema(tmp_path, _bad_schema_cats(SCHEMA))]
    if "SCHEMA_NO_N" in args:
        args[args.index("SCHEMA_NO_N"):] = ["--schema", _schema(tmp_path, {"columns": SCHEMA["columns"]})]
    if "SCHEMA" in args:
        args[args.index("SCHEMA"):] = ["--schema", _schema(tmp_path)]
    if "--iterations" not in args:
        args += ["--iterations", "2"]
    out = tmp_path / "run"
    r = cli(*_base(tmp_path), *args, "--out", out)
    assert_user_error(r, needle)
    assert not out.exists()


def test_delta_above_one_over_n_warns(tmp_path, cli) -> None:
    r = cli(*_base(tmp_path), "--dp", "paper", "--sigma", "1", "--delta", "0.1", "--iterations", "1",
            "--out", tmp_path / "run")
    assert r.code == 0, r.err
    assert "warning: δ = 0.1 is not below 1/N" in r.err


def test_rows_outside_the_schema_are_clipped_with_a_warning(tmp_path, cli) -> None:
    doc = copy.deepcopy(SCHEMA)
    doc["columns"][0]["max"] = 50  # ages go up to 79 in the data
    r = cli(*_base(tmp_path), "--dp", "sound", "--sigma", "1", "--iterations", "1", "--schema", _schema(tmp_path, doc),
            "--out", tmp_path / "run")
    assert r.code == 0, r.err
    assert "values of column 'age' lie outside the schema's [18, 50]; clipped" in r.err
    layout = json.loads((tmp_path / "run" / "layout.json").read_text())
    age = layout["encoders"][0][0]
    assert (age["mean"], age["scale"]) == (34.0, 16.0)  # from the schema, not from the rows


@pytest.mark.parametrize("mode", ["paper", "sound"])
def test_dp_run_metrics_and_eval(mode, tmp_path, cli) -> None:
    out = tmp_path / "run"
    r = cli(*_base(tmp_path), "--dp", mode, "--epsilon", "8", "--iterations", "2", "--schema", _schema(tmp_path),
            "--out", out)
    assert r.code == 0, r.err
    m = json.loads((out / "metrics.json").read_text())["dp"]
    assert m["mode"] == mode and m["epsilon"] <= 8 and m["epsilon"] == pytest.approx(8, rel=1e-3)
    assert m["steps"] == 10 and m["sample_rate"] == pytest.approx(16 / 48) and m["delta"] == 1e-5
    assert m["conversion"] == "improved" and m["sigma"] > 0 and m["not_covered"]
    assert m["sampling"] == ("poisson" if mode == "sound" else "without-replacement")
    assert m["clip_norm"] == pytest.approx(1.5 / 16 if mode == "paper" else 1.0)
    assert "Not covered" in (out / "report.md").read_text()
    r = cli("eval", "synthetic", "--model", out, "--out", tmp_path / "ev", "--n", "30")
    assert r.code == 0, r.err
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert ev["dp_mode"] == mode and ev["dp_epsilon"] == m["epsilon"] and "utility" in ev


def test_classic_conversion_is_recorded(tmp_path, cli) -> None:
    out = tmp_path / "run"
    r = cli(*_base(tmp_path), "--dp", "paper", "--sigma", "1", "--conversion", "classic", "--iterations", "2",
            "--out", out)
    assert r.code == 0, r.err
    m = json.loads((out / "metrics.json").read_text())["dp"]
    from privgen.privacy.accountant import epsilon_for

    assert m["conversion"] == "classic"
    assert m["epsilon"] == pytest.approx(epsilon_for(1.0, 16 / 48, 10, 1e-5, "without-replacement", "classic").epsilon)


@pytest.mark.parametrize("mode,model", [("paper", "vflgan"), ("sound", "vflgan"), ("sound", "centralized")])
def test_dp_run_resumes_with_fresh_secret_draws(mode, model, tmp_path, cli) -> None:
    """A DP run resumes from its checkpoint and its accountant counts every planned step, but it does not
    replay: the checkpoint holds no state of the noise or the sampling (there is none: they come from the
    OS CSPRNG), so the resumed weights differ from an uninterrupted run's."""
    from safetensors.torch import load_file

    base = [*_base(tmp_path), "--model", model, "--dp", mode, "--sigma", "1.2", "--schema", _schema(tmp_path)]
    assert cli(*base, "--iterations", "4", "--out", tmp_path / "whole").code == 0
    assert cli(*base, "--iterations", "2", "--out", tmp_path / "split").code == 0
    (tmp_path / "split" / "metrics.json").unlink()
    r = cli(*base, "--iterations", "4", "--out", tmp_path / "split")
    assert r.code == 0, r.err
    whole, split = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("whole", "split"))
    assert split["resumed_from_iteration"] == 2
    assert split["dp"]["epsilon"] == whole["dp"]["epsilon"] and split["dp"]["steps"] == 20
    ck = load_file(tmp_path / "split" / "checkpoint.safetensors")
    assert int(ck["state.dp_steps"]) == 20
    assert not any(k.startswith(("state.noise.", "state.stream.")) for k in ck)
    name = "pooled.bottom.safetensors" if model == "centralized" else "party1.bottom.safetensors"
    x, y = load_file(tmp_path / "whole" / name), load_file(tmp_path / "split" / name)
    assert not torch.equal(x["0.weight"], y["0.weight"])


def test_adult_ships_a_public_schema_and_sound_mode_uses_it() -> None:
    from privgen.vfl.sources import data_spec, load_vertical

    spec = {**data_spec("adult", 3, max_rows=200), "schema": "builtin:adult"}
    data = load_vertical(spec)
    codecs = {c.name: c for e in data.layout.encoders for c in e.columns}
    assert (codecs["age"].mean, codecs["age"].scale) == (53.5, 36.5)  # [17, 90] -> [-1, 1]
    assert len(codecs["native_country"].categories) == 41 and len(codecs["education"].categories) == 16
    x = np.concatenate(data.train, axis=1)
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_schema_template_command(tmp_path, cli) -> None:
    a, b = write_parties(tmp_path / "d")
    out = tmp_path / "schema.json"
    r = cli("vfl", "schema", "--party-file", a, "--party-file", b, "--id-column", "id", "--out", out)
    assert r.code == 0, r.err
    assert "TEMPLATE" in r.out
    doc = json.loads(out.read_text())
    assert [c["name"] for c in doc["columns"]] == ["age", "colour", "income", "owner"]
    assert doc["columns"][1]["categories"] == ["blue", "green", "red"] and "TEMPLATE" in doc["source"]
    assert_user_error(cli("vfl", "schema", "--party-file", a, "--party-file", b, "--id-column", "id", "--out", out),
                      "exists")
    # the template holds the private rows' own bounds: a DP run refuses it until it is edited
    train = ["vfl", "train", "--party-file", a, "--party-file", b, "--id-column", "id", "--size", "tiny",
             "--batch-size", "16", "--iterations", "1", "--quiet", "--dp", "sound", "--sigma", "1"]
    assert_user_error(cli(*train, "--schema", out, "--out", tmp_path / "run"), "is the unedited template")
    assert not (tmp_path / "run").exists()
    del doc["template"]
    doc["source"], doc["n"] = "edited: bounds from the data dictionary", 48
    out.write_text(json.dumps(doc))
    assert cli(*train, "--schema", out, "--out", tmp_path / "run").code == 0


def _reference_party_row_loss(bottom, head, penalty, lam_loc, lam_gp):
    """The per-row loss of `mech.party_per_example`, written for torch.func (vmap over grad): the
    reference the factored per-example gradients are checked against, example by example."""
    from torch.func import functional_call, grad

    def unit(g):
        return (g.norm() - 1.0) ** 2

    def loss(pb, ph, x, xh, gr, gh):
        f = functional_call(bottom, pb, (x[None],))[0]
        fh = functional_call(bottom, pb, (xh[None],))[0]
        out = -lam_loc * functional_call(head, ph, (f[None],)).sum() + (gr * f).sum() + (gh * fh).sum()
        if penalty == "split":
            gx = grad(lambda v: functional_call(bottom, pb, (v[None],)).sum())(xh)
            gf = grad(lambda v: functional_call(head, ph, (v[None],)).sum())(fh)
            gp = unit(gx) + unit(gf)
        else:
            gp = unit(grad(lambda v: functional_call(head, ph, (functional_call(bottom, pb, (v[None],)),)).sum())(xh))
        return out + lam_gp * gp

    return loss


def _params(m):
    return {k: v.detach() for k, v in m.named_parameters()}


@pytest.mark.parametrize("penalty", ["split", "whole"])
@pytest.mark.parametrize("hidden", [(8, 6), (8, 7, 6)])
def test_factored_per_example_gradients_match_torch_func_row_by_row(penalty, hidden) -> None:
    """Every example's gradient (real term, the server's feature-gradient terms, the penalty through a
    double backward), its squared norm and the clipped sum match torch.func's vmap(grad) per row."""
    from torch.func import grad, vmap

    from privgen.vfl.nets import bottom_critic, score_head

    torch.manual_seed(0)
    bottom, head = bottom_critic(5, hidden, first_bias=False), score_head(hidden[-1], 4)
    x, xh = torch.randn(7, 5), torch.randn(7, 5)
    gr, gh = torch.randn(7, hidden[-1]), torch.randn(7, hidden[-1])
    per = mech.party_per_example(bottom, head, penalty, 0.7, 10.0, x, xh, gr, gh)
    ref = vmap(grad(_reference_party_row_loss(bottom, head, penalty, 0.7, 10.0), argnums=(0, 1)),
               in_dims=(None, None, 0, 0, 0, 0))(_params(bottom), _params(head), x, xh, gr, gh)
    for got, want in zip(per, ref):
        dense = got.dense()
        assert set(dense) == set(want)
        for name in want:
            torch.testing.assert_close(dense[name], want[name], rtol=1e-4, atol=1e-5)
    want_sq = sum(g.reshape(7, -1).pow(2).sum(1) for group in ref for g in group.values())
    torch.testing.assert_close(mech.squared_norms(per), want_sq, rtol=1e-4, atol=1e-5)
    c = torch.rand(7)
    for got, want in zip(per, ref):
        summed = got.weighted_sum(c)
        for name, g in want.items():
            torch.testing.assert_close(summed[name], (c.reshape(-1, *[1] * (g.dim() - 1)) * g).sum(0),
                                       rtol=1e-4, atol=1e-5)


def test_factored_server_gradients_match_torch_func_row_by_row() -> None:
    from torch.func import functional_call, grad, vmap

    from privgen.vfl.nets import score_head

    torch.manual_seed(1)
    critic = score_head(6, 5)

    def row_loss(ps, r, h):
        gh = grad(lambda v: functional_call(critic, ps, (v[None],)).sum())(h)
        return -functional_call(critic, ps, (r[None],)).sum() + 10.0 * (gh.norm() - 1.0) ** 2

    r, h = torch.randn(9, 6), torch.randn(9, 6)
    per, g_r, g_h = mech.server_per_example(critic, 10.0, r, h)
    ref_p, ref_r, ref_h = vmap(grad(row_loss, argnums=(0, 1, 2)), in_dims=(None, 0, 0))(_params(critic), r, h)
    dense = per.dense()
    for name in ref_p:
        torch.testing.assert_close(dense[name], ref_p[name], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g_r, ref_r, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g_h, ref_h, rtol=1e-4, atol=1e-5)


def test_an_empty_poisson_batch_has_zero_gradients_of_every_shape() -> None:
    from privgen.vfl.nets import bottom_critic, score_head

    bottom, head = bottom_critic(5, (8, 6)), score_head(6)
    per = mech.party_per_example(bottom, head, "split", 0.7, 10.0, torch.zeros(0, 5), torch.zeros(0, 5),
                                 torch.zeros(0, 6), torch.zeros(0, 6))
    assert mech.squared_norms(per).shape == (0,)
    for group, module in zip(per, (bottom, head)):
        summed = group.weighted_sum(torch.zeros(0))
        assert {k: v.shape for k, v in summed.items()} == {k: v.shape for k, v in module.named_parameters()}
        assert all(float(v.abs().sum()) == 0.0 for v in summed.values())


def test_the_per_example_form_refuses_layers_that_couple_rows() -> None:
    from torch import nn

    bottom = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6))
    with pytest.raises(TypeError, match="BatchNorm1d"):
        mech.party_per_example(bottom, nn.Sequential(nn.Linear(6, 1)), "split", 1.0, 10.0, torch.randn(3, 5),
                               torch.randn(3, 5), torch.zeros(3, 6), torch.zeros(3, 6))


def test_sound_run_long_enough_to_log_writes_its_report(tmp_path, cli) -> None:
    """50 iterations: the training log has entries (times only: no real-data statistic, no batch size) and the
    report says why it has no health plot, and still shows what the run publishes."""
    out = tmp_path / "run"
    r = cli(*_base(tmp_path), "--model-type", "centralized", "--dp", "sound", "--sigma", "1", "--iterations", "50",
            "--schema", _schema(tmp_path), "--out", out)
    assert r.code == 0, r.err
    entries = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    logged = [e for e in entries if "iteration" in e]
    assert logged and set(logged[-1]) == {"time", "iteration", "seconds"}
    report = (out / "report.md").read_text()
    assert not (out / "loss.png").exists() and "logs no statistic of the real rows" in report
    assert "Not covered" in report and "What it publishes" in report


def test_dp_bench_rows_in_parallel_workers_give_the_sequential_numbers(tmp_path) -> None:
    """`bench vfl --dp --workers N` only moves rows into processes: the non-DP runs give the sequential
    numbers (FD to 1e-6: its matrix square root runs with the worker's BLAS thread count, which moves the last
    digits); the DP runs' secret draws differ from run to run by design, their budgets do not. Each row is
    the mean ± sd of its seeds' runs."""
    from privgen.bench.vfl_dp import run_dp_bench

    kw = dict(scenarios=["adult"], epsilons=[10.0], iterations=2, size="tiny", quiet=True, timing_iterations=1, seeds=2)
    one = run_dp_bench(tmp_path / "one", workers=1, **kw)
    two = run_dp_bench(tmp_path / "two", workers=2, **kw)
    rows = [json.loads((p.parent / "metrics.json").read_text())["scenarios"]["adult"]["rows"] for p in (one, two)]
    assert list(rows[0]) == ["none", "paper_eps10", "sound_eps10"] == list(rows[1])
    for key in rows[0]:
        assert rows[0][key]["seeds"] == [0, 1]
        for metric in ("epsilon", "sigma"):
            assert rows[0][key][metric] == rows[1][key][metric], (key, metric)
        runs = rows[0][key]["runs"]
        util = [runs[s]["utility"] for s in ("0", "1")]
        assert rows[0][key]["utility"] == pytest.approx(np.mean(util))
        assert rows[0][key]["utility_sd"] == pytest.approx(np.std(util, ddof=1))
    for s in ("0", "1"):
        a, b = rows[0]["none"]["runs"][s], rows[1]["none"]["runs"][s]
        assert (a["association_error"], a["utility"]) == (b["association_error"], b["utility"])
        assert a["fd"] == pytest.approx(b["fd"], rel=1e-6)
    assert "add/remove (guarantee)" in one.read_text() and "replace-one (claim only)" in one.read_text()
