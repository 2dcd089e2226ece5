"""Added time of `%load_ext rv` over a bare IPython start, measured side by side.

Each sample is a fresh Python process that starts an IPython shell and, for the
measured variant, loads the extension; the two variants alternate so that machine noise
hits both alike. The last line is `load_ext_ms=<median difference>` (target <= 100 ms).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

SAMPLES = 15
PROGRAM = """
import time
t0 = time.perf_counter()
from IPython.testing.globalipapp import start_ipython
shell = start_ipython()
{load}
print((time.perf_counter() - t0) * 1000)
"""


def sample(load: bool) -> float:
    code = PROGRAM.format(load="shell.run_line_magic('load_ext', 'rv')" if load else "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    bare, loaded = [], []
    sample(False)  # warm the file cache for both
    for _ in range(SAMPLES):
        bare.append(sample(False))
        loaded.append(sample(True))
    b, lo = statistics.median(bare), statistics.median(loaded)
    print(f"IPython start, bare:          median {b:7.1f} ms over {SAMPLES} runs")
    print(f"IPython start + %load_ext rv: median {lo:7.1f} ms over {SAMPLES} runs")
    print(f"load_ext_ms={lo - b:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
