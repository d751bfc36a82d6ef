"""Issue 34: the benchmark's evaluation (privgen.unlearn.evaluate_attribute, 20 images per (class, colour),
DPM-Solver++ 15 steps, seed 0, guidance 3) of a model outside the benchmark: retained quality of DiMUM with
fresh rows, to set beside the benchmark's DiMUM and oracle rows. Appends one JSON line per model."""
import json
import sys
from pathlib import Path

from privgen.data.attributes import measure_for
from privgen.diffusion.store import load_model, model_split
from privgen.eval import cached_classifier
from privgen.unlearn.evaluate_attribute import AttributeReal, evaluate_attribute
from privgen.unlearn.target import ForgetTarget

clf = cached_classifier("mnist5k-colour", 16, quiet=True)[0]
for path in sys.argv[2:]:
    model = load_model(path)
    fa = model.config["unlearning"]["forget_attribute"]
    target = ForgetTarget.of_attribute(model.conditions, f"{fa['name']}={fa['value']}")
    split = model_split(model)
    metrics, _ = evaluate_attribute(model, target, measure_for(split.train, target.attribute_name), clf,
                                    AttributeReal.of(clf, split.test, target), 20, (3.0,), 15, 0)
    row = {"model": Path(path).name, **metrics}
    print(json.dumps(row), flush=True)
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps(row) + "\n")
