"""benchmarks/reliability.py: cases tried for real (a few cheap ones), records judged from what was observed, the
Markdown table rendered from the JSON file."""

from __future__ import annotations

import json

import pytest
import reliability  # benchmarks/ is on pytest's pythonpath (pyproject.toml)


def test_cheap_cases_run_end_to_end_and_render(tmp_path):
    out = tmp_path / "reliability.md"
    cases = "flag-typo,config-max-steps-four"
    assert reliability.main(["--cases", cases, "--out", str(out)]) == 0
    results = json.loads(out.with_suffix(".json").read_text())
    typo, steps = results["cases"]["flag-typo"], results["cases"]["config-max-steps-four"]
    assert list(results["cases"]) == ["config-max-steps-four", "flag-typo"]  # the order of the case table
    assert typo["exit_code"] == 1 and typo["lines_after_message"] == 0 and typo["passed"] is True
    assert typo["message"].startswith("run_glue_distill.py: error: unknown argument(s) --learning_rat 1")
    assert typo["command"].startswith("python recipes/run_glue_distill.py $BASE --output_dir $TMP/")
    assert typo["command"].endswith(" --learning_rat 1")
    assert steps["message"].endswith("max_steps: 'four' is not an integer.") and steps["passed"] is True
    assert "$TMP/" in steps["message"] and "/tmp/" not in steps["message"] + typo["command"]  # shown as $TMP
    report = out.read_text()
    assert "**2 of 2 cases pass.**" in report
    assert f"python benchmarks/reliability.py --cases {cases} --out {out}" in report
    assert "| 7 | flag-typo: --learning_rat 1 (a typo of --learning_rate) | `python recipes/" in report
    assert "✓ the older results.json is gone" in report


def test_a_failed_check_fails_the_case_and_the_report_says_so():
    record = {
        "items": "6",
        "what": "a | b",
        "command": "python x",
        "exit_code": 0,
        "message": None,
        "lines_after_message": None,
        "checks": {"exit code 1": False, "no model saved": True},
        "passed": False,
    }
    results = {
        "generated_by": ["python benchmarks/reliability.py"],
        "date": "2026-01-01",
        "machine": {"cpu": "cpu", "cpu_count": 2, "python": "3.11", "torch": "2", "transformers": "5"},
        "base_flags": "--seed 0",
        "cases": {"nan-loss": record, "ok": {**record, "checks": {"ran": True}, "passed": True}},
    }
    report = reliability.render(results)
    assert "**1 of 2 cases pass.**" in report
    assert "| 6 | nan-loss: a \\| b | `python x` | 0 |  |  | **FAIL** |" in report
    assert "- **nan-loss**: ✗ exit code 1; ✓ no model saved" in report


def test_an_unknown_case_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        reliability.main(["--cases", "flag-typo,no-such-case"])
    assert stop.value.code == 2 and "unknown case(s) no-such-case" in capsys.readouterr().err


@pytest.mark.slow
def test_every_case_passes(tmp_path):
    """The whole script (about ten minutes on two CPU cores): every case tried, every check true."""
    out = tmp_path / "reliability.md"
    assert reliability.main(["--out", str(out)]) == 0
    results = json.loads(out.with_suffix(".json").read_text())
    assert set(results["cases"]) == {case.name for case in reliability.CASES}
    assert {name: record["checks"] for name, record in results["cases"].items() if not record["passed"]} == {}
