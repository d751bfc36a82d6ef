from privgen.bench.unlearning_tasks import BenchSettings, bench_eval_steps
from privgen.bench.unlearning import with_data_reference
def settings(c, s):
    return with_data_reference(BenchSettings(data="mnist5k-colour", forget=None, seed=s, recipe="cpu16", aux="retain",
        unlearn_steps=None, unlearn_lr=None, attack_steps=1000, attack_lr=1e-4, attack_batch=64, curve_points=5,
        n_per_class=20, curve_n=50, eval_steps=bench_eval_steps("dpmpp", None), guidance=3.0, device="cpu",
        forget_attribute=f"colour={c}"))
