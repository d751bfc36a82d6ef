#!/bin/bash
# Issue 34: DiMRA on every colour at seeds 0 and 1 against each colour's retrain oracle (the benchmark's
# own command; the oracles were trained into its cache entries by oracles.sh, the bases are /work/colour/base-sS).
cd /work/colour2
PG=/work/main/.venv/bin/privgen
export PYTHONPATH=/work/wt-bench/src
PY=/work/main/.venv/bin/python
for j in "red 0" "red 1" "green 0" "green 1" "blue 0" "blue 1"; do
  set -- $j; c=$1; s=$2
  o=$($PY paths_lib_dir.py $c $s)
  while [ ! -f "$o/metrics.json" ]; do sleep 30; done
  [ -f bench-$c-s$s/metrics.json ] || /usr/bin/time -v $PG bench unlearning --data mnist5k-colour --forget-attribute colour=$c \
    --methods dimum --seed $s --recipe cpu16 --attack-steps 1000 --n-per-class 20 --curve-n-per-class 50 \
    --headline-only --device cpu --workers 2 --out bench-$c-s$s --quiet > bench-$c-s$s.log 2>&1
  echo "$c $s done $(date +%T)" >> benches.progress
done
echo done > BENCHES_DONE
