"""The `humo` process as a user runs it (a real subprocess): usage errors, Ctrl-C, SIGTERM, concurrent
writes, output checks, progress, guidance ranges, empty files, BVH input, evaluate's path check and the
quickstart's promises. One test per numbered CLI defect of issue 14; each failed before the fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from humo.data.atomic import atomic_write_group
from humo.data.bvh import write_bvh
from tests.helpers import synthetic_joints

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--steps", "2", "--flow-steps", "2", "--seconds", "1", "--threads", "1"]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def start(*args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "humo", *map(str, args)], cwd=cwd, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def humo(*args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "humo", *map(str, args)], cwd=cwd, env=_env(), text=True,
                          capture_output=True, timeout=timeout)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out, err


def one_line_error(res, *words: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 3, res.stderr
    for w in words:
        assert w in res.stderr, (w, res.stderr)


def save_joints(path: Path, frames: int, scale: float = 1.0) -> Path:
    np.save(path, synthetic_joints(frames=frames).float().numpy() * scale)
    return path


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not predicate():
        assert proc.poll() is None, ("the process ended early", proc.communicate())
        assert time.monotonic() - t0 < timeout, "timed out waiting"
        time.sleep(0.1)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# 1 ---------------------------------------------------------------------------------------------------
def test_usage_errors_are_short_and_exit_2(tmp_path):
    cases = [["--seed", "abc"], ["generate", "--sed", "3"], [], ["nosuch"], ["generate", "x", "--seed", "abc"],
             ["generate", "--seed"], ["train"]]
    procs = [start(*c, cwd=tmp_path) for c in cases]  # in parallel: each is an interpreter start
    for case, proc in zip(cases, procs, strict=True):
        code, out, err = finish(proc, 120)
        assert code == 2, (case, code, err)
        assert "Traceback" not in err and len(err.splitlines()) <= 12, (case, err)
        assert "Usage" in out + err or "Error" in err, (case, out, err)


# 2 ---------------------------------------------------------------------------------------------------
def test_ctrl_c_during_the_mp4_write_exits_130_and_leaves_nothing(tmp_path):
    src = save_joints(tmp_path / "long.npy", 3000)
    proc = start("render", src, "--out", tmp_path / "long.mp4", cwd=tmp_path)
    wait_for(lambda: any(p.suffix == ".mp4" for p in tmp_path.iterdir()), proc)  # the hidden temp file
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc, 60)
    time.sleep(1.0)  # let a detached encoder finish, if one were left
    assert code == 130 and "interrupted" in err and "Traceback" not in err, (code, out, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npy"]


def test_ctrl_c_during_generate_exits_130_promptly(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a person walks forward#9\n" * 64)
    proc = start("generate", "--prompts", prompts, "--out", tmp_path / "m.npy", "--threads", "1", cwd=tmp_path)
    time.sleep(8.0)  # imports done, model loading or generating (64 prompts take minutes)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    code, out, err = finish(proc, 60)
    assert code == 130 and "interrupted" in err, (code, out, err)
    assert time.monotonic() - t0 < 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.txt"]


# 3 ---------------------------------------------------------------------------------------------------
def test_two_runs_racing_for_one_output_one_wins_and_its_files_match(tmp_path):
    import imageio_ffmpeg

    out = tmp_path / "race.mp4"
    runs = [start("generate", "a person runs", "--out", out, "--seed", str(i), *FAST[:4], "--seconds", str(s),
                  "--threads", "1", cwd=tmp_path) for i, s in ((0, 1), (1, 2))]
    results = [finish(p) for p in runs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    winner = next(r for r in results if r[0] == 0)
    loser = next(r for r in results if r[0] == 2)
    assert "exists" in loser[2] and "Traceback" not in loser[2]
    frames = np.load(out.with_suffix(".npy")).shape[0]
    assert f"({frames / 20:.1f} s" in winner[1]  # the joints are the winner's
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == frames  # and so is the video
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.mp4", "race.npy"]


def test_never_overwrite_is_enforced_at_commit_time_for_the_whole_unit(tmp_path):
    video, joints = tmp_path / "m.mp4", tmp_path / "m.npy"

    def write_video(tmp: Path) -> None:
        tmp.write_bytes(b"ours")
        video.write_bytes(b"theirs")  # another process commits its video meanwhile

    with pytest.raises(FileExistsError, match="m.mp4"):
        atomic_write_group([(joints, lambda t: t.write_bytes(b"ours")), (video, write_video)])
    assert video.read_bytes() == b"theirs" and not joints.exists()  # ours: neither file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mp4"]


# 4 ---------------------------------------------------------------------------------------------------
def test_output_location_is_checked_before_any_work(tmp_path):
    res = humo("generate", "a person runs", "--out", tmp_path / "missing" / "x.mp4", cwd=tmp_path, timeout=120)
    one_line_error(res, str(tmp_path / "missing"), "does not exist")
    assert not (tmp_path / "missing").exists() and res.stdout == ""
    one_line_error(humo("generate", "a person runs", "--out", "x.txt", cwd=tmp_path, timeout=120), "x.txt", ".txt")
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        one_line_error(humo("generate", "walk", "--out", ro / "x.mp4", cwd=tmp_path, timeout=120),
                       str(ro / "x.mp4"), "permission")


# 5 ---------------------------------------------------------------------------------------------------
def test_sigterm_cleans_up_temp_files(tmp_path):
    src = save_joints(tmp_path / "long.npy", 3000)
    proc = start("render", src, "--out", tmp_path / "long.mp4", cwd=tmp_path)
    wait_for(lambda: bool(hidden(tmp_path)), proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc, 60)
    time.sleep(1.0)
    assert code == 143 and "interrupted" in err, (code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npy"]


# 6 ---------------------------------------------------------------------------------------------------
def test_render_shows_progress_on_stderr_unless_quiet(tmp_path):
    src = save_joints(tmp_path / "m.npy", 200)
    loud = start("render", src, "--out", tmp_path / "a.mp4", cwd=tmp_path)
    quiet = start("render", src, "--out", tmp_path / "b.mp4", "-q", cwd=tmp_path)
    (c1, o1, e1), (c2, _, e2) = finish(loud), finish(quiet)
    assert c1 == c2 == 0, (e1, e2)
    assert "rendering" in e1 and "200/200" in e1 and e2 == ""
    assert o1.strip() == f"wrote {tmp_path / 'a.mp4'}"


# 7 ---------------------------------------------------------------------------------------------------
def test_guidance_ranges_and_absurd_coordinates_are_refused(tmp_path):
    for bad in ("1e6", "-1"):
        res = humo("generate", "a person runs", "--cfg", bad, "--out", "x.npy", *FAST, cwd=tmp_path, timeout=120)
        assert res.returncode == 2 and "--cfg" in res.stderr and "Traceback" not in res.stderr, res.stderr
    src = save_joints(tmp_path / "giant.npy", 40, scale=1e4)  # a 17 km tall figure
    res = humo("render", src, "--out", tmp_path / "g.mp4", cwd=tmp_path, timeout=60)
    one_line_error(res, "giant.npy", "not joints in metres")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["giant.npy"]


# 8 ---------------------------------------------------------------------------------------------------
def test_empty_npy_names_the_file_and_the_problem(tmp_path):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    cases = [["render", empty, "--out", "a.png"], ["export", empty, "--out", "a.json"],
             ["edit", empty, "a person jumps", "--span", "0:1", "--out", "a.npy"], ["represent", empty]]
    for case, proc in zip(cases, [start(*c, cwd=tmp_path) for c in cases], strict=True):
        code, _, err = finish(proc, 120)
        assert code == 2 and "empty.npy is empty" in err and "aborted" not in err.lower(), (case, err)


# 9 ---------------------------------------------------------------------------------------------------
def test_represent_reads_bvh(tmp_path):
    write_bvh(tmp_path / "walk.bvh", synthetic_joints(frames=30).float())
    (tmp_path / "bad.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")
    res = humo("represent", "walk.bvh", "--out", "f.npy", cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "joints (30, 22, 3) -> features (29, 263)" in res.stdout and np.load(tmp_path / "f.npy").shape == (29, 263)
    bad = humo("represent", "bad.bvh", cwd=tmp_path, timeout=120)
    one_line_error(bad, "bad.bvh")
    assert "pickled" not in bad.stderr


# 10 --------------------------------------------------------------------------------------------------
def test_evaluate_checks_the_corpus_path_first(tmp_path):
    t0 = time.monotonic()
    res = humo("evaluate", tmp_path / "no-corpus", "--evaluator", "someone/some-evaluator", cwd=tmp_path, timeout=120)
    one_line_error(res, f"corpus folder {tmp_path / 'no-corpus'} not found")
    assert time.monotonic() - t0 < 20  # no model load, no hub retries
    corpus, ev = tmp_path / "corpus", tmp_path / "evaluator"
    corpus.mkdir()
    ev.mkdir()
    (corpus / "test.txt").write_text("a\n")
    for flags, message in ((("--solver", "rk4"), "unknown --solver 'rk4'"), (("--steps", "0"), "--steps")):
        res = humo("evaluate", corpus, "--evaluator", ev, *flags, cwd=tmp_path, timeout=120)
        one_line_error(res, message)  # refused before any model is loaded


# 11 --------------------------------------------------------------------------------------------------
def test_several_prompts_make_one_contact_sheet_and_edit_names_the_span(tmp_path):
    res = humo("generate", "a person runs", "a person waves", "--out", "sheet.png", "--seed", "0", *FAST,
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png", "sheet_000.npy", "sheet_001.npy"]
    help_text = humo("edit", "--help", cwd=tmp_path, timeout=120).stdout
    assert "--span" in help_text and "--keep" not in help_text
    quickstart = (ROOT / "docs" / "quickstart.md").read_text()
    assert "--span" in quickstart and "--keep" not in quickstart and "one contact sheet" in quickstart


# 12 --------------------------------------------------------------------------------------------------
def test_english_only_is_said_in_help_and_warned(tmp_path):
    help_text = " ".join(humo("generate", "--help", cwd=tmp_path, timeout=120).stdout.split())
    assert "English-only" in help_text
    res = humo("generate", "一个人在跑步", "--out", tmp_path / "missing" / "x.npy", cwd=tmp_path, timeout=120)
    assert res.returncode == 2 and "does not look like English" in res.stderr, res.stderr
