#!/bin/bash
# Issue 34: audit unlearning on DiMUM colour=red (seed 0), all seven regimes, lr 1e-4 and 1e-3; beside the
# benchmarks (contended). The oracle is the benchmark's (trained by oracles.sh); its attacks are cached here.
cd /work/colour2
PG=/work/main/.venv/bin/privgen
export PYTHONPATH=/work/wt-audit/src
o=/root/.cache/privgen/unlearned/cpu16-mnist5k-colour-seed0/retrain-forgetcolour-red-ea1913c80335
while [ ! -f "$o/metrics.json" ]; do sleep 30; done
/usr/bin/time -v $PG audit unlearning --model models/dimum-red-s0 --regimes all --lrs 1e-4,1e-3 --workers 1 \
  --device cpu --out audits/dimum-red-s0 --quiet > audit-dimum.log 2>&1
echo "dimum audit done $(date +%T)" >> benches.progress
