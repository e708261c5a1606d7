"""A bounded process-pool map: results stream back as tasks finish, with a cap on tasks in flight,
so memory stays flat however many tasks there are."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def single_threaded_worker() -> None:
    """One process per core already: keep OpenCV and BLAS from oversubscribing the cores. And keep
    freed memory in the worker's heap instead of returning it to the system."""
    import os

    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    import cv2

    cv2.setNumThreads(1)
    keep_freed_memory_in_heap()


def pool_worker(parent_pid: int) -> None:
    """Initializer of bounded_map's workers: single-threaded, and dying with the run's process.
    A process pool's workers outlive a parent killed with SIGKILL (nothing tells them: they finish
    the queued tasks, then wait forever), so each watches its parent and exits once it is gone."""
    single_threaded_worker()
    import threading

    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), name="cardioml-parent-watch", daemon=True).start()


PARENT_POLL_S = 0.5


def _exit_when_orphaned(parent_pid: int) -> None:
    import os
    import time

    while os.getppid() == parent_pid:  # a dead parent's children are re-parented (to init or a subreaper)
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def keep_freed_memory_in_heap(mmap_threshold: int = 32 << 20, trim_threshold: int = 128 << 20) -> bool:
    """glibc serves every allocation above 128 KiB (an image-sized array) with a fresh mmap and
    unmaps it on free, so each new array pays page faults to zero its pages again: ~20 % of the
    image processing time. Raising the mmap and trim thresholds lets the heap reuse those blocks.
    Resident memory stays bounded (at most `trim_threshold` of free heap is kept). No-op (False)
    where the C library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(mallopt(m_trim_threshold, trim_threshold))


def bounded_map(function: Callable[[T], R], tasks: Iterable[T], workers: int, in_flight: int | None = None) -> Iterator[tuple[T, R]]:
    """(task, function(task)) pairs in completion order; in-process when workers <= 1."""
    if workers <= 1:
        for task in tasks:
            yield task, function(task)
        return
    in_flight = in_flight or workers * 8
    context = get_context("spawn")  # the caller may run threads (Dagster does): never fork them
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=pool_worker, initargs=(os.getpid(),)) as pool:
        pending: dict[Future, T] = {}
        iterator = iter(tasks)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < in_flight:
                try:
                    task = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                pending[pool.submit(function, task)] = task
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()


def bounded_map_dask(function: Callable[[T], R], tasks: Iterable[T], scheduler_address: str | None, in_flight: int = 64, local_workers: int = 2) -> Iterator[tuple[T, R]]:
    """The same contract as bounded_map, on a Dask distributed cluster: the scheduler at
    `scheduler_address`, or a local cluster of `local_workers` processes when it is None.
    Workers must see the same file system paths as the caller (a shared volume)."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler_address is None:
        cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True, dashboard_address=None)
        scheduler_address = cluster.scheduler_address
    try:
        with Client(scheduler_address) as client:
            client.run(single_threaded_worker)
            iterator = iter(tasks)
            futures = {}
            for task in iterator:
                futures[client.submit(function, task, pure=False)] = task
                if len(futures) >= in_flight:
                    break
            pending = as_completed(list(futures))
            for future in pending:
                task = futures.pop(future)
                result = future.result()
                future.release()
                yield task, result
                following = next(iterator, None)
                if following is not None:
                    new = client.submit(function, following, pure=False)
                    futures[new] = following
                    pending.add(new)
    finally:
        if cluster is not None:
            cluster.close()
