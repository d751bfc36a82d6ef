#!/bin/bash
# Issue 34: the colour=red models the audit measures, unlearned from the benchmark's seed-0 colour base.
cd /work/colour2
PG=/work/main/.venv/bin/privgen
export PYTHONPATH=/work/wt-audit/src PRIVGEN_THREADS=1
B=/root/.cache/privgen/diffusion/cpu16-mnist5k-colour-seed0
for m in dimum ga; do
  [ -f models/$m-red-s0/metrics.json ] || $PG unlearn run --model $B --method $m --forget-attribute colour=red --seed 0 --device cpu --out models/$m-red-s0 --quiet
done
