#!/bin/bash
# Issue 34: DiMUM with fresh embedding rows for the forgotten value, then the benchmark's DiMRA (1,000 steps
# on retained data, lr 1e-4, batch 64, seed S, probed every 200 steps with 50 samples at guidance 3).
cd /work/colour2
PG=/work/main/.venv/bin/privgen
export PYTHONPATH=/work/wt-fresh/src PRIVGEN_THREADS=1
c=$1; s=$2
B=/root/.cache/privgen/diffusion/cpu16-mnist5k-colour-seed$s
[ -f models/dimum-fresh-$c-s$s/metrics.json ] || $PG unlearn run --model $B --method dimum --forget-attribute colour=$c \
  --option fresh_rows=true --seed $s --device cpu --out models/dimum-fresh-$c-s$s --quiet
[ -f attacks/dimum-fresh-$c-s$s/metrics.json ] || $PG attack relearn --model models/dimum-fresh-$c-s$s --aux retain \
  --steps 1000 --lr 1e-4 --batch-size 64 --probe-every 200 --n-per-class 50 --seed $s --device cpu \
  --out attacks/dimum-fresh-$c-s$s --quiet
