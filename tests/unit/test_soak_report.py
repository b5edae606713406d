"""The soak report: one self-contained HTML file a person would rather look at than read."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from soakgate.adapters.soak.report import (
    load_series,
    pick_bucket,
    render_report,
    series_from_rows,
    series_from_samples,
)
from soakgate.adapters.state.soaks import SoakStore
from soakgate.core.soak import EngineSample, Sample, SloConfig, judge_soak

T0 = 1_700_000_000.0
DAY = 86400.0
SLO = SloConfig(probe_interval_seconds=10)


def simulated_week() -> tuple[list[Sample], list[EngineSample]]:
    """A week at one probe every 10 s with a 6 h gap, a 20 min outage and a restart."""
    rng = random.Random(5)
    samples = []
    for i in range(0, int(7 * DAY) + 1, 10):
        t = T0 + i
        if 3 * DAY <= i < 3 * DAY + 6 * 3600:
            continue
        if 5 * DAY <= i < 5 * DAY + 1200:
            samples.append(Sample(t, False, None, None, "ConnectError"))
        else:
            samples.append(Sample(t, True, 200, rng.gauss(120.0, 12.0)))
    engines = [
        EngineSample(T0 + i, int(i > 2 * DAY), False, 200 * 1024**2 + i * 50, 3.0)
        for i in range(0, int(7 * DAY) + 1, 60)
    ]
    return samples, engines


def test_a_report_renders_self_contained(tmp_path: Path) -> None:
    samples, engines = simulated_week()
    verdict = judge_soak(samples, engines, [], SLO, now=T0 + 7 * DAY)
    series = series_from_samples(samples, engines)
    path = render_report(
        verdict,
        series,
        tmp_path / "out" / "soak.html",
        slo=SLO,
        stage="staging",
        release="sha256:ab",
    )
    page = path.read_text()
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 5
    assert '<div class="state">breached</div>' in page
    assert "availability (soak)" in page and "✗ breached" in page
    assert "gap: no probes" in page and "stage staging" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # several SVGs in one page: no clashing ids
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temporary file left behind


def test_the_memory_plot_draws_the_judged_trend_and_the_table_its_row(tmp_path: Path) -> None:
    samples, engines = simulated_week()  # memory grows 50 B/s: 0.09 %/h of 200 MiB
    verdict = judge_soak(samples, engines, [], SLO, now=T0 + 7 * DAY)
    assert verdict.memory_trend is not None
    page = render_report(verdict, series_from_samples(samples, engines), tmp_path / "r.html")
    text = page.read_text()
    assert "trend: +0.09 %/h (Theil-Sen)" in text
    assert "memory slope (soak; low end of 90 % interval)" in text and "%/h" in text


def test_a_report_of_an_empty_soak(tmp_path: Path) -> None:
    verdict = judge_soak([], [], [], SLO, now=T0)
    page = render_report(verdict, series_from_samples([]), tmp_path / "r.html").read_text()
    assert "not enough data" in page and "No samples yet." in page


def test_a_report_from_the_store(tmp_path: Path) -> None:
    samples, engines = simulated_week()
    with SoakStore.open(tmp_path) as store:
        with store.begin("staging", "sha256:" + "c" * 64, batch_size=10_000) as recorder:
            for sample in samples:
                recorder.add(sample)
            for engine in engines:
                recorder.add_engine(engine)
        from_store = load_series(store, recorder.soak.id)
    in_memory = series_from_samples(samples, engines)
    np.testing.assert_allclose(from_store.p99, in_memory.p99, rtol=1e-6)
    np.testing.assert_array_equal(from_store.failed, in_memory.failed)


def test_buckets_hold_exact_percentiles_and_counts() -> None:
    rows: list[tuple[int, int, int | None]] = [(i * 1000, 1, (i % 10) * 1000) for i in range(600)]
    rows[5] = (5000, 0, None)
    engine = [(0, 0, 0, 1024**2), (400_000, 2, 1, 3 * 1024**2), (500_000, 0, 0, 3 * 1024**2)]
    series = series_from_rows(rows, engine, bucket_seconds=300)
    assert series.starts.tolist() == [0.0, 300.0]  # origin floored to the bucket
    assert series.probes.tolist() == [300, 300] and series.failed.tolist() == [1, 0]
    first = np.array([(i % 10) for i in range(300) if i != 5], dtype=float)
    assert series.p95[0] == pytest.approx(np.percentile(first, 95))
    assert series.p50[1] == pytest.approx(4.5)
    assert series.restarts.tolist() == [0, 3]  # 0 → 2, then a replaced container: + 1
    assert series.oom_kills.tolist() == [400.0]
    assert series.memory_mib.tolist() == [1.0, 3.0]


def test_bucket_sizes() -> None:
    assert [pick_bucket(s) for s in (3600, DAY, 7 * DAY, 60 * DAY)] == [10, 60, 300, 3600]
