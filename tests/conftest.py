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

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if "torch" in sys.modules:  # imported before this file (e.g. by a plugin): set it there too
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
