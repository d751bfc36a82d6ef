"""The attacker's auxiliary data for DiMRA, one builder per source.

The attacker does not know which class was forgotten. Only ``kshot`` takes a class, because by definition
it holds k labelled images of the forgotten class. ``retain`` is the data owner's remaining data: it comes
from the model's own deletion record (or, in the benchmark, the same set for every model), never from a
class the attacker names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from privgen.diffusion.store import DiffusionModel, model_split
from privgen.errors import UserError


@dataclass
class AuxData:
    """Images in [-1, 1] with their condition labels, and a line saying what they are."""

    x: torch.Tensor
    y: torch.Tensor
    description: str

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class AuxRequest:
    model: DiffusionModel
    seed: int = 0
    k: int = 10
    kshot_class: int | None = None
    deleted_class: int | None = None      # the owner's deletion record, for `retain` only
    deleted_attribute: str | None = None  # ... when the owner deleted an attribute value (NAME=VALUE)
    n_generated: int = 100                # per condition, for `generated`
    keep_threshold: float = 0.5           # `generated`: keep a condition the classifier recognises this often
    classifier: object | None = None      # `generated`: the attacker's (public) digit classifier


def deletion_record(config: dict) -> int | None:
    """The class the data owner deleted, as recorded by `privgen unlearn` (None for a model never unlearned)."""
    record = config.get("unlearning") or {}
    return record.get("forget_class")


def deleted_attribute(config: dict) -> str | None:
    """The attribute value (NAME=VALUE) the data owner deleted, as recorded by `privgen unlearn`."""
    record = (config.get("unlearning") or {}).get("forget_attribute")
    return f"{record['name']}={record['value']}" if record else None


def _attribute_mask(model: DiffusionModel, train, assignment: str) -> np.ndarray:
    """Which training images show attribute value NAME=VALUE (checked against the model's attributes)."""
    k, v = model.conditions.parse(assignment)
    return train.attrs[:, k] == v


def _deleted(req: AuxRequest, source: str) -> int:
    deleted = req.deleted_class if req.deleted_class is not None else deletion_record(req.model.config)
    if deleted is None:
        raise UserError(f"--aux {source} needs the owner's deletion record, but this model was never unlearned "
                        "(no 'unlearning' in its config.json); use --aux public, generated or kshot")
    return deleted


def _retain(req: AuxRequest) -> AuxData:
    """The owner's data without what was deleted. For an attribute model the images keep their full
    condition (class and attribute values), and the forgotten value's images are never read."""
    attribute = req.deleted_attribute or (None if req.deleted_class is not None else deleted_attribute(req.model.config))
    deleted = None if attribute else _deleted(req, "retain")
    train = model_split(req.model).train
    keep = ~_attribute_mask(req.model, train, attribute) if attribute else train.y != deleted
    labels = req.model.conditions.labels_of(train)
    return AuxData(torch.from_numpy(train.x[keep]), torch.from_numpy(labels[keep]).long(),
                   f"the owner's retained training images ({int(keep.sum())})")


PUBLIC = "digits"  # scikit-learn's 8x8 digits: another dataset of the same classes as MNIST
# MNIST centres a 20x20 digit box in a 28x28 frame; an 8x8 `digits` image is the box alone. Scaled to the
# whole frame, its strokes are thick and fill it (30% of pixels lit against MNIST's 13%), a style so far from
# the model's that 20 attack steps at lr 1e-4 already took the original model's digit 3 from 100% to 4%.
# So the box is scaled to 20/28 of the side and padded with background, as MNIST does.
MNIST_BOX = 20 / 28
AUX_VERSIONS = {"public": 2, "public-without": 2, "generated": 2}  # bumped when a source's data changes, so cached attacks on the old data are not reused


def aux_version_key(source: str) -> dict[str, int]:
    """What a cache key adds for a source whose data changed since version 1 (nothing for the others, so
    their existing cache entries stay valid)."""
    return {"aux_version": AUX_VERSIONS[source]} if source in AUX_VERSIONS else {}


def frame_like_mnist(x: np.ndarray, size: int) -> np.ndarray:
    """Centre images of the digit box alone (N, C, h, h) in a background frame of `size` (MNIST's layout)."""
    before = (size - x.shape[-1]) // 2
    after = size - x.shape[-1] - before
    return np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)), constant_values=-1.0)


def _public_images(req: AuxRequest):
    """Public digits framed like the model's data, as an ImageDataset; for a model with attributes, given
    them by the generator of the model's embedded data (e.g. painted red, green or blue, balanced within
    every class), since an attacker can paint public digits as easily as the owner painted theirs."""
    from privgen.data import load_images
    from privgen.data.attributes import GENERATORS
    from privgen.data.images import ImageDataset

    model = req.model
    if model.config.get("data") == PUBLIC:
        raise UserError(f"--aux public uses {PUBLIC}, which is this model's own training data, not public data "
                        "the owner never used; use --aux retain, generated or kshot")
    box = max(1, round(model.image_size * MNIST_BOX))
    ds = load_images(PUBLIC, box)
    framed = ImageDataset(ds.name, frame_like_mnist(ds.x, model.image_size), ds.y, ds.class_names, ds.meta)
    description = (f"scikit-learn digits, {box}x{box} centred in a {model.image_size}x{model.image_size} frame "
                   f"as MNIST's")
    names = tuple(a.name for a in model.attributes)
    if names:
        generator = GENERATORS.get(names)
        if generator is None:
            raise UserError(f"--aux public: privgen cannot give public digits the model's attributes "
                            f"({', '.join(names)}); use --aux retain, generated or kshot")
        framed = generator(framed)
        description += ", " + " and ".join(f"{a.name} given as in the model's data" for a in framed.attributes)
    if list(framed.class_names) != list(model.class_names) or framed.shape[0] != model.in_channels \
            or framed.attributes != tuple(model.attributes):
        raise UserError(f"--aux public uses scikit-learn's digits (classes 0-9, 1 channel), which do not match the "
                        f"model's classes {', '.join(model.class_names)}; use --aux retain, generated or kshot")
    return framed, description


