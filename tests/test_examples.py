"""Every example in examples/ runs to completion with a small --iters and its check passes."""
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
# (script, CI iterations): enough for each script's convergence check
RUNS = [
    ("sine_fit.py", 40),
    ("linear_regression.py", 200),
    ("polynomial_regression.py", 200),
    ("mlp.py", 100),
    ("sigmoid_classifier.py", 20),
    ("chain_rule.py", 3),
]


def test_every_example_is_listed():
    scripts = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py") and not f.startswith("_"))
    assert scripts == sorted(name for name, _ in RUNS)
    readme = open(os.path.join(EXAMPLES, "README.md")).read()
    assert all(f"`{name}`" in readme for name in scripts)


@pytest.mark.parametrize("script, iters", RUNS, ids=[r[0][:-3] for r in RUNS])
def test_example_runs_and_checks(script, iters, tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), "--iters", str(iters),
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "PASS" in proc.stdout and "FAIL" not in proc.stdout, output
    assert "Traceback" not in output, output
    # rendered stages, unless the renderer said why not
    if "stages not rendered" not in proc.stdout:
        assert (tmp_path / "index.html").exists(), output


def test_failing_check_exits_nonzero(tmp_path):
    """The check is real: a wrong result makes the script fail (the chain rule at a
    different point is compared with the fixed expectation -4096)."""
    code = ("import sys; sys.argv = ['chain_rule', '--iters', '1', '--no-render', '--out', r'%s'];"
            "sys.path.insert(0, r'%s'); import chain_rule; chain_rule.POINT = (1.0, 0.0, -2.0, 1.0);"
            "chain_rule.main()") % (tmp_path, EXAMPLES)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "FAIL" in proc.stdout, proc.stdout + proc.stderr
