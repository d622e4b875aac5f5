"""Test-session settings shared by every test module.

One BLAS/OpenMP thread per process. ``make test`` runs one pytest-xdist worker per core, and the notebook
smoke tests start a kernel and arm processes of their own, so every core is already busy with a process;
a second torch thread per process only makes the threads wait on each other (measured on 2 cores: the
notebook 20 smoke run alone took 77 s of CPU with torch's default of one thread per core, 50 s with one).
Set before torch is imported, so that the workers and every process they start (notebook kernels, arms,
data workers) inherit it; an explicit OMP_NUM_THREADS / MKL_NUM_THREADS in the environment is kept. Results
do not depend on it: the tests compare runs within one setting, or against tolerances.
"""
import os
import sys

import pytest

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if "torch" in sys.modules:  # imported before this file (e.g. by a plugin): set it there too
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))



# Test modules whose module-scoped fixtures are expensive and shared by several of their tests (a benchmark build,
# a notebook run, a trained checkpoint). Under xdist's default `load` distribution (`make test`: -n auto) their
# tests went to both workers and each built the fixture (measured with -n 2: test_ordebug_leaks' 108-instance
# benchmark 43 s on each worker, test_kill9's reference notebook run 22-41 s on each, test_ordebug_dataset's
# benchmark 13 s, test_policy_demos_no_answer's demonstrations 7 s). The scheduler below sends
# each of these modules to one worker as a whole, first, and every other test one at a time to whichever worker is
# free, as `load` does. (xdist's own `--dist loadgroup` cannot be used here: it renames node ids, which pytest 9
# no longer lets it do, so its groups are silently ignored.)
ONE_WORKER_MODULES = ("test_kill9.py", "test_ordebug_leaks.py", "test_experiments_weakness.py", "test_policy_prm.py",
                      "test_training_from_sft.py", "test_ordebug_dataset.py", "test_policy_demos_no_answer.py")


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # optional: xdist may be absent (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "load":  # -n alone means load; any other --dist keeps xdist's own
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesOnOneWorker(LoadScopeScheduling):
        """LoadScopeScheduling whose work units are the modules of ONE_WORKER_MODULES and single tests. Units
        with more tests go first (xdist's default ``--loadscopereorder``), so the grouped modules start at once."""

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module.rsplit("/", 1)[-1] in ONE_WORKER_MODULES else nodeid

    return ModulesOnOneWorker(config, log)
