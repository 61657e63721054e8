"""Plumbing for `recipes.tune`, in four parts.

- `recipes.common.tuning.data`: the data per model kind (`load_task_data`,
  `TaskData`), the objective (`parse_objective`) and a dry run of the
  default model (`dry_run`).
- `recipes.common.tuning.roles`: one process, or keras-tuner's chief and
  workers (`Role`, `resolve_role`, `role_environment`, `check_chief`).
- `recipes.common.tuning.search`: `ResumableRandomSearch`,
  `ResumableHyperband`, `ResumableBayesianOptimization` (`SEARCHES`) and the
  search fingerprint that refuses to resume a different search.
- `recipes.common.tuning.results`: the results table and its plot.

The names below are re-exported here, so `tuning.load_task_data(...)` works.
Import after `runtime.setup()` (a `Run`): these modules import Keras and keras-tuner.
"""

from recipes.common.tuning.data import (
    TaskData,
    concatenate,
    dry_run,
    load_task_data,
    parse_objective,
    searchable_spec,
)
from recipes.common.tuning.results import (
    PLOT_FILE,
    RESULTS_FILE,
    RUN_FILE,
    results_plot,
    results_table,
    write_results,
)
from recipes.common.tuning.roles import (
    ENVIRONMENT,
    Role,
    check_chief,
    check_port_free,
    resolve_role,
    role_environment,
    same_space,
)
from recipes.common.tuning.search import (
    FINGERPRINT_FILE,
    SEARCHES,
    ResumableBayesianOptimization,
    ResumableBayesianOptimizationOracle,
    ResumableHyperband,
    ResumableHyperbandOracle,
    ResumableRandomSearch,
    ResumableRandomSearchOracle,
    ResumableTuner,
    check_fingerprint,
    fingerprint,
    write_fingerprint,
)

__all__ = [
    "ENVIRONMENT", "FINGERPRINT_FILE", "PLOT_FILE", "RESULTS_FILE", "RUN_FILE", "SEARCHES",
    "ResumableBayesianOptimization", "ResumableBayesianOptimizationOracle",
    "ResumableHyperband", "ResumableHyperbandOracle", "ResumableRandomSearch",
    "ResumableRandomSearchOracle", "ResumableTuner", "Role", "TaskData",
    "check_chief", "check_fingerprint", "check_port_free", "concatenate", "dry_run",
    "fingerprint", "load_task_data", "parse_objective", "resolve_role", "results_plot",
    "results_table", "role_environment", "same_space", "searchable_spec",
    "write_fingerprint", "write_results",
]
