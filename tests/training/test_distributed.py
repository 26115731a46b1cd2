"""Two real processes (torchrun, gloo, CPU) against one: training, resume, metrics and the protocol.

One 2-process launch (distributed_worker.py) trains the autoencoder and CoAMD with batch B per process
(the autoencoder also stopped at step 3 and resumed), and evaluates the accumulator and the protocol on
per-process shards; here one process trains with batch 2B and evaluates everything alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from humo.models.autoencoder import MotionAutoencoder
from tests.helpers import FakeTextEncoder, write_tiny_corpus
from tests.training.distributed_cases import AE_KW, COAMD_KW, B, accumulator_case, losses, protocol_case

WORKER = Path(__file__).with_name("distributed_worker.py")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    root = tmp_path_factory.mktemp("dist")
    write_tiny_corpus(root / "corpus")
    torch.manual_seed(0)
    MotionAutoencoder.from_preset("tiny").save_pretrained(root / "ae" / "final")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(WORKER.parents[2]),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(WORKER), str(root)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return root


@pytest.fixture(scope="module")
def dist_result(work) -> dict:
    return json.loads((work / "dist.json").read_text())


def test_distributed_run_used_two_processes(dist_result):
    assert dist_result["world"] == 2


def test_distributed_autoencoder_matches_one_process_with_double_batch(work, dist_result, tmp_path):
    from humo.training.autoencoder import train_autoencoder

    one = losses(train_autoencoder(work / "corpus", tmp_path / "ae-1p", **{**AE_KW, "batch_size": 2 * B}).history)
    two = dist_result["ae_losses"]
    assert len(one) == len(two) == AE_KW["steps"]
    assert two == pytest.approx(one, rel=1e-4)  # same windows, averaged gradients: the same trajectory
    a = load_file(str(work / "ae-2p" / "final" / "model.safetensors"))
    b = load_file(str(tmp_path / "ae-1p" / "final" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-5)


def test_distributed_stop_and_resume_equals_uninterrupted(work, dist_result):
    assert dist_result["ae_resumed_from"] == 3
    a = load_file(str(work / "ae-2p" / "final" / "model.safetensors"))
    b = load_file(str(work / "ae-2p-resumed" / "final" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


def test_distributed_coamd_matches_one_process_with_double_batch(work, dist_result, tmp_path):
    from humo.training.coamd import train_coamd

    kw = {**COAMD_KW, "batch_size": 2 * B, "text_encoder": FakeTextEncoder()}
    one = losses(train_coamd(work / "corpus", work / "ae", tmp_path / "coamd-1p", **kw).history)
    two = dist_result["coamd_losses"]
    assert len(one) == len(two) == COAMD_KW["steps"]
    # the same items, windows and token masks; the flow times and noise are drawn per process, so the
    # per-step losses agree only statistically
    assert two == pytest.approx(one, rel=0.25)
    assert sum(two) / len(two) == pytest.approx(sum(one) / len(one), rel=0.1)


def test_distributed_accumulator_equals_one_rank(dist_result):
    assert dist_result["accumulator"] == pytest.approx(accumulator_case())


def test_distributed_protocol_equals_one_rank(dist_result):
    one = protocol_case()
    two = dist_result["protocol"]
    assert two.keys() == one.keys()
    for row in one:
        assert two[row].keys() == one[row].keys()
        for metric in one[row]:
            assert two[row][metric]["values"] == pytest.approx(one[row][metric]["values"], rel=1e-5), (row, metric)
