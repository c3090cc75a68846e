#!/usr/bin/env python3
"""moesim calibration kit: DeepEP V2-style bulk-copy warps on one SM.

DeepEP V2 moves a token as one bulk (TMA) load into a warp's shared-memory
buffer and one bulk store per destination, one token in flight per warp.
This script times exactly that on one GPU (local HBM; bulk.cu) and writes
a JSON profile section, `bulk_warps`, with a row per run:

  chain     one warp, per iteration `loads` bulk loads (each waited) then
            `stores` bulk stores and a wait for their completion: the time
            a V2 warp spends per record when nothing else runs;
  saturate  1 to 28 warps on one SM, copy (1 load, 1 store), load only,
            store only: the SM's bulk rates and how many warps reach them;
  share     two kinds of warps on one SM (copies beside 3-row loads with a
            store, as a V2 combine's scale-up and forward warps), each
            kind alone and together: how the SM's copy engine splits
            between warps;
  sms       the copy on 1 and 4 SMs: that one SM's rate scales.

Run: python3 topology/probe/bulk.py --out bulk.json  (one GPU, about 30 s
with compilation). Uses CuPy/NVRTC only; no NCCL, no DeepEP.
"""
import argparse
import datetime
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KIT_VERSION = "1.1.0"
SPAN = 1 << 30
# One block per SM: a block asks for at least this much shared memory, more
# than half of an SM's.
MIN_SMEM = 120 * 1024


def log(msg):
    print(msg, flush=True)


