"""How fast are `dfew-build kappa` and `dfew-build labels` at DFEW scale and beyond?

Builds workspaces with DFEW-scale votes (16,372 clips x 10 votes) and 1,000,000 clips x 10
votes, then times both commands end to end: a fresh `dfew-build` process each time, so the
figure includes interpreter start-up, imports, the grouped vote query and the output
(what a user waits for). The setup writes the rows directly with bulk inserts and is not
part of the figures.

The simulated votes follow DFEW's published marginals (Table 2 of the paper): latent
emotions drawn with the single-labelled shares, durations with each emotion's 0-2 s /
2-5 s / 5 s+ shares, 12 annotators of whom 10 see each clip, each vote correct with a
per-clip clarity ~ Beta(4, 1.5), else a clip-specific second emotion (90 %) or a draw from
the marginals. That gives about 72.8 % single-labelled clips (DFEW: 73.7 %, 12,059 of 16,372).

    python benchmarks/labels_scale.py                 # both sizes
    python benchmarks/labels_scale.py --clips 16372   # one size
    python benchmarks/labels_scale.py --keep /tmp/lbl # reuse the generated workspaces

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# DFEW Table 2: single-labelled clips per emotion (DFEW order) and duration bin.
TABLE2 = np.array([[852, 1252, 384], [440, 915, 653], [832, 1335, 542], [762, 1091, 376],
                   [691, 648, 159], [71, 58, 17], [408, 435, 138]], dtype=float)
BIN_EDGES = ((0.5, 2.0), (2.0, 5.0), (5.0, 10.0))
ANNOTATORS = 12
RATERS = 10
DFEW_CLIPS = 16_372
TARGETS_S = {DFEW_CLIPS: 2.0, 1_000_000: 60.0}


def simulate(clips: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(durations [clips], annotator index [clips, 10], emotion code [clips, 10])."""
    rng = np.random.default_rng(seed)
    shares = TABLE2.sum(axis=1) / TABLE2.sum()
    latent = rng.choice(7, clips, p=shares)
    second = (latent + rng.integers(1, 7, clips)) % 7
    bin_shares = TABLE2 / TABLE2.sum(axis=1, keepdims=True)
    bins = (rng.random(clips)[:, None] > np.cumsum(bin_shares[latent], axis=1)).sum(axis=1)
    bins = np.minimum(bins, 2)
    lows = np.array([lo for lo, _ in BIN_EDGES])[bins]
    highs = np.array([hi for _, hi in BIN_EDGES])[bins]
    durations = np.round(lows + rng.random(clips) * (highs - lows), 3)
    clarity = rng.beta(4.0, 1.5, clips)[:, None]
    other = rng.choice(7, (clips, RATERS), p=shares)
    emotions = np.where(rng.random((clips, RATERS)) < clarity, latent[:, None],
                        np.where(rng.random((clips, RATERS)) < 0.9, second[:, None], other))
    # 10 distinct annotators of 12 per clip: a random permutation's first 10.
    annotators = np.argsort(rng.random((clips, ANNOTATORS)), axis=1)[:, :RATERS]
    return durations, annotators, emotions + 1


def build_workspace(root: Path, clips: int, seed: int = 0) -> dict:
    """A workspace at root with `clips` clips x 10 votes, written by bulk inserts."""
    from dfew_build.workspace import init_workspace

    workspace, _ = init_workspace(root)
    url = workspace.database_url
    workspace.close()
    db = url[len("sqlite:///"):]
    durations, annotators, emotions = simulate(clips, seed)
    now = "2026-11-22 00:00:00.000000"
    started = time.perf_counter()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    with con:
        con.executemany("INSERT INTO person (id, name, role, active, created_at) "
                        "VALUES (?, ?, 'annotator', 1, ?)",
                        [(i + 1, f"simulated-annotator-{i + 1:02d}", now)
                         for i in range(ANNOTATORS)])
        con.executemany("INSERT INTO clip (id, start_s, end_s, duration_s, source, status, "
                        "created_at) VALUES (?, 0, ?, ?, 'imported', 'accepted', ?)",
                        ((i + 1, float(d), float(d), now) for i, d in enumerate(durations)))
        clip_ids = np.repeat(np.arange(1, clips + 1), RATERS).tolist()
        people = (annotators.ravel() + 1).tolist()
        con.executemany("INSERT INTO assignment (clip_id, annotator_id, source, assigned_at) "
                        "VALUES (?, ?, 'imported', ?)",
                        zip(clip_ids, people, [now] * len(people)))
        con.executemany("INSERT INTO vote (clip_id, annotator_id, emotion, created_at, "
                        "updated_at) VALUES (?, ?, ?, ?, ?)",
                        zip(clip_ids, people, emotions.ravel().tolist(), [now] * len(people),
                            [now] * len(people)))
    con.execute("ANALYZE")
    con.close()
    return {"clips": clips, "votes": clips * RATERS,
            "setup_s": round(time.perf_counter() - started, 2)}


def time_command(root: Path, *args: str) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the child, its JSON output) of a fresh process."""
    command = [sys.executable, "-c", "from dfew_build.cli import main; main()",
               "-w", str(root), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, json.loads(done.stdout)


def time_in_process(root: Path, *args: str) -> float:
    """Wall seconds of the command invoked in this (warm) process: the work without the
    interpreter start-up and imports."""
    from click.testing import CliRunner

    from dfew_build.cli import main

    runner = CliRunner()
    started = time.perf_counter()
    result = runner.invoke(main, ["-w", str(root), *args])
    elapsed = time.perf_counter() - started
    if result.exit_code:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.output}")
    return elapsed


def measure(root: Path, clips: int, seed: int, repeats: int) -> dict:
    ready = root / "READY"
    if ready.exists():
        setup = json.loads(ready.read_text())
    else:
        setup = build_workspace(root, clips, seed)
        ready.write_text(json.dumps(setup))
    result = dict(setup)
    for name, args in (("kappa", ("kappa", "--format", "json")),
                       ("labels", ("labels", "--json"))):
        times, cpus = [], []
        for _ in range(repeats):
            elapsed, cpu, output = time_command(root, *args)
            times.append(elapsed)
            cpus.append(cpu)
        time_in_process(root, *args)  # warm the imports
        warm = min(time_in_process(root, *args) for _ in range(repeats))
        best = min(times)
        result[name] = {"seconds": round(best, 3), "runs_s": [round(t, 3) for t in times],
                        "cpu_s": round(min(cpus), 3), "in_process_s": round(warm, 3),
                        "clips_per_s": round(clips / best),
                        "target_s": TARGETS_S.get(clips),
                        "met": best < TARGETS_S[clips] if clips in TARGETS_S else None}
        if name == "kappa":
            result[name]["kappa"] = output["overall"]["kappa"]
            result[name]["N"] = output["N"]
        else:
            result[name]["single_labelled"] = output["single_labelled"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, action="append",
                        help=f"clips to simulate (repeatable; default {DFEW_CLIPS} and 1000000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per command; "
                                                                "the best is reported")
    parser.add_argument("--keep", metavar="DIR", help="keep (and reuse) workspaces here")
    args = parser.parse_args()
    sizes = args.clips or [DFEW_CLIPS, 1_000_000]
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="labels-scale-"))
    results = {"cpu_count": os.cpu_count(), "repeats": args.repeats, "sizes": []}
    for clips in sizes:
        results["sizes"].append(measure(base / f"ws-{clips}-seed{args.seed}", clips,
                                        args.seed, args.repeats))
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
