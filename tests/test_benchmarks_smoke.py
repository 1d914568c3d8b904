"""The benchmark harness stays importable and its timing helper and report keep working.

No wall-clock assertion: the timings are checked for shape and consistency only.
"""

import pytest

from benchmarks import report, run, stack, timing, workloads


def test_interleave_times_every_contender_and_reports_failures():
    calls = {"a": 0, "b": 0}

    def a():
        calls["a"] += 1

    def b():
        calls["b"] += 1
        sum(range(1000))

    def broken():
        raise RuntimeError("no such kernel\nsecond line")

    result = timing.interleave({"a": a, "b": b, "broken": broken}, rounds=3, warmup=2,
                               per_chunk=4)
    assert calls == {"a": 5, "b": 5}  # 2 warm-up + 3 timed chunks each
    for name in ("a", "b"):
        samples = result[name]["samples_s"]
        assert len(samples) == 3 and all(s > 0 for s in samples)
        assert result[name]["min_s"] <= result[name]["median_s"] <= max(samples)
    assert result["broken"] == {"error": "RuntimeError: no such kernel"}
    assert timing.ratio(result, "a", "broken") is None
    assert timing.ratio(result, "b", "b") == 1.0


def test_interleave_rotates_the_order_each_round():
    order = []
    contenders = {name: (lambda name=name: order.append(name)) for name in "xyz"}
    timing.interleave(contenders, rounds=3, warmup=0)
    assert order == list("xyz" "yzx" "zxy")


def test_interleave_rejects_bad_counts():
    with pytest.raises(ValueError, match="rounds"):
        timing.interleave({"a": lambda: None}, rounds=0)


def _entry(ms):
    return {"median_s": ms / 1e3, "min_s": ms / 1e3, "samples_s": [ms / 1e3]}


def test_report_of_a_recorded_run(tmp_path):
    entry = _entry
    mlp = {"describe": workloads.describe("mlp", workloads.SIZES["quick"]["mlp"]),
           "kbridge fit": entry(3.0), "keras 3 fit": entry(4.0), "torch eager": entry(2.0),
           "to_torch eager": entry(2.2), "torch.compile": {"error": "TypeError: x"}}
    recorded = {"mode": "quick", "command": "python -m benchmarks.run --quick",
                "date": "2026-01-01 00:00 UTC", "rounds": 1, "machine": run.machine(),
                "import": {"numpy_ms": 50.0, "kbridge_ms": 120.0, "repeat": 3},
                "dispatch": [{"backend": "numpy", "op": "add", "native_us": 1.0,
                              "kbridge_us": 2.5}],
                "stacks": {"torch": {"results": {"mlp": mlp}, "versions": {"torch": "2"}},
                           "jax": {"error": "exit status 1: boom"}},
                "choice": {"mlp": [["torch", 0.002, None], ["jax", None, "E: x"]]},
                "hub_load": {"torch": {"kbridge_s": 0.2, "raw_s": 0.1, "ratio": 2.0,
                                       "peak_mb": 150.0, "file_mb": 100.0}}}
    [row] = report.ratios(recorded)
    assert row["kbridge/native"] == pytest.approx(1.5)
    assert row["kbridge/keras 3"] == pytest.approx(0.75)
    assert row["to_torch/native eager"] == pytest.approx(1.1)
    assert row["to_torch/native compiled"] is None
    report.write_markdown(recorded, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "Smoke run" in text and "| mlp | torch | 1.50 | 0.75 | 1.10 | – |" in text
    assert "failed: TypeError: x" in text and "jax stack failed" in text
    assert "| numpy | add | 1.00 | 2.50 | 2.50 |" in text
    assert "| mlp | torch 2.00, jax failed | torch | yes |" in text
    assert "| torch | 100 | 0.200 | 0.100 | 2.00 | 1.50 |" in text
    assert stack.NATIVE["torch"] in mlp
