"""bench.gpu without a GPU or a broker: argument defaults, the GPU sampler's parsing and
windowing, and the summary's ratios on a fake result document."""
import json

import pytest

from bench import gpu


def test_defaults_on_gpu():
    a = gpu.parse_args([])
    assert a.device == "gpu" and a.procs == [1, 2, 4, 8] and a.batch_size == 128
    assert a.partitions == 16  # >= 2 * max K
    assert a.bulk == 30000 and a.bulk_c == 10000 and a.paced == 1000
    assert a.cases == ["a", "b", "c"]


def test_quick_on_cpu_is_small():
    a = gpu.parse_args(["--device", "cpu", "--quick"])
    assert a.procs == [1, 2] and a.batch_size == 32 and a.partitions == 4
    assert a.bulk == a.bulk_c == 300 and a.paced == 60


def test_explicit_values_win():
    a = gpu.parse_args(["--procs", "2,8", "--batch-size", "256", "--bulk", "900", "--quick", "--cases", "b,a"])
    assert a.procs == [2, 8] and a.batch_size == 256 and a.bulk == 900 and a.bulk_c == 300
    assert a.partitions == 16 and a.cases == ["a", "b"]


@pytest.mark.parametrize("argv", [["--procs", "0"], ["--cases", "a,x"], ["--procs", "8", "--partitions", "4"]])
def test_bad_arguments(argv):
    with pytest.raises(SystemExit):
        gpu.parse_args(argv)


def test_parse_smi_line():
    assert gpu.parse_smi_line("0, 87, 12345\n") == (0, 87.0, 12345.0)
    assert gpu.parse_smi_line("1, [N/A], 10") == (1, None, 10.0)
    assert gpu.parse_smi_line("index, utilization.gpu, memory.used") is None
    assert gpu.parse_smi_line("garbage") is None


def test_window_stats():
    samples = [(10.0, 0, 50.0, 1000.0, None), (10.2, 0, 90.0, 3000.0, 80.0),
               (10.4, 0, 70.0, 2000.0, 60.0), (11.0, 0, 0.0, 100.0, None)]
    w = gpu.window_stats(samples, 10.1, 10.5)
    assert w["samples"] == 2 and w["util_mean_pct"] == 80.0 and w["util_max_pct"] == 90.0
    assert w["memory_used_max_mib"] == 3000 and w["jpeg_util_mean_pct"] == 70.0
    assert gpu.window_stats(samples, 10.1, 10.5, backend=None) is None
    assert gpu.window_stats(samples, None, None) is None
    assert gpu.window_stats([], 0, 1)["util_mean_pct"] is None


def _case(k, ips, steady=None, p50=10.0, p99=30.0, util=None, error=None):
    r = {"name": f"worker-k{k}", "case": {"procs": k}}
    if error:
        return {**r, "error": error + "\nlog tail"}
    return {**r, "throughput": {"images_per_s": ips, "steady_images_per_s": steady},
            "latency": {"p50_ms": p50, "p99_ms": p99}, "startup_s": 3.0, "peak_rss_mb": 900.0,
            "gpu": {"util_mean_pct": util, "jpeg_util_mean_pct": None}}


def _doc():
    return {"device": "gpu", "settings": {"batch_size": 128},
            "a_dali_alone": {"reduce": {"images_per_s": 18000.0, "gpu": {"util_mean_pct": 60.0}},
                             "classify_f16": {"images_per_s": 9000.0}},
            "b_worker_reduce": [_case(1, 4600.0, 4500.0), _case(2, 9000.0), _case(4, 16200.0, 15300.0, util=55.0),
                                _case(8, None, error="a consumer process exited: 0 of 30000 results")],
            "c_worker_f16": [_case(1, 2000.0), _case(2, 3000.0)]}


def test_summary_ratios_and_best():
    s = gpu.summarize(_doc())
    # steady rate first; first-to-last where there is no steady figure (K = 2)
    assert s["ratio_b_over_a"] == {"1": 0.25, "2": 0.5, "4": 0.85, "8": None}
    assert s["ratio_b_over_a_full_span"] == {"1": 0.256, "2": 0.5, "4": 0.9, "8": None}
    assert s["b_by_procs"]["4"]["full_span_images_per_s"] == 16200.0
    assert s["b_by_procs"]["4"]["gpu_util_mean_pct"] == 55.0
    assert s["b_by_procs"]["4"]["p50_ms"] == 10.0 and s["b_by_procs"]["4"]["p99_ms"] == 30.0
    assert s["b_by_procs"]["8"]["error"] == "a consumer process exited: 0 of 30000 results"
    assert s["b_best"] == {"procs": 4, "images_per_s": 15300.0, "ratio_over_a": 0.85, "ratio_over_a_full_span": 0.9}
    assert s["ratio_b_over_a_best"] == 0.85 and s["acceptance_b_over_a_at_least_0_9"] is False
    assert s["c_best"]["procs"] == 2 and s["c_by_procs"]["2"]["ratio_over_a"] == 0.333
    assert s["a_dali_alone_gpu_util_mean_pct"] == 60.0
    ref = s["field_notes_h100"]
    assert ref["dali_alone_images_per_s"] == 18400 and ref["b_best_over_field_notes_dali_alone"] == 0.832
    json.dumps(s)  # the summary goes into the JSON as is


def test_summary_without_a_or_on_cpu():
    doc = _doc()
    doc["device"] = "cpu"
    del doc["a_dali_alone"]
    s = gpu.summarize(doc)
    assert s["ratio_b_over_a_best"] is None and s["b_best"] is None
    assert s["acceptance_b_over_a_at_least_0_9"] is None and s["field_notes_h100"] is None
    assert s["b_by_procs"]["4"]["images_per_s"] == 15300.0
    assert gpu.summarize({})["b_by_procs"] == {}


def test_sampler_without_gpu_is_harmless(monkeypatch):
    monkeypatch.setattr(gpu, "_NVML", lambda: (_ for _ in ()).throw(OSError("no NVML")))
    monkeypatch.setattr(gpu.shutil, "which", lambda name: None)
    s = gpu.GpuSampler()
    s.start()
    s.stop()
    assert s.backend is None and s.window(0, 1) is None


def test_throughput_steady_leaves_out_the_ends():
    from bench import kafka_io

    # 10 batches of 10 results, one batch every 100 ms, then a slow tail batch 1 s later
    rows = [("in", 1000 + 100 * b, 0) for b in range(10) for _ in range(10)] + [("in", 3000, 0)] * 10
    t = kafka_io.throughput(rows + [("other", 5000, 0)], "in")
    assert t["results"] == 110 and t["start_ms"] == 1000 and t["end_ms"] == 3000
    assert t["images_per_s"] == round(109 / 2.0, 1)
    # between result 11 (1100 ms) and result 98 (1900 ms): the 8 batches after 1100 ms, 100/s exactly
    assert t["steady_images_per_s"] == 100.0
    assert kafka_io.throughput(rows[:5], "in").get("steady_images_per_s") is None
    assert kafka_io.throughput(rows[:5] + [("in", 1100, 0)], "in")["steady_images_per_s"] is None
