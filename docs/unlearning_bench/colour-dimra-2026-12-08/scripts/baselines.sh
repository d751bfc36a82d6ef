#!/bin/bash
# Issue 34: every other baseline on every colour at seed 0, at its defaults, before any attack (library forget rate).
cd /work/colour2
PG=/work/main/.venv/bin/privgen
PY=/work/main/.venv/bin/python
export PYTHONPATH=/work/wt-fresh/src PRIVGEN_THREADS=1 OMP_NUM_THREADS=1
while [ ! -f ORACLES_DONE ]; do sleep 30; done
B=/root/.cache/privgen/diffusion/cpu16-mnist5k-colour-seed0
for c in green blue; do
  for m in ft salun erasediff esd; do
    [ -f models/$m-$c-s0/metrics.json ] || $PG unlearn run --model $B --method $m --forget-attribute colour=$c --seed 0 --device cpu --out models/$m-$c-s0 --quiet
  done
done
$PY pre_attack.py pre_attack.jsonl models/{ft,salun,erasediff,esd}-{green,blue}-s0 /work/colour/{ga,dimum}-{red,green,blue}-s{0,1} models/dimum-fresh-red-s0
echo done > BASELINES_DONE