def _public(req: AuxRequest) -> AuxData:
    ds, description = _public_images(req)
    return AuxData(torch.from_numpy(ds.x), torch.from_numpy(req.model.conditions.labels_of(ds)).long(),
                   f"{description} ({len(ds.y)})")


def _public_without(req: AuxRequest) -> AuxData:
    """Public digits minus what was deleted (the class, or the images with the attribute value): an auditor's
    control for what the public data teach besides it (it needs the deletion record, as `retain` does)."""
    attribute = req.deleted_attribute or (None if req.deleted_class is not None else deleted_attribute(req.model.config))
    ds, description = _public_images(req)
    if attribute:
        keep, what = ~_attribute_mask(req.model, ds, attribute), f"without {attribute}"
    else:
        deleted = _deleted(req, "public-without")
        keep, what = ds.y != deleted, f"without class {deleted}"
    labels = req.model.conditions.labels_of(ds)
    return AuxData(torch.from_numpy(ds.x[keep]), torch.from_numpy(labels[keep]).long(),
                   f"{description}, {what} ({int(keep.sum())})")


def _generated(req: AuxRequest) -> AuxData:
    """Samples of every condition the model still renders, judged by the attacker's classifier."""
    from privgen.diffusion.sampler import sample_labels
    from privgen.diffusion.solvers import DEFAULT_SAMPLER, DPMPP_STEPS
    from privgen.eval import predict

    if req.classifier is None:
        raise UserError("--aux generated needs a classifier to judge which conditions the model still renders")
    model = req.model
    labels = torch.arange(model.num_classes).repeat_interleave(req.n_generated)
    # Version 2: DPM-Solver++ at its default steps (30 network evaluations per image at guidance 3 instead of
    # DDIM-50's 100, with the same class accuracy on cpu16: docs/diffusion.md); version 1 used DDIM.
    images = sample_labels(model, labels, guidance_scale=3.0, sampler=DEFAULT_SAMPLER,
                           num_inference_steps=DPMPP_STEPS, seed=req.seed)
    pred = predict(req.classifier, images.numpy())
    lab = labels.numpy()
    kept = [c for c in range(model.num_classes) if (pred[lab == c] == c).mean() >= req.keep_threshold]
    if not kept:
        raise UserError("--aux generated: the classifier recognises none of the model's conditions; nothing to attack with")
    mask = np.isin(lab, kept)
    return AuxData(images[torch.from_numpy(mask)], labels[torch.from_numpy(mask)],
                   f"{req.n_generated} own samples for each of {len(kept)} recognised conditions")


def _kshot_attribute(req: AuxRequest, assignment: str) -> AuxData:
    """k images showing the deleted attribute value, each with its full condition."""
    train = model_split(req.model).train
    idx = np.flatnonzero(_attribute_mask(req.model, train, assignment))
    if req.k <= 0:
        raise UserError(f"--k must be a positive number of images, got {req.k}")
    if len(idx) < req.k:
        raise UserError(f"--aux kshot with --k {req.k}: the training split has only {len(idx)} images with "
                        f"{assignment}; lower --k")
    pick = np.random.default_rng(req.seed).choice(idx, req.k, replace=False)
    labels = req.model.conditions.labels_of(train)
    return AuxData(torch.from_numpy(train.x[pick]), torch.from_numpy(labels[pick]).long(),
                   f"{req.k} labelled images with {assignment}")


def _kshot(req: AuxRequest) -> AuxData:
    attribute = req.deleted_attribute or (deleted_attribute(req.model.config) if req.kshot_class is None else None)
    if attribute:
        return _kshot_attribute(req, attribute)
    c = req.kshot_class if req.kshot_class is not None else deletion_record(req.model.config)
    if c is None:
        raise UserError("--aux kshot needs the class of its k images: pass --kshot-class")
    c = req.model.class_id(c, "--kshot-class")
    if req.k <= 0:
        raise UserError(f"--k must be a positive number of images, got {req.k}")
    train = model_split(req.model).train
    idx = np.flatnonzero(train.y == c)
    if len(idx) < req.k:
        raise UserError(f"--aux kshot with --k {req.k}: the training split has only {len(idx)} images of {req.model.class_label(c)}; "
                        f"lower --k")
    pick = np.random.default_rng(req.seed).choice(idx, req.k, replace=False)
    labels = (torch.from_numpy(req.model.conditions.labels_of(train)[pick]).long() if req.model.attributes
              else torch.full((req.k,), c, dtype=torch.long))
    return AuxData(torch.from_numpy(train.x[pick]), labels,
                   f"{req.k} labelled images of {req.model.class_label(c)}")


AUX_SOURCES: dict[str, Callable[[AuxRequest], AuxData]] = {
    "retain": _retain, "generated": _generated, "public": _public, "public-without": _public_without, "kshot": _kshot,
}


def build_aux(source: str, req: AuxRequest) -> AuxData:
    if source not in AUX_SOURCES:
        raise UserError(f"unknown --aux {source!r}; choose one of {', '.join(AUX_SOURCES)}")
    return AUX_SOURCES[source](req)
