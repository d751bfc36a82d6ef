"""The attacker regimes of the audit: which auxiliary data DiMRA fine-tunes on.

A regime is an attacker's data source (`privgen.attacks.aux`) plus, for k-shot, k. The names are what
`--regimes` takes; `kshot-K` works for any positive K the training split can supply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from privgen.errors import UserError


@dataclass(frozen=True)
class Regime:
    name: str
    source: str                 # an `AUX_SOURCES` key
    k: int | None = None        # images of the forgotten class, for k-shot

    @property
    def needs_classifier(self) -> bool:
        return self.source == "generated"


# What each regime stands for, in the order the report lists them.
DESCRIPTIONS: dict[str, str] = {
    "retain": "the owner's retained training data",
    "generated": "the model's own samples of every condition it still renders",
    "public": "public digits (scikit-learn), forgotten class included",
    "public-without": "public digits without the forgotten class",
    "kshot-1": "1 labelled image of the forgotten class",
    "kshot-10": "10 labelled images of the forgotten class",
    "kshot-100": "100 labelled images of the forgotten class",
}
DEFAULT_REGIMES = tuple(DESCRIPTIONS)
_KSHOT = re.compile(r"kshot-(\d+)$")


def parse_regime(name: str) -> Regime:
    m = _KSHOT.match(name)
    if m:
        k = int(m.group(1))
        if k <= 0:
            raise UserError(f"--regimes {name}: k must be a positive number of images")
        return Regime(name, "kshot", k)
    if name in DESCRIPTIONS:
        return Regime(name, name)
    raise UserError(f"unknown regime {name!r} in --regimes; choose from {', '.join(DEFAULT_REGIMES)} "
                    "(kshot-K for any K)")


def parse_regimes(text: str) -> tuple[Regime, ...]:
    """A comma list of regime names, or `all` for the defaults."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UserError("--regimes is empty; use all or a list like retain,public,kshot-10")
    names = [n for t in names for n in (DEFAULT_REGIMES if t == "all" else (t,))]
    if len(set(names)) != len(names):
        raise UserError(f"--regimes lists a regime twice: {text}")
    return tuple(parse_regime(n) for n in names)


def describe(regime: Regime) -> str:
    return DESCRIPTIONS.get(regime.name) or f"{regime.k} labelled images of the forgotten class"
