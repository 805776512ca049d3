"""Per-lead latency of the lead score model: parse + features, and the whole ``score()`` call.

Run: ``.venv/bin/python bench/scoring/bench_model.py [--leads 5000] [--repeat 5]``. Prints one JSON
object with p50/p99/mean microseconds per lead (wall clock and process CPU, so a busy machine
shows as a gap between the two). Leads come from the synthetic generator with a fixed seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from leadgen.scoring.features import parse_lead
from leadgen.scoring.model import default_model
from leadgen.scoring.synthetic import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    model = default_model()
    rows = generate(args.leads, seed=1).rows
    for row in rows[:200]:  # warm caches (time zones, numpy dispatch)
        model.score(row)

    score_times: list[float] = []
    feature_times: list[float] = []
    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    for _ in range(args.repeat):
        for row in rows:
            t0 = time.perf_counter()
            model.featurizer.transform(parse_lead(row))
            t1 = time.perf_counter()
            model.score(row)
            t2 = time.perf_counter()
            feature_times.append(t1 - t0)
            score_times.append(t2 - t1)
    calls = 2 * len(score_times)
    print(
        json.dumps(
            {
                "leads": len(score_times),
                "score_us": _summary(score_times),
                "features_us": _summary(feature_times),
                "cpu_us_per_call": round((time.process_time() - cpu_started) / calls * 1e6, 1),
                "wall_us_per_call": round((time.perf_counter() - wall_started) / calls * 1e6, 1),
            },
            indent=2,
        )
    )


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50": round(ordered[len(ordered) // 2] * 1e6, 1),
        "p99": round(ordered[int(len(ordered) * 0.99)] * 1e6, 1),
        "mean": round(statistics.fmean(ordered) * 1e6, 1),
    }


if __name__ == "__main__":
    main()
