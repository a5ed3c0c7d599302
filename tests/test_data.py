"""Data of any size and kind: NumPy arrays, DataFrames, bytes-likes and nests of them as
arguments, globals and return values, on both stores, around the sizes where the framing,
pickle and the stores change how they move bytes."""

from __future__ import annotations

import os

import datafns
import numpy as np
import pandas as pd
import pytest

import kinetic
from kinetic.store import open_store
from kinetic.store.store_contract import CHUNK_SIZE
from kinetic.wire.framing import HEADER_SIZE, SPOOL_LIMIT, frame, load_framed, store_framed

KIB, MIB = 1024, 1024 * 1024
# pickle's frames (64 KiB), the GCS store's download block (1 MiB), upload chunk (set to 1
# MiB below) and upload block (4 MiB), its single-request limit and the file store's copy
# chunk (8 MiB), the framing's in-memory spool (32 MiB).
BOUNDARIES = [64 * KIB, 1 * MIB, 4 * MIB, CHUNK_SIZE, SPOOL_LIMIT]


@pytest.fixture
def small_gcs_chunks(monkeypatch):
    """Resumable GCS uploads in 1 MiB chunks, so MiB sizes cross chunk boundaries."""
    monkeypatch.setenv("KINETIC_GCS_CHUNK_MB", "1")


def array_framed_to(target: int) -> np.ndarray:
    """A uint8 array whose framed object (header + pickle) is exactly ``target`` bytes."""
    n = max(0, target - 200)
    for _ in range(4):
        framed = frame(np.zeros(n, np.uint8))
        size = HEADER_SIZE + framed.digest.size
        framed.close()
        if size == target:
            return np.arange(n, dtype=np.uint8)
        n += target - size
    raise AssertionError(f"cannot frame an array to exactly {target} bytes")


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=lambda b: f"{b // KIB}KiB")
def test_framed_objects_at_store_boundaries(store_uri, small_gcs_chunks, boundary):
    store = open_store(store_uri)
    for target in (boundary - 1, boundary, boundary + 1):
        value = array_framed_to(target)
        key = f"jobs/x/obj-{target}.pkl"
        digest = store_framed(store, key, frame(value))
        assert [o.size for o in store.list("jobs/x") if o.key == key] == [target]
        back = load_framed(store, key, digest.sha256)
        assert back.dtype == value.dtype and np.array_equal(back, value)


def test_values_of_every_kind_travel_both_ways(store_uri, small_gcs_chunks):
    big = np.random.default_rng(0).standard_normal((300, 500))  # 1.2 MB
    value = {
        "empty": np.zeros(0),
        "under_64k": np.ones(64 * KIB // 8 - 1),
        "at_64k": np.ones(64 * KIB // 8),
        "over_64k": np.ones(64 * KIB // 8 + 1),
        "matrix": big,
        "fortran": np.asfortranarray(big),
        "strided": big[::2, ::3],
        "ints": np.arange(9000, dtype=np.int32),
        "frame": pd.DataFrame({"a": np.arange(50_000), "b": np.linspace(0, 1, 50_000)}),
        "bytes": os.urandom(100 * KIB),
        "bytearray": bytearray(os.urandom(70 * KIB)),
        "memoryview": memoryview(np.arange(30_000, dtype=np.float32)),
        "nest": [(np.ones(10_000), b"x" * 70_000), {"deep": [np.zeros((2, 40_000))]}],
    }
    job = kinetic.run()(datafns.echo).run_async(value)
    back = job.result(timeout=120)
    assert back.keys() == value.keys()
    for name in ("empty", "under_64k", "at_64k", "over_64k", "matrix", "fortran", "strided"):
        assert np.array_equal(back[name], value[name]) and back[name].shape == value[name].shape
    assert back["fortran"].flags.f_contiguous
    pd.testing.assert_frame_equal(back["frame"], value["frame"])
    assert back["bytes"] == value["bytes"] and isinstance(back["bytes"], bytes)
    assert back["bytearray"] == value["bytearray"] and isinstance(back["bytearray"], bytearray)
    assert isinstance(back["memoryview"], memoryview)
    assert (
        back["memoryview"].format == "f"
        and back["memoryview"].tolist() == value["memoryview"].tolist()
    )
    assert np.array_equal(back["nest"][0][0], value["nest"][0][0])
    assert back["nest"][0][1] == value["nest"][0][1]
    assert np.array_equal(back["nest"][1]["deep"][0], value["nest"][1]["deep"][0])
    # What the job itself saw, to be sure the values crossed as what they are.
    seen = kinetic.run()(datafns.describe).run_async(value).result(timeout=120)
    assert seen["fortran"] == ("ndarray", "<f8", (300, 500), True)
    assert seen["frame"][0] == "DataFrame" and seen["memoryview"][0] == "memoryview"


def test_global_arrays_and_large_returns(store_uri, small_gcs_chunks):
    """A global array the function uses travels with it; a 9 MiB array comes back (over
    the single-request, copy-chunk and upload-chunk sizes)."""
    x = np.ones(20_000)
    assert kinetic.run()(datafns.weighted).run_async(x).result(timeout=120) == float(
        datafns.WEIGHTS.sum()
    )
    local = np.arange(100_000, dtype=np.float64)

    def closure():
        return local * 2  # a captured local array, 800 KB, and one as big back

    assert np.array_equal(kinetic.run()(closure).run_async().result(timeout=120), local * 2)
    n = 9 * MIB + 3
    back = kinetic.run()(datafns.make_array).run_async(n).result(timeout=120)
    assert back.nbytes == n and np.array_equal(back, np.arange(n, dtype=np.uint8))


@pytest.mark.skipif(not os.environ.get("KINETIC_BIG_DATA_TESTS"),
                    reason="2 GiB each way: set KINETIC_BIG_DATA_TESTS=1")  # fmt: skip
def test_two_gigabytes_each_way(tmp_path):
    value = np.ones(2 * 1024**3 // 8 + 1)
    total = kinetic.run()(datafns.total).run_async(value)
    assert total.result(timeout=1800) == float(len(value))
    back = kinetic.run()(datafns.make_array).run_async(2 * 1024**3 + 1).result(timeout=1800)
    assert back.nbytes == 2 * 1024**3 + 1 and back[-1] == (2 * 1024**3) % 256


def test_artifacts_of_the_first_framing_still_read(tmp_path):
    """KINETIC1: the header, then the pickle alone (as earlier versions wrote it)."""
    import hashlib
    import pickle

    body = pickle.dumps({"a": np.arange(5)}, protocol=5)
    sha = hashlib.sha256(body).hexdigest()
    store = open_store(tmp_path / "s")
    store.write_bytes("jobs/x/result.pkl", b"KINETIC1 %s %d\n" % (sha.encode(), len(body)) + body)
    back = load_framed(store, "jobs/x/result.pkl", sha)
    assert np.array_equal(back["a"], np.arange(5))
