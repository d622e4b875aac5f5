"""OR-Debug: infeasible (MI)LP repair benchmark and environment on Gurobi."""
