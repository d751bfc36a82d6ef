#!/bin/bash
cd /work/colour2
PY=/work/main/.venv/bin/python
export PRIVGEN_THREADS=1 OMP_NUM_THREADS=1
(for j in "red 0" "green 0" "blue 0"; do $PY oracle.py $j; done) > oracles-a.log 2>&1 &
(for j in "red 1" "green 1" "blue 1"; do $PY oracle.py $j; done) > oracles-b.log 2>&1 &
wait
echo done > ORACLES_DONE
