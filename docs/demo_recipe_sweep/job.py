"""The demo16 warm-up/steps sweep of docs/diffusion.md (run with PRIVGEN_THREADS=1, two jobs side by side).

Sweep job: train demo16 with overrides, then eval generation at g3 (n=30/class). Usage: job.py NAME k=v ..."""
import json, os, subprocess, sys, time
from pathlib import Path
from privgen.diffusion.trainer import train

name, *kv = sys.argv[1:]
over = {}
for p in kv:
    k, v = p.split("=")
    over[k] = float(v) if "." in v or "e" in v else int(v)
root = Path(os.environ.get("SWEEP_OUT", "runs/demo-tune"))  # /work/runs/demo-tune in the measured run
t0 = time.perf_counter()
run = train("mnist5k", root / name, "demo16", seed=0, device="cpu", overwrite=True, quiet=True, **over)
t1 = time.perf_counter()
subprocess.run([sys.executable, "-m", "privgen", "eval", "generation", "--model", str(run.path), "--n-per-class", "30",
                "--guidance-scale", "3", "--out", str(root / (name + "-eval")), "--overwrite", "-q", "--device", "cpu"], check=True)
m = json.loads((root / (name + "-eval") / "metrics.json").read_text())
print(json.dumps({"name": name, "over": over, "train_s": round(t1 - t0, 1), "eval_s": round(time.perf_counter() - t1, 1),
                  **{k: v for k, v in m.items() if not isinstance(v, (dict, list))}}), flush=True)
