"""Issue 34: each baseline's forgetting of a colour before any attack, scored by the library's forget rate
(privgen.unlearn.evaluate_attribute.forgotten_attribute_samples: 100 samples asked for the colour, spread over
the classes, DPM-Solver++ 15 steps, seed 0) at guidance 1 and 3. Appends one JSON line per model."""
import json
import sys
from pathlib import Path

from privgen.data.attributes import measure_for
from privgen.diffusion.store import load_model, model_split
from privgen.eval import cached_classifier
from privgen.eval.intervals import wilson
from privgen.unlearn.evaluate_attribute import forgotten_attribute_samples
from privgen.unlearn.target import ForgetTarget

N = 100
out = Path(sys.argv[1])
clf = cached_classifier("mnist5k-colour", 16, quiet=True)[0]
for path in sys.argv[2:]:
    model = load_model(path)
    cfg = json.loads((Path(path) / "config.json").read_text())
    fa = cfg["unlearning"]["forget_attribute"]
    target = ForgetTarget.of_attribute(model.conditions, f"{fa['name']}={fa['value']}")
    measure = measure_for(model_split(model).train, target.attribute_name)
    row = {"model": Path(path).name, "method": cfg["unlearning"]["method"], "value": fa["value"],
           "seed": cfg["unlearning"].get("seed", cfg.get("seed")), "options": cfg["unlearning"].get("options"), "n": N}
    for g in (1.0, 3.0):
        r = forgotten_attribute_samples(model.unet, model, clf, target, measure, n=N, guidance_scale=g,
                                        real_forgotten=None, num_inference_steps=15, seed=0)
        k = round(r["forget_acc"] * N)
        row[f"g{g:g}"] = {"forget_rate": r["forget_acc"], "forget_rate_ci": wilson(k, N),
                          "measure_rate": r["measure_rate"], "confidence": r["confidence"]}
    print(json.dumps(row), flush=True)
    with out.open("a") as f:
        f.write(json.dumps(row) + "\n")
