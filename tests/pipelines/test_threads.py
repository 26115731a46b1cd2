"""humo.pipelines.common.cpu_threads: one thread for small batches, the idle cores for large ones."""

from humo.pipelines.common import SMALL_BATCH, cpu_threads


def test_small_batches_use_one_thread_whatever_the_machine():
    for batch in range(1, SMALL_BATCH + 1):
        assert cpu_threads(batch, cores=16, load=0.0) == 1


def test_large_batches_use_the_idle_cores():
    assert cpu_threads(32, cores=2, load=0.0) == 2
    assert cpu_threads(32, cores=2, load=1.2) == 1  # one core busy: never oversubscribe
    assert cpu_threads(32, cores=2, load=8.0) == 1  # a busy machine still gets one thread
    assert cpu_threads(32, cores=16, load=3.0) == 13
    assert cpu_threads(6, cores=16, load=0.0) == 6  # no more threads than samples per pass


def test_defaults_read_this_machine():
    assert 1 <= cpu_threads(64) <= 64
