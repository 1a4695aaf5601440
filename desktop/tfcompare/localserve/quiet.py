"""Keep TensorFlow's start-up chatter off the server's stderr (``tfcompare serve --verbose`` keeps it).

TensorFlow and XLA log through absl before absl is initialised, which ignores
``TF_CPP_MIN_LOG_LEVEL`` ("oneDNN custom operations are on", "Could not find cuda drivers",
"failed call to cuInit" …). Those lines are written by C++ straight to file descriptor 2, so while
TensorFlow is imported and the model loaded, descriptor 2 goes through a pipe that drops them and
passes everything else on unchanged; errors and our own messages still reach the terminal.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+\s+\d+ [^\]\s]+\] "  # absl INFO/WARNING: I0000 00:00:17.. 9492 port.cc:153]
    rb"|E\d{4} [\d:.]+\s+\d+ [^\]\s]+\] .*(cuInit|CUDA|cuda|TensorRT)"  # no GPU here: not an error
    rb"|\d{4}-\d\d-\d\d [\d:.]+: [IW] )"  # older TensorFlow: 2024-05-01 10:00:00.0: I tensorflow/…
)


def quiet_python_logs() -> None:
    """TensorFlow's Python-side warnings (``WARNING:tensorflow:…``, absl) down to errors."""
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


@contextmanager
def filtered_stderr(enabled: bool = True) -> Iterator[None]:
    """While active, lines matching :data:`NOISE` written to descriptor 2 are dropped."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as source:
            for line in source:
                if not NOISE.match(line):
                    os.write(original, line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # the pipe's last writer goes away: the pump sees EOF and ends
        thread.join(5)
        os.close(original)
