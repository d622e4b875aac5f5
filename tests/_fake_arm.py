"""A stand-in arm for tests of experiments/jobs.py: ``python -m _fake_arm spec.json`` (tests/ on PYTHONPATH).
spec["exit"]: exit code to return; spec["skip_done"]: exit 0 without writing done.json; spec["sleep"]: seconds to
work first."""
import json
import os
import sys
import time
from pathlib import Path

from ordebug_lib.experiments.jobs import mark_done

spec_path = Path(sys.argv[1])
spec = json.loads(spec_path.read_text())
print(f"fake arm {spec['name']} starting")
time.sleep(spec.get("sleep", 0))
if spec.get("exit"):
    print("something went wrong in the arm")
    sys.exit(spec["exit"])
if not spec.get("skip_done"):
    mark_done(spec_path.parent, spec, value=spec["value"] * 2, alloc_conf=os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
              omp_threads=os.environ.get("OMP_NUM_THREADS"))
