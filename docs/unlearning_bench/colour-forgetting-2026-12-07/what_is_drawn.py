"""Issue 34: what GA's samples under the forgotten colour are. Of n samples asked for the forgotten value:
the share whose stroke hue measures as that value (the benchmark's forget rate), the share the evaluation
classifier reads as the digit asked for, and the share that are both (a recognisable digit in that colour)."""
import json, sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from privgen.data import load_images
from privgen.data.attributes import measure_for
from privgen.diffusion.sampler import sample_labels
from privgen.diffusion.store import load_model
from privgen.eval import cached_classifier, predict
from privgen.eval.intervals import wilson
from privgen.unlearn.evaluate_attribute import forgotten_grid
from privgen.unlearn.target import ForgetTarget

N = 100
clf, _, _ = cached_classifier("mnist5k-colour", 16, quiet=True)
for path in sys.argv[1:]:
    model = load_model(path)
    cfg = json.loads((Path(path) / "config.json").read_text())
    fa = cfg["unlearning"]["forget_attribute"]
    target = ForgetTarget.of_attribute(model.conditions, f"{fa['name']}={fa['value']}")
    measure = measure_for(load_images(cfg["data"], model.image_size), "colour")
    labels, classes = forgotten_grid(target, N)
    row = {"model": path, "value": fa["value"], "method": cfg["unlearning"]["method"],
           "options": cfg["unlearning"].get("options")}
    for g in (1.0, 3.0):
        images = sample_labels(model, labels, guidance_scale=g, num_inference_steps=15, seed=0).numpy()
        hue = measure(images, classes) == target.value
        digit = predict(clf, images) == classes
        row[f"g{g:g}"] = {k: {"rate": int(v.sum()) / N, "ci95": wilson(int(v.sum()), N)}
                          for k, v in (("hue", hue), ("digit", digit), ("both", hue & digit))}
    print(path, {g: {k: row[g][k]["rate"] for k in row[g]} for g in ("g1", "g3")}, flush=True)
    with open("gated.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
