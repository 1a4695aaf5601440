"""Plans image × variant × backend, runs warm-up + repeats on every backend in parallel, emits
events and computes the statistics."""

from tfcompare.runner.engine import Runner, Source, unique_name
from tfcompare.runner.stats import aggregate

__all__ = ["Runner", "Source", "aggregate", "unique_name"]
