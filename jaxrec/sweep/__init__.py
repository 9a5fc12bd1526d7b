"""jaxrec.sweep: grids of configurations x seeds as one compiled, sharded program over chunked
horizons, with streamed tidy results, orbax checkpoint/resume and summary reports."""

from jaxrec.sweep.engine import SweepProgram
from jaxrec.sweep.report import summarise, write_report
from jaxrec.sweep.runner import load_metrics, run_sweep
from jaxrec.sweep.spec import EXAMPLE, SweepSpec, load_sweep, parse_sweep, spec_from_dict

__all__ = [
    "EXAMPLE",
    "SweepProgram",
    "SweepSpec",
    "load_metrics",
    "load_sweep",
    "parse_sweep",
    "run_sweep",
    "spec_from_dict",
    "summarise",
    "write_report",
]
