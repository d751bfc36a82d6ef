"""Issue 34: train the retrain oracle for colour C at seed S into the benchmark's own cache entry (the
benchmark's task_unlearn, so `privgen bench unlearning --forget-attribute colour=C --seed S` finds it)."""
import sys, time
from privgen.bench.unlearning_tasks import MethodSpec, task_unlearn
sys.path.insert(0, "/work/colour2")
from paths_lib import settings
c, s = sys.argv[1], int(sys.argv[2])
t = time.perf_counter()
r = task_unlearn(settings(c, s), MethodSpec("retrain", "retrain"))
print(c, s, r["dir"], round(time.perf_counter() - t), "s", flush=True)
