"""Issue 34: how far unlearning moves the forgotten value's embedding rows (relative to their norm)."""
import sys
from privgen.diffusion.store import load_model
from privgen.unlearn.target import ForgetTarget
base = load_model(sys.argv[1])
for path in sys.argv[2:]:
    m = load_model(path)
    fa = m.config["unlearning"]["forget_attribute"]
    rows = ForgetTarget.of_attribute(m.conditions, f"{fa['name']}={fa['value']}").forgotten_rows()
    w0, w1 = base.unet.class_embedding.weight.detach(), m.unet.class_embedding.weight.detach()
    rel = ((w1 - w0).norm(dim=1) / w0.norm(dim=1))
    others = [i for i in range(len(w0)) if i not in set(rows.tolist())]
    print(path, f"forgotten rows moved {rel[rows].mean():.4f} of their norm (max {rel[rows].max():.4f}); others {rel[others].mean():.4f}; row norm {w0.norm(dim=1).mean():.1f}")
