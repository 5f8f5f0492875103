"""Heavy packages stay out of `import evidence, grading` (timing: benchmarks/bench_import.py)."""

import json
import subprocess
import sys

HEAVY = ("scipy.stats", "scipy.optimize", "scipy.special", "statsmodels", "matplotlib")


def test_import_loads_no_heavy_package():
    code = (
        "import json, sys; import evidence, grading; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
