"""How long `import dcv_widget` takes in a fresh interpreter, and whether it drags in heavy modules.

Prints the median of several runs in milliseconds and the heavy modules that got imported
(boto3 and paramiko must not be: they are imported only by the code paths that use them).

    python benchmarks/import_time.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

RUNS = 7
HEAVY = ("boto3", "botocore", "paramiko", "ipywidgets", "IPython")
PROBE = f"""
import json, sys, time
start = time.perf_counter()
import dcv_widget
elapsed = time.perf_counter() - start
print(json.dumps({{"ms": elapsed * 1000, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def main() -> None:
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(RUNS)
    ]
    median = statistics.median(run["ms"] for run in runs)
    heavy = sorted({name for run in runs for name in run["heavy"]})
    print(f"import dcv_widget: {median:.1f} ms (median of {RUNS} fresh interpreters)")
    print(f"heavy modules imported: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()
