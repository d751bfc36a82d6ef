import sys
sys.path.insert(0, "/work/colour2")
from paths_lib import settings
from privgen.bench.unlearning_tasks import MethodSpec, unlearned_dir
print(unlearned_dir(settings(sys.argv[1], int(sys.argv[2])), MethodSpec("retrain", "retrain")))