def main():
    ap = argparse.ArgumentParser(description="time DeepEP V2-style bulk-copy warps on one SM; write a JSON profile section")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--quick", action="store_true", help="few points (smoke test)")
    args = ap.parse_args()

    import cupy as cp
    import numpy as np

    t_start = time.time()
    props = cp.cuda.runtime.getDeviceProperties(0)
    gpu = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    prof = {"kit_version": KIT_VERSION, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "gpu": {"name": gpu, "sms": int(props["multiProcessorCount"]), "cc": f"{props['major']}.{props['minor']}"},
            "bulk_warps": [], "notes": []}
    log(f"bulk: {gpu}, {prof['gpu']['sms']} SMs, cc {prof['gpu']['cc']}")

    mod = cp.RawModule(code=open(os.path.join(HERE, "bulk.cu")).read(), options=("-std=c++17",))
    k = mod.get_function("bulk_warps")
    k.max_dynamic_shared_size_bytes = 232448
    src = cp.random.randint(0, 255, SPAN, dtype=cp.uint8)
    dst = cp.zeros(SPAN, dtype=cp.uint8)
    out = cp.zeros(2 * 32 * 8, dtype=cp.uint64)

    def launch(blocks, W, rec, iters, nA, la, sa, lb, sb):
        slot = (rec + 127) // 128 * 128
        smem = max(W * slot + 8 * W, MIN_SMEM)
        k((blocks,), (32 * W,), (np.uint64(src.data.ptr), np.uint64(dst.data.ptr), np.uint64(SPAN), np.uint32(rec),
                                 np.int32(iters), np.int32(nA), np.int32(la), np.int32(sa), np.int32(lb), np.int32(sb),
                                 np.uint64(out.data.ptr)), shared_mem=smem)

    # Correctness: one warp loads slot 0 and stores it to slot 1.
    rec0 = 14400
    launch(1, 1, rec0, 1, 1, 1, 1, 0, 0)
    cp.cuda.Device(0).synchronize()
    slot0 = (rec0 + 127) // 128 * 128
    ok = bool((dst[slot0:slot0 + rec0] == src[0:rec0]).all())
    log(f"bulk self-check: {'ok' if ok else 'MISMATCH'}")
    if not ok:
        prof["notes"].append("bulk self-check failed: the stored record differs from the loaded one; rows not measured")
        json.dump(prof, open(args.out, "w"), indent=1)
        return 1

    reps = 3 if args.quick else 7

    def run(kind, blocks, W, rec, nA, la, sa, lb, sb, target_bytes=64e6):
        per_iter = max(1, (nA * (la + sa) + (W - nA) * (lb + sb))) * rec * blocks
        iters = max(50, int(target_bytes / per_iter))
        launch(blocks, W, rec, 10, nA, la, sa, lb, sb)  # warm-up
        times, durs = [], []
        for _ in range(reps):
            a, b = cp.cuda.Event(), cp.cuda.Event()
            a.record()
            launch(blocks, W, rec, iters, nA, la, sa, lb, sb)
            b.record()
            b.synchronize()
            times.append(cp.cuda.get_elapsed_time(a, b) * 1e-3)
            o = out.get()[: 2 * W * blocks].reshape(-1, 2)
            durs.append((o[:, 1] - o[:, 0]).astype(np.float64) * 1e-9)
        sec = statistics.median(times)
        d = np.median(np.stack(durs), axis=0)  # per warp
        cls = np.array([(w % W) < nA for w in range(W * blocks)])
        row = {"kind": kind, "blocks": blocks, "warps": W, "record_bytes": rec, "iters": iters,
               "a": {"warps": nA, "loads": la, "stores": sa}, "b": {"warps": W - nA, "loads": lb, "stores": sb},
               "seconds": sec}
        for name, mask, l, s in (("a", cls, la, sa), ("b", ~cls, lb, sb)):
            n = int(mask.sum())
            if n == 0:
                continue
            t = float(np.median(d[mask]))
            row[name].update({"seconds_per_iter": t / iters,
                              "load_GBps": n * iters * l * rec / t / 1e9,
                              "store_GBps": n * iters * s * rec / t / 1e9})
        prof["bulk_warps"].append(row)

        def fmt(c):
            x = row.get(c, {})
            if "seconds_per_iter" not in x:
                return ""
            return (f"{c}: {x['warps']}w L{x['loads']}S{x['stores']} {x['seconds_per_iter'] * 1e6:7.3f} us/iter "
                    f"load {x['load_GBps']:6.1f} store {x['store_GBps']:6.1f} GB/s")
        log(f"{kind:8s} blocks={blocks} W={W:2d} rec={rec:5d} {sec * 1e3:7.3f} ms | {fmt('a')} | {fmt('b')}")
        return row

    recs = [7520, 14400]
    # chain: one warp alone
    for rec in recs:
        for la, sa in ([(1, 0), (1, 1), (3, 1)] if args.quick else [(1, 0), (0, 1), (1, 1), (1, 2), (1, 4), (2, 1), (3, 1)]):
            run("chain", 1, 1, rec, 1, la, sa, 0, 0, target_bytes=8e6)
    # saturate: warps on one SM
    for rec in recs:
        most = (232448 - 1024) // ((rec + 127) // 128 * 128 + 8)
        ws = [w for w in ([1, 4, 16] if args.quick else [1, 2, 4, 8, 12, 16, 20, 24, 28]) if w <= min(most, 28)]
        for la, sa in [(1, 1), (1, 0), (0, 1)]:
            for W in ws:
                run("saturate", 1, W, rec, W, la, sa, 0, 0)
    # share: V2 combine's scale-up (copy) and forward (3 loads, 1 store) warps
    rec = 14400
    for W in ([8] if args.quick else [4, 8]):
        run("share", 1, W, rec, W, 1, 1, 0, 0)
        run("share", 1, W, rec, W, 3, 1, 0, 0)
        run("share", 1, 2 * W, rec, W, 1, 1, 3, 1)
    # dispatch-like: one load, four stores, beside copies
    run("share", 1, 16, 7520, 8, 1, 1, 1, 4)
    # sms: one SM's rate scales
    for blocks in [1, 4]:
        run("sms", blocks, 8, 14400, 8, 1, 1, 0, 0)

    prof["notes"].append("bulk_warps: cp.async.bulk global->shared (mbarrier) loads and shared->global bulk stores with "
                         "wait_group 0 per iteration, lane 0 of each warp, local HBM, records rotating through 1 GiB; "
                         "seconds_per_iter from each warp's %globaltimer, median over warps and over "
                         f"{reps} runs; GB/s per class = its warps' bytes over their median time")
    prof["seconds_total"] = round(time.time() - t_start, 1)
    with open(args.out, "w") as f:
        json.dump(prof, f, indent=1)
    log(f"bulk: wrote {args.out} in {prof['seconds_total']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
