"""Issue 34: does each method forget every colour before any attack? Forget rate (share of n samples asked
for the value that show it) at guidance 1 and 3, for a base model and the models unlearned from it."""
import json, sys
from pathlib import Path

from privgen.data import load_images
from privgen.data.attributes import measure_for
from privgen.diffusion.store import load_model
from privgen.eval.intervals import wilson
from privgen.unlearn.evaluate_attribute import forget_rate
from privgen.unlearn.target import ForgetTarget

N = 100
out = {}
for path in sys.argv[1:]:
    model = load_model(path)
    cfg = json.loads((Path(path) / "config.json").read_text())
    rec = cfg.get("unlearning") or {}
    fa = rec.get("forget_attribute")
    values = [f"{fa['name']}={fa['value']}"] if fa else ["colour=red", "colour=green", "colour=blue"]
    ds = load_images(cfg["data"], model.image_size)
    measure = measure_for(ds, "colour")
    for value in values:
        target = ForgetTarget.of_attribute(model.conditions, value)
        row = {}
        for g in (1.0, 3.0):
            hits, n = forget_rate(model.unet, model, target, measure, n=N, guidance_scale=g, num_inference_steps=15)
            row[f"g{g:g}"] = {"rate": hits / n, "ci95": wilson(hits, n), "n": n}
        out[f"{path} {value}"] = row
        print(path, value, {k: round(v["rate"], 3) for k, v in row.items()}, flush=True)
with open("hue_rates.jsonl", "a") as f:
    for k, v in out.items():
        f.write(json.dumps({"model": k, **v}) + "\n")
