"""Plans image × variant × backend, runs warm-up + repeats on every backend in parallel, emits
events and computes the statistics."""

from tfcompare.runner.aggregates import aggregate
from tfcompare.runner.comparison_engine import Runner, Source, unique_name

__all__ = ["Runner", "Source", "aggregate", "unique_name"]
