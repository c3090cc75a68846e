#!/usr/bin/env python3
"""moesim GPU calibration kit.

One command, on one node with 1 or 2 GPUs:

    python3 topology/probe/probe.py --out PROFILE.json [--nic nic.json] [--quick]

measures the primitives a DeepEP-style dispatch/combine kernel is made of (SM
copies local and over NVLink, per-warp record copies, the chunk handshake, flag
latency, BF16 reduction, NVLink bandwidth, GEMMs beside held SMs, copy/GEMM
interference, the start delay of a kernel launched behind a GEMM) with our own
CUDA kernels (CuPy RawModule, NVRTC) and torch.matmul, and writes one JSON
profile. `moesim calibrate PROFILE.json --out HW.yaml` turns it into a
hardware file. See README.md beside this file.

No NCCL collectives, no DeepEP, no MoE communication library is used.
"""

import argparse
import ctypes
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

KIT_VERSION = "1.0.0"
HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20
GiB = 1 << 30
HIDDEN = 7168

cp = None      # cupy
np = None      # numpy
torch = None


def log(*a):
    print(*a, flush=True)


def med(xs):
    return float(statistics.median(xs))


def u64(x):
    return np.uint64(x)


def i32(x):
    return np.int32(x)


# ---------------------------------------------------------------------------
class Probe:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.t_start = time.time()
        self.budget = args.budget_s
        self.prof = {
            "kit_version": KIT_VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "gpu": {},
            "copy_sms": [],
            "copy_warps": [],
            "handshake": [],
            "flag_latency": [],
            "reduce": [],
            "nvlink_bw": [],
            "gemm": [],
            "gemm_kernels": [],
            "interference": [],
            "no_carveout": [],
            "notes": [],
        }
        self.kern_cache = {}
        self.smem_set = set()
        self.nvml = None
        self.nvml_handles = {}

    # -- bookkeeping -------------------------------------------------------
    def note(self, s):
        log("NOTE: " + s)
        self.prof["notes"].append(s)

    def save(self):
        out = self.args.out
        d = os.path.dirname(os.path.abspath(out))
        os.makedirs(d, exist_ok=True)
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(finite(self.prof), f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, out)

    def elapsed(self):
        return time.time() - self.t_start

    def over_budget(self, what):
        if self.elapsed() > self.budget:
            self.note(f"{what}: skipped, the kit's time budget ({self.budget:.0f} s) was spent")
            return True
        return False

    def section(self, name, fn):
        if self.over_budget(name):
            return
        t = time.time()
        log(f"\n===== {name} (t={self.elapsed():.1f}s)")
        try:
            fn()
        except Exception as e:  # record and go on
            traceback.print_exc()
            self.note(f"{name}: failed: {type(e).__name__}: {str(e)[:300]}")
        log(f"===== {name} done in {time.time() - t:.1f}s")
        self.save()

    # -- CUDA helpers ------------------------------------------------------
    def kern(self, name, module="main"):
        key = (module, name)
        if key not in self.kern_cache:
            self.kern_cache[key] = self.modules[module].get_function(name)
        return self.kern_cache[key]

    def launch(self, dev, name, grid, block, args, smem=0, stream=None, module="main"):
        k = self.kern(name, module)
        with cp.cuda.Device(dev):
            if smem > 48 * 1024 and (module, name, dev, smem) not in self.smem_set:
                k.max_dynamic_shared_size_bytes = smem
                self.smem_set.add((module, name, dev, smem))
            k((grid,), (block,), args, shared_mem=smem, stream=stream)

    def event(self, dev, stream):
        with cp.cuda.Device(dev):
            e = cp.cuda.Event()
            e.record(stream)
        return e

    def wait_ev(self, ev, timeout=60.0):
        t = time.time()
        while not ev.done:
            if time.time() - t > timeout:
                raise TimeoutError(f"GPU work did not finish in {timeout:.0f} s")
            time.sleep(0.0002)

    def sync(self, dev, timeout=60.0):
        with cp.cuda.Device(dev):
            for s in self.streams[dev]:
                self.wait_ev(self.event(dev, s), timeout)
        torch.cuda.synchronize(dev)

    def sync_all(self):
        for d in range(self.ngpu):
            self.sync(d)

    def timed(self, dev, stream, fn, reps, warmup=1):
        """fn(rep) enqueues work on stream; returns (median seconds, all)."""
        with cp.cuda.Device(dev):
            for w in range(warmup):
                fn(w)
            evs = []
            for r in range(reps):
                a = cp.cuda.Event()
                b = cp.cuda.Event()
                a.record(stream)
                fn(warmup + r)
                b.record(stream)
                evs.append((a, b))
            self.wait_ev(evs[-1][1])
            ts = [cp.cuda.get_elapsed_time(a, b) * 1e-3 for a, b in evs]
        return med(ts), ts

    def autosize(self, dev, stream, make, n0, nmax, target_s, quantum):
        """make(n) -> fn(rep). Scale n so one run takes about target_s."""
        n0 = max(quantum, min(n0, nmax) // quantum * quantum)
        t, _ = self.timed(dev, stream, make(n0), 1, 1)
        n = int(n0 * target_s / max(t, 1e-7))
        n = max(n0, min(nmax, n)) // quantum * quantum
        return max(quantum, n)

    def rot(self, rep, nbytes, pool):
        slots = max(1, pool // max(nbytes, 1))
        return (rep % slots) * nbytes

    # -- setup ---------------------------------------------------------------
    def setup(self):
        global cp, np, torch
        import numpy
        import cupy
        import torch as _torch
        np, cp, torch = numpy, cupy, _torch
        n = cp.cuda.runtime.getDeviceCount()
        if n < 1:
            raise SystemExit("no CUDA GPU")
        self.ngpu = 1
        if n >= 2 and not self.args.one_gpu:
            ok01 = cp.cuda.runtime.deviceCanAccessPeer(0, 1)
            ok10 = cp.cuda.runtime.deviceCanAccessPeer(1, 0)
            if ok01 and ok10:
                for a, b in ((0, 1), (1, 0)):
                    with cp.cuda.Device(a):
                        try:
                            cp.cuda.runtime.deviceEnablePeerAccess(b)
                        except cp.cuda.runtime.CUDARuntimeError as e:
                            if "AlreadyEnabled" not in str(e):
                                raise
                self.ngpu = 2
            else:
                self.note(f"GPUs 0 and 1 cannot access each other's memory (peer access {ok01},{ok10}): one-GPU measurements only")
        else:
            why = "--one-gpu given" if n >= 2 else "one GPU visible"
            self.note(f"one GPU used ({why}): NVLink measurements (nvlink_store, nvlink_load, nvlink handshake and flag latency, nvlink_bw) not taken")
        if n > 2:
            self.note(f"{n} GPUs visible; the kit uses GPUs 0 and 1 only")
        self.streams = {}
        for d in range(self.ngpu):
            with cp.cuda.Device(d):
                self.streams[d] = [cp.cuda.Stream(non_blocking=True) for _ in range(3)]
        attrs = cp.cuda.Device(0).attributes
        self.sms = int(attrs["MultiProcessorCount"])
        self.smem_optin = int(attrs["MaxSharedMemoryPerBlockOptin"])
        # dynamic shared memory that allows one block per SM and leaves no room
        # for a GEMM block beside it
        self.smem_one = self.smem_optin - 1024
        src = open(os.path.join(HERE, "kernels.cu")).read()
        self.modules = {"main": cp.RawModule(code=src, options=("-std=c++17",))}
        t = time.time()
        for d in range(self.ngpu):
            with cp.cuda.Device(d):
                for name in ("copy_v16", "copy_records", "copy_persist", "occupy", "wait_count", "set_flag",
                             "stamp", "publish_time", "hs_producer", "hs_consumer", "pingpong", "reduce_bf16"):
                    self.kern(name).kernel  # compile and load now
        log(f"compiled kernels.cu for {self.ngpu} GPU(s) in {time.time() - t:.1f}s")
        # buffers
        self.pool = (256 if self.quick else 1024) * MiB
        self.A, self.B = {}, {}
        for d in range(self.ngpu):
            with torch.cuda.device(d):
                self.A[d] = torch.randint(-2**31, 2**31 - 1, (self.pool // 4,), dtype=torch.int32, device=f"cuda:{d}")
                self.B[d] = torch.randint(-2**31, 2**31 - 1, (self.pool // 4,), dtype=torch.int32, device=f"cuda:{d}")
        # small control words per GPU: [0..63] ints
        self.ctl = {}
        self.err = {}
        self.tim = {}
        for d in range(self.ngpu):
            self.ctl[d] = torch.zeros(1024, dtype=torch.int32, device=f"cuda:{d}")
            self.err[d] = torch.zeros(16, dtype=torch.int32, device=f"cuda:{d}")
            self.tim[d] = torch.zeros(4096, dtype=torch.int64, device=f"cuda:{d}")
        for d in range(self.ngpu):
            torch.cuda.synchronize(d)
        self.init_nvml()

    def ptr(self, t, byte_off=0):
        return u64(t.data_ptr() + byte_off)

    def check_err(self, d, what):
        e = self.err[d].cpu().tolist()
        if any(e):
            self.err[d].zero_()
            torch.cuda.synchronize(d)
            raise RuntimeError(f"{what}: device {d} kernel reported error code {max(e)} (spin time-out)")

    # -- NVML clocks ---------------------------------------------------------
    def init_nvml(self):
        try:
            import pynvml
            pynvml.nvmlInit()
            self.nvml = pynvml
            for d in range(self.ngpu):
                bus = cp.cuda.runtime.deviceGetPCIBusId(d)
                try:
                    h = pynvml.nvmlDeviceGetHandleByPciBusId(bus.encode() if isinstance(bus, str) else bus)
                except Exception:
                    h = pynvml.nvmlDeviceGetHandleByIndex(d)
                self.nvml_handles[d] = h
            self.power_field = None
            try:
                v = pynvml.nvmlDeviceGetFieldValues(self.nvml_handles[0], [pynvml.NVML_FI_DEV_POWER_INSTANT])[0]
                if v.nvmlReturn == 0 and v.value.uiVal > 0:
                    self.power_field = pynvml.NVML_FI_DEV_POWER_INSTANT
            except Exception:
                pass
            if self.power_field is None:
                self.note("NVML instant power field unavailable: power_w_* fields are NVML's averaged power usage")
        except Exception as e:
            self.nvml = None
            self.note(f"NVML (pynvml) unavailable, no NVML clock or power samples: {e}")

    def power_w(self, h):
        nv = self.nvml
        if self.power_field is not None:
            v = nv.nvmlDeviceGetFieldValues(h, [self.power_field])[0]
            if v.nvmlReturn == 0:
                return v.value.uiVal / 1000.0
        return nv.nvmlDeviceGetPowerUsage(h) / 1000.0

    class Sampler:
        def __init__(self, probe, dev):
            self.p = probe
            self.dev = dev
            self.samples = []
            self.running = False

        def __enter__(self):
            if self.p.nvml is None:
                return self
            self.running = True
            self.th = threading.Thread(target=self.loop, daemon=True)
            self.th.start()
            return self

        def loop(self):
            nv = self.p.nvml
            h = self.p.nvml_handles[self.dev]
            while self.running:
                try:
                    clk = nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)
                    pw = self.p.power_w(h)
                    self.samples.append((time.time(), clk, pw))
                except Exception:
                    pass
                time.sleep(0.004)

        def __exit__(self, *a):
            self.running = False
            if self.p.nvml is not None:
                self.th.join()

        def result(self):
            if not self.samples:
                return None, None
            s = self.samples
            if len(s) > 6:  # drop the edges
                cut = len(s) // 10
                s = s[cut:len(s) - cut]
            return med([x[1] for x in s]), round(med([x[2] for x in s]), 1)

    # -- GPU description -------------------------------------------------------
    def describe(self):
        g = self.prof["gpu"]
        p = torch.cuda.get_device_properties(0)
        attrs = cp.cuda.Device(0).attributes
        g["name"] = p.name
        g["sms"] = self.sms
        g["cc"] = f"{p.major}.{p.minor}"
        g["hbm_bytes"] = int(p.total_memory)
        g["l2_bytes"] = int(attrs.get("L2CacheSize", getattr(p, "L2_cache_size", 0)))
        g["smem_per_block_optin_bytes"] = self.smem_optin
        g["gpus_in_node_used"] = self.ngpu
        g["gpus_visible"] = cp.cuda.runtime.getDeviceCount()
        g["torch"] = torch.__version__
        g["cupy"] = cp.__version__
        g["cuda"] = str(torch.version.cuda)
        try:
            rv = cp.cuda.runtime.runtimeGetVersion()
            g["cuda_runtime_cupy"] = f"{rv // 1000}.{(rv % 1000) // 10}"
        except Exception:
            pass
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=index,name,clocks.max.sm,clocks.max.mem,driver_version,power.limit",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=30).stdout
            log("nvidia-smi: " + out.strip().replace("\n", " | "))
            row = [x.strip() for x in out.strip().splitlines()[0].split(",")]
            g["sm_clock_max_mhz"] = int(float(row[2]))
            g["mem_clock_max_mhz"] = int(float(row[3]))
            g["driver"] = row[4]
            try:
                g["power_limit_w"] = float(row[5])
            except ValueError:
                pass
        except Exception as e:
            self.note(f"nvidia-smi query failed: {e}")
        nv = []
        try:
            topo = subprocess.run(["nvidia-smi", "topo", "-m"], capture_output=True, text=True, timeout=30).stdout
            log("nvidia-smi topo -m:\n" + topo)
            for line in topo.splitlines():
                f = line.split()
                if f and f[0] == "GPU0" and len(f) > 2:
                    nv.append(f"topo GPU0-GPU1 {f[2]}")
                    break
        except Exception as e:
            nv.append(f"topo unavailable ({e})")
        try:
            st = subprocess.run(["nvidia-smi", "nvlink", "-s", "-i", "0"], capture_output=True, text=True, timeout=30).stdout
            log("nvidia-smi nvlink -s -i 0:\n" + st)
            links = [l.strip() for l in st.splitlines() if l.strip().startswith("Link")]
            speeds = sorted(set(l.split(":", 1)[1].strip() for l in links))
            if links:
                nv.append(f"nvlink -s GPU0: {len(links)} links, {', '.join(speeds)}")
            else:
                nv.append("nvlink -s GPU0: no links listed")
        except Exception as e:
            nv.append(f"nvlink status unavailable ({e})")
        g["nvlink"] = "; ".join(nv)
        log("gpu: " + json.dumps(g))

    # -- 1. copy throughput vs SMs -------------------------------------------
    def copy_pair(self, kind):
        """(src tensor, dst tensor) on/for device 0 per kind."""
        if kind == "local":
            return self.A[0], self.B[0]
        if kind == "nvlink_store":
            return self.A[0], self.A[1]
        if kind == "nvlink_load":
            return self.A[1], self.B[0]
        raise ValueError(kind)

    def kinds(self):
        return ["local"] + (["nvlink_store", "nvlink_load"] if self.ngpu == 2 else [])

    def run_copy_v16(self, kind, sms, warps, target, reps):
        src, dst = self.copy_pair(kind)
        s = self.streams[0][0]
        pool = self.pool

        def make(nb):
            def fn(rep):
                off = self.rot(rep, nb, pool)
                self.launch(0, "copy_v16", sms, warps * 32,
                            (self.ptr(src, off), self.ptr(dst, off), u64(nb // 16)), smem=self.smem_one, stream=s)
            return fn
        nb = self.autosize(0, s, make, min(pool, max(16 * MiB, sms * 8 * MiB)), pool, target, 1 * MiB)
        sec, _ = self.timed(0, s, make(nb), reps)
        return nb, sec

    def validate_copy(self, kind):
        src, dst = self.copy_pair(kind)
        s = self.streams[0][0]
        nb = 64 * MiB
        dst[: nb // 4].fill_(0)
        torch.cuda.synchronize(dst.device)
        self.launch(0, "copy_v16", 16, 1024, (self.ptr(src), self.ptr(dst), u64(nb // 16)), smem=self.smem_one, stream=s)
        self.sync(0)
        ok = torch.equal(src[: nb // 4].cpu(), dst[: nb // 4].cpu())
        if not ok:
            self.note(f"copy_sms: validation of the {kind} copy FAILED (destination differs from source)")
        return ok

    def sec_copy_sms(self):
        sms_list = [1, 4, 16, 64] if self.quick else [1, 2, 4, 8, 16, 24, 32, 48, 64]
        warps = 32
        target = 0.0005 if self.quick else 0.002
        reps = 2 if self.quick else 5
        for kind in self.kinds():
            self.validate_copy(kind)
            for n in sms_list:
                nb, sec = self.run_copy_v16(kind, n, warps, target, reps)
                row = {"kind": kind, "path": "v16", "sms": n, "warps_per_sm": warps, "bytes": nb,
                       "seconds": sec, "GBps": nb / sec / 1e9}
                self.prof["copy_sms"].append(row)
                log(f"copy_sms {kind:13s} v16 sms={n:3d} w={warps} {nb / MiB:7.0f} MiB {sec * 1e3:8.3f} ms {row['GBps']:8.1f} GB/s  ({row['GBps'] / n:6.1f} GB/s/SM)")
        self.copy_sms_tma(sms_list, target, reps)
        # quick-look: per-SM rate at 1 SM and the saturation
        for kind in self.kinds():
            rows = [r for r in self.prof["copy_sms"] if r["kind"] == kind and r["path"] == "v16"]
            if rows:
                one = [r for r in rows if r["sms"] == 1]
                best = max(rows, key=lambda r: r["GBps"])
                log(f"  fit {kind}: {one[0]['GBps'] if one else float('nan'):.1f} GB/s on 1 SM; max {best['GBps']:.1f} GB/s at {best['sms']} SMs")

    def copy_sms_tma(self, sms_list, target, reps):
        if self.args.no_tma:
            self.prof["tma_note"] = "not measured: --no-tma given"
            return
        # self-test in a child process: a TMA fault must not kill this context
        cmd = [sys.executable, os.path.abspath(__file__), "--selftest-tma"] + (["--one-gpu"] if self.ngpu == 1 else [])
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
            out = (r.stdout + r.stderr).strip()
        except Exception as e:
            r, out = None, f"{type(e).__name__}: {e}"
        log("tma self-test: " + out[-1500:])
        if r is None or r.returncode != 0 or "TMA_OK" not in out:
            self.prof["tma_note"] = "not measured: the cp.async.bulk self-test failed: " + out[-600:]
            self.note("copy_sms path tma: " + self.prof["tma_note"])
            return
        src_code = open(os.path.join(HERE, "tma.cu")).read()
        self.modules["tma"] = cp.RawModule(code=src_code, options=("-std=c++17",))
        chunk, stages = 32 * 1024, 6
        smem = chunk * stages + 8 * stages
        kinds = ["local"] + (["nvlink_store"] if self.ngpu == 2 else [])
        for kind in kinds:
            src, dst = self.copy_pair(kind)
            s = self.streams[0][0]
            pool = self.pool
            for n in sms_list:
                def make(nb, n=n, src=src, dst=dst):
                    def fn(rep):
                        off = self.rot(rep, nb, pool)
                        self.launch(0, "copy_tma", n, 32, (self.ptr(src, off), self.ptr(dst, off), u64(nb // chunk),
                                                          np.uint32(chunk), i32(stages)),
                                    smem=smem, stream=s, module="tma")
                    return fn
                nb = self.autosize(0, s, make, min(pool, max(16 * MiB, n * 8 * MiB)), pool, target, 1 * MiB)
                sec, _ = self.timed(0, s, make(nb), reps)
                row = {"kind": kind, "path": "tma", "sms": n, "warps_per_sm": 1, "bytes": nb,
                       "seconds": sec, "GBps": nb / sec / 1e9}
                self.prof["copy_sms"].append(row)
                log(f"copy_sms {kind:13s} tma sms={n:3d} {nb / MiB:7.0f} MiB {sec * 1e3:8.3f} ms {row['GBps']:8.1f} GB/s  ({row['GBps'] / n:6.1f} GB/s/SM)")
        self.prof["tma_note"] = (f"measured: cp.async.bulk global->shared (mbarrier complete_tx) then shared->global "
                                 f"(bulk_group), {chunk // 1024} KiB chunks, {stages} stages, one issuing thread per block, one block per SM")

    # -- 2. copy vs warps per SM, DeepEP record sizes --------------------------
    def sec_copy_warps(self):
        sms_list = [1, 4]
        warps_list = [1, 4, 16, 32] if self.quick else [1, 2, 4, 8, 16, 32]
        recs = [1024, 14336] if self.quick else [512, 1024, 7168, 14336]
        target = 0.0005 if self.quick else 0.002
        reps = 2 if self.quick else 5
        kinds = ["local"] + (["nvlink_store"] if self.ngpu == 2 else [])
        s = self.streams[0][0]
        pool = self.pool
        for kind in kinds:
            src, dst = self.copy_pair(kind)
            for n in sms_list:
                for w in warps_list:
                    for R in recs:
                        if self.over_budget(f"copy_warps {kind} sms={n} w={w} R={R}"):
                            return

                        def make(nrec, R=R, n=n, w=w):
                            nb = nrec * R

                            def fn(rep):
                                off = self.rot(rep, nb, pool)
                                self.launch(0, "copy_records", n, w * 32,
                                            (self.ptr(src, off), self.ptr(dst, off), i32(R // 16), u64(nrec)),
                                            smem=self.smem_one, stream=s)
                            return fn
                        n0 = max(n * w * 8, (4 * MiB) // R)
                        nrec = self.autosize(0, s, make, n0, pool // R, target, n * w)
                        sec, _ = self.timed(0, s, make(nrec), reps)
                        nb = nrec * R
                        row = {"kind": kind, "path": "v16", "sms": n, "warps_per_sm": w, "record_bytes": R,
                               "records": nrec, "bytes": nb, "seconds": sec, "GBps": nb / sec / 1e9}
                        self.prof["copy_warps"].append(row)
                        per_rec = sec / (nrec / (n * w))
                        log(f"copy_warps {kind:13s} sms={n} w={w:2d} R={R:5d} recs={nrec:7d} {sec * 1e3:7.3f} ms "
                            f"{row['GBps']:7.1f} GB/s  {row['GBps'] / (n * w):6.2f} GB/s/warp  {per_rec * 1e6:6.3f} us/record/warp")
        # quick-look fit: one warp, time per record = t0 + R / warp_bw
        for kind in kinds:
            for n in sms_list:
                rows = [r for r in self.prof["copy_warps"] if r["kind"] == kind and r["sms"] == n and r["warps_per_sm"] == 1]
                if len(rows) >= 2:
                    x = np.array([r["record_bytes"] for r in rows], float)
                    y = np.array([r["seconds"] / (r["records"] / n) for r in rows], float)
                    b, a = np.polyfit(x, y, 1)
                    log(f"  fit {kind} sms={n} 1 warp/SM: t_record = {a * 1e6:.3f} us + R / {1 / b / 1e9:.2f} GB/s")

    # -- 3. chunk handshake and flag latency ----------------------------------
    def links(self):
        out = []
        if self.ngpu == 2:
            out.append(("nvlink", 0, 1))  # producer on GPU0, ring/consumer on GPU1
        out.append(("local", 0, 0))
        return out

    def run_handshake(self, dp, dc, R, n, ring_recs, chunks, rotate=True):
        rec16 = R // 16
        ring = self.B[dc]                    # ring at the start of B on the consumer GPU
        out = self.B[dc]                     # consumer output further up in B
        out_off = 64 * MiB
        out_recs = (64 * MiB) // R
        # the producer reads n*chunks distinct records from HBM: rotate the
        # source window over the pool so repetitions do not hit in L2
        src_recs = n * chunks
        src_bytes = src_recs * R
        slots = max(1, self.pool // src_bytes)
        self.hs_count = getattr(self, "hs_count", 0) + 1
        src_off = (self.hs_count % slots) * src_bytes if rotate else 0
        src = self.A[dp]
        ctl = self.ctl[dc]                   # tail at [0], head at [32]
        tail_p = self.ptr(ctl, 0)
        head_p = self.ptr(ctl, 128)
        sp = self.streams[dp][1]
        sc = self.streams[dc][2]
        ctl.zero_()
        self.tim[dp].zero_()
        if dc != dp:
            self.tim[dc].zero_()
        torch.cuda.synchronize(dc)
        torch.cuda.synchronize(dp)
        timeout = u64(int(5e9))
        self.launch(dc, "hs_consumer", 1, 32,
                    (self.ptr(ring), self.ptr(out, out_off), i32(out_recs), tail_p, head_p, i32(rec16),
                     i32(ring_recs), i32(n * chunks), timeout, self.ptr(self.err[dc]), self.ptr(self.tim[dc], 64)),
                    stream=sc)
        self.launch(dp, "hs_producer", 1, 32,
                    (self.ptr(src, src_off), i32(src_recs), self.ptr(ring), tail_p, head_p, i32(rec16), i32(n),
                     i32(ring_recs), i32(chunks), timeout, self.ptr(self.err[dp]), self.ptr(self.tim[dp], 0)),
                    stream=sp)
        self.wait_ev(self.event(dp, sp), 30)
        self.wait_ev(self.event(dc, sc), 30)
        self.check_err(dp, "handshake producer")
        self.check_err(dc, "handshake consumer")
        tp = self.tim[dp][:2].cpu().tolist()
        tc = self.tim[dc][8:12].cpu().tolist()
        return (tp[1] - tp[0]) * 1e-9, (tc[3] - tc[2]) * 1e-9

    def validate_handshake(self, dp, dc):
        R, n, ring, chunks = 7168, 4, 16, 8
        self.run_handshake(dp, dc, R, n, ring, chunks, rotate=False)
        # records r = 0..31 went through slots r % 16 into out[r % out_recs]
        nrec = n * chunks
        got = self.B[dc][(64 * MiB) // 4:(64 * MiB + nrec * R) // 4].cpu()
        want = self.A[dp][: nrec * R // 4].cpu()
        if not torch.equal(got, want):
            self.note(f"handshake: validation FAILED on link {dp}->{dc} (consumer output differs from producer source)")
            return False
        return True

    def sec_handshake(self):
        ns = [1, 4, 16, 64] if self.quick else [1, 2, 4, 8, 16, 32, 64]
        Rs = [1024, 14336] if self.quick else [1024, 7168, 14336]
        total = 256 if self.quick else 2048
        reps = 2 if self.quick else 3
        for link, dp, dc in self.links():
            self.validate_handshake(dp, dc)
            for mode in ("deep", "lockstep"):
                for R in Rs:
                    rows = []
                    for n in ns:
                        ring = max(256, 2 * n) if mode == "deep" else n
                        chunks = max(16, min(4096, total // n))
                        self.run_handshake(dp, dc, R, n, ring, chunks)  # warm-up
                        ts = [self.run_handshake(dp, dc, R, n, ring, chunks)[0] for _ in range(reps)]
                        sec = med(ts)
                        row = {"link": link, "records_per_chunk": n, "record_bytes": R, "ring_records": ring,
                               "chunks": chunks, "seconds": sec, "seconds_per_chunk": sec / chunks}
                        self.prof["handshake"].append(row)
                        rows.append(row)
                        log(f"handshake {link:6s} {mode:8s} ring={ring:3d} R={R:5d} n={n:2d} chunks={chunks:4d} "
                            f"{sec * 1e3:7.3f} ms {sec / chunks * 1e6:8.3f} us/chunk")
                    if len(rows) >= 2:
                        x = np.array([r["records_per_chunk"] for r in rows], float)
                        y = np.array([r["seconds_per_chunk"] for r in rows], float)
                        b, a = np.polyfit(x, y, 1)
                        log(f"  fit {link} {mode} R={R}: per chunk {a * 1e6:.3f} us + per record {b * 1e6:.3f} us")
        self.sec_flag_latency()

    def sec_flag_latency(self):
        iters = 2000 if self.quick else 10000
        reps = 2 if self.quick else 3
        for link, da, db in self.links():
            fa = self.ctl[da]
            fb = self.ctl[db]
            a_flag = self.ptr(fa, 256 * 4)        # initiator's own flag
            b_flag = self.ptr(fb, 320 * 4)        # responder's own flag
            ts = []
            for r in range(reps + 1):
                fa[256] = 0
                fb[320] = 0
                torch.cuda.synchronize(da)
                torch.cuda.synchronize(db)
                sb = self.streams[db][2]
                sa = self.streams[da][1]
                to = u64(int(5e9))
                self.launch(db, "pingpong", 1, 1, (b_flag, a_flag, i32(iters), i32(0), to,
                                                   self.ptr(self.err[db]), self.ptr(self.tim[db], 256)), stream=sb)
                self.launch(da, "pingpong", 1, 1, (a_flag, b_flag, i32(iters), i32(1), to,
                                                   self.ptr(self.err[da]), self.ptr(self.tim[da], 512)), stream=sa)
                self.wait_ev(self.event(da, sa), 30)
                self.wait_ev(self.event(db, sb), 30)
                self.check_err(da, "pingpong initiator")
                self.check_err(db, "pingpong responder")
                t = self.tim[da][64:66].cpu().tolist()
                if r > 0:
                    ts.append((t[1] - t[0]) * 1e-9)
            sec = med(ts)
            row = {"link": link, "round_trips": iters, "seconds": sec, "one_way_seconds": sec / iters / 2}
            self.prof["flag_latency"].append(row)
            log(f"flag_latency {link:6s} {iters} round trips {sec * 1e3:.3f} ms: RTT {sec / iters * 1e6:.3f} us, one-way {row['one_way_seconds'] * 1e6:.3f} us")

    # -- 4. reduce --------------------------------------------------------------
    def sec_reduce(self):
        T = 2048 if self.quick else 16384
        hid16 = HIDDEN * 2 // 16
        sms_list = [1, 4, 16, 64] if self.quick else [1, 2, 4, 8, 16, 32, 64, 132]
        sms_list = [n for n in sms_list if n <= self.sms]
        ks = [1, 2, 4, 8] if self.quick else list(range(1, 9))
        reps = 2 if self.quick else 3
        with torch.cuda.device(0):
            x = torch.randn(8, T, HIDDEN, device="cuda:0", dtype=torch.float32).to(torch.bfloat16)
            out = torch.empty(T, HIDDEN, device="cuda:0", dtype=torch.bfloat16)
        torch.cuda.synchronize(0)
        s = self.streams[0][0]
        plane16 = T * hid16
        # validation against torch
        for k in (1, 3, 8):
            out.fill_(float("nan"))
            torch.cuda.synchronize(0)
            self.launch(0, "reduce_bf16", 8, 1024, (self.ptr(x), u64(plane16), i32(k), self.ptr(out), i32(hid16), i32(T)),
                        smem=self.smem_one, stream=s)
            self.sync(0)
            ref = x[:k].float().sum(0)
            err = ((out.float() - ref).norm() / ref.norm()).item()
            if not (err < 1e-2):
                self.note(f"reduce: validation FAILED for k={k}: relative error {err}")
            else:
                log(f"reduce validation k={k}: relative error {err:.2e}")
        for n in sms_list:
            for k in ks:
                def fn(rep, k=k, n=n):
                    self.launch(0, "reduce_bf16", n, 1024, (self.ptr(x), u64(plane16), i32(k), self.ptr(out), i32(hid16), i32(T)),
                                smem=self.smem_one, stream=s)
                sec, _ = self.timed(0, s, fn, reps)
                nb = k * T * HIDDEN * 2
                row = {"k": k, "sms": n, "hidden": HIDDEN, "tokens": T, "bytes_read": nb, "seconds": sec, "GBps": nb / sec / 1e9}
                self.prof["reduce"].append(row)
                log(f"reduce k={k} sms={n:3d} T={T} {sec * 1e3:8.3f} ms {row['GBps']:8.1f} GB/s read ({row['GBps'] / n:6.1f} GB/s/SM)")
        del x, out
        torch.cuda.empty_cache()

    # -- 5. NVLink bandwidth ------------------------------------------------------
    def sec_nvlink(self):
        if self.ngpu < 2:
            self.note("nvlink_bw: not measured (one GPU)")
            return
        nb = (256 if self.quick else 1024) * MiB
        reps = 2 if self.quick else 5
        s0, s1 = self.streams[0][0], self.streams[1][0]
        # copy engine, one direction: GPU0 -> GPU1
        def ce01(rep):
            cp.cuda.runtime.memcpyPeerAsync(self.A[1].data_ptr(), 1, self.A[0].data_ptr(), 0, nb, s0.ptr)
        with cp.cuda.Device(0):
            sec, _ = self.timed(0, s0, ce01, reps)
        self.add_nv("uni", "copy_engine", 0, nb, sec)
        # copy engine, both directions at once
        self.bi(lambda: cp.cuda.runtime.memcpyPeerAsync(self.A[1].data_ptr(), 1, self.A[0].data_ptr(), 0, nb, s0.ptr),
                lambda: cp.cuda.runtime.memcpyPeerAsync(self.B[0].data_ptr(), 0, self.B[1].data_ptr(), 1, nb, s1.ptr),
                "copy_engine", 0, nb, reps)
        # SM stores
        for n in ([32, self.sms] if self.quick else [16, 32, 64, self.sms]):
            def k01(rep=0, n=n):
                self.launch(0, "copy_v16", n, 1024, (self.ptr(self.A[0]), self.ptr(self.A[1]), u64(nb // 16)), smem=self.smem_one, stream=s0)

            def k10(rep=0, n=n):
                self.launch(1, "copy_v16", n, 1024, (self.ptr(self.B[1]), self.ptr(self.B[0]), u64(nb // 16)), smem=self.smem_one, stream=s1)
            sec, _ = self.timed(0, s0, k01, reps)
            self.add_nv("uni", "sm", n, nb, sec)
            self.bi(k01, k10, "sm", n, nb, reps)

    def add_nv(self, direction, engine, n, nb, sec):
        row = {"direction": direction, "engine": engine, "sms": n, "bytes": nb, "seconds": sec, "GBps_per_direction": nb / sec / 1e9}
        self.prof["nvlink_bw"].append(row)
        log(f"nvlink_bw {direction:3s} {engine:11s} sms={n:3d} {nb / MiB:6.0f} MiB {sec * 1e3:7.3f} ms {row['GBps_per_direction']:7.1f} GB/s per direction")

    def bi(self, f0, f1, engine, n, nb, reps):
        s0, s1 = self.streams[0][0], self.streams[1][0]

        def both():
            with cp.cuda.Device(0):
                f0()
            with cp.cuda.Device(1):
                f1()
        both()
        self.sync(0)
        self.sync(1)
        secs = []
        for r in range(reps):
            a0, a1 = self.event(0, s0), self.event(1, s1)
            both()
            b0, b1 = self.event(0, s0), self.event(1, s1)
            self.wait_ev(b0)
            self.wait_ev(b1)
            t0 = cp.cuda.get_elapsed_time(a0, b0) * 1e-3
            t1 = cp.cuda.get_elapsed_time(a1, b1) * 1e-3
            secs.append(max(t0, t1))
        self.add_nv("bi", engine, n, nb, med(secs))

    # -- 6. GEMM vs SMs held -----------------------------------------------------
    def gemm_fns(self):
        shapes = [("square", 8192, 8192, 8192), ("expert", 8192, 4096, 7168)]
        fns = []
        for shape, m, n, k in shapes:
            a = torch.randn(m, k, device="cuda:0", dtype=torch.bfloat16)
            b = torch.randn(k, n, device="cuda:0", dtype=torch.bfloat16)
            c = torch.empty(m, n, device="cuda:0", dtype=torch.bfloat16)
            fns.append(("bf16", shape, m, n, k, (lambda a=a, b=b, c=c: torch.matmul(a, b, out=c))))
        for shape, m, n, k in shapes:
            try:
                a8 = torch.randn(m, k, device="cuda:0").to(torch.float8_e4m3fn)
                b8 = torch.randn(n, k, device="cuda:0").to(torch.float8_e4m3fn)
                one = torch.tensor(1.0, device="cuda:0")
                f = (lambda a8=a8, b8=b8, one=one: torch._scaled_mm(a8, b8.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
                f()
                torch.cuda.synchronize(0)
                fns.append(("fp8", shape, m, n, k, f))
            except Exception as e:
                self.note(f"gemm fp8 {shape}: torch._scaled_mm failed, not measured: {type(e).__name__}: {str(e)[:200]}")
        torch.cuda.synchronize(0)
        return fns

    def kernel_info(self, dtype, shape, fn):
        try:
            import warnings
            from torch.profiler import profile, ProfilerActivity
            warnings.filterwarnings("ignore", message=".*Profiler clears events.*")
            fn()
            torch.cuda.synchronize(0)
            with profile(activities=[ProfilerActivity.CUDA]) as p:
                fn()
                torch.cuda.synchronize(0)
            fd, path = tempfile.mkstemp(suffix=".json")
            os.close(fd)
            p.export_chrome_trace(path)
            with open(path) as f:
                tr = json.load(f)
            os.unlink(path)
            ks = [e for e in tr.get("traceEvents", []) if e.get("cat") == "kernel"]
            if not ks:
                return None
            k = max(ks, key=lambda e: e.get("dur", 0))
            a = k.get("args", {})
            grid = a.get("grid") or [0]
            blocks = int(np.prod(grid))
            info = {"dtype": dtype, "shape": shape, "kernel": k.get("name", "")[:200], "grid": grid,
                    "block": a.get("block"), "shared_memory": a.get("shared memory"),
                    "registers_per_thread": a.get("registers per thread"), "blocks": blocks,
                    "waves_all_sms": blocks / self.sms, "kernel_seconds": k.get("dur", 0) * 1e-6}
            self.prof["gemm_kernels"].append(info)
            log(f"gemm kernel {dtype} {shape}: {info['kernel'][:90]} grid={grid} block={info['block']} smem={info['shared_memory']} "
                f"blocks={blocks} ({blocks / self.sms:.2f} x {self.sms} SMs)")
            return info
        except Exception as e:
            self.note(f"gemm kernel info ({dtype} {shape}) via torch.profiler failed: {type(e).__name__}: {str(e)[:200]}")
            return None

    def hold(self, x, stream):
        """Start an idle occupier on x SMs on stream; return (stop ptr)."""
        c = self.ctl[0]
        c[512:520] = 0
        self.tim[0][3000:3004] = 0
        torch.cuda.synchronize(0)
        stop = self.ptr(c, 512 * 4)
        started = self.ptr(c, 513 * 4)
        if x > 0:
            self.launch(0, "occupy", x, 32, (stop, started, u64(int(20e9)), self.ptr(self.err[0]), self.ptr(self.tim[0], 3000 * 8)),
                        smem=self.smem_one, stream=stream)
        return stop, started

    def gemm_with_hold(self, fn, x, ngemm, warm=2):
        """Run ngemm GEMMs on the remaining SMs while x SMs are held.
        Returns (median seconds per GEMM, total seconds, SM clock MHz seen by the occupier or None)."""
        so, sg = self.streams[0][1], self.streams[0][2]
        stop, started = self.hold(x, so)
        ts = torch.cuda.ExternalStream(sg.ptr, device=torch.device("cuda", 0))
        with cp.cuda.Device(0):
            if x > 0:
                self.launch(0, "wait_count", 1, 1, (started, i32(x), u64(int(10e9)), self.ptr(self.err[0])), stream=sg)
            with torch.cuda.stream(ts):
                for _ in range(warm):
                    fn()
            evs = [self.event(0, sg)]
            with torch.cuda.stream(ts):
                for _ in range(ngemm):
                    fn()
                    evs.append(self.event(0, sg))
            self.launch(0, "set_flag", 1, 1, (stop, i32(1)), stream=sg)
        self.wait_ev(evs[-1], 120)
        self.wait_ev(self.event(0, so), 60)
        self.check_err(0, "gemm occupier")
        per = [cp.cuda.get_elapsed_time(evs[i], evs[i + 1]) * 1e-3 for i in range(ngemm)]
        clk = None
        if x > 0:
            t0, t1, c0, c1 = self.tim[0][3000:3004].cpu().tolist()
            if t1 > t0:
                clk = (c1 - c0) / (t1 - t0) * 1e3
        return med(per), sum(per), clk

    def sec_gemm(self):
        xs = [0, 32] if self.quick else [0, 8, 16, 24, 32, 48, 64]
        reps = 3 if self.quick else 6
        self.gemm_list = self.gemm_fns()
        for dtype, shape, m, n, k, fn in self.gemm_list:
            self.kernel_info(dtype, shape, fn)
            for x in xs:
                sec, _, clk = self.gemm_with_hold(fn, x, reps)
                row = {"dtype": dtype, "shape": shape, "m": m, "n": n, "k": k, "sms_held": x, "sms_free": self.sms - x,
                       "seconds": sec, "TFLOPS": 2.0 * m * n * k / sec / 1e12, "gemm_count": reps, "sm_clock_mhz": clk}
                self.prof["gemm"].append(row)
                log(f"gemm {dtype:4s} {shape:6s} {m}x{n}x{k} held={x:2d} free={self.sms - x:3d} {sec * 1e3:7.3f} ms {row['TFLOPS']:7.1f} TFLOP/s"
                    f"  SM clock {fmt(clk)} MHz")

    # -- 7. interference --------------------------------------------------------
    def copy_persist(self, kind, c, stream, max_ns, stop, started):
        src, dst = self.copy_pair(kind)
        piece16 = (256 * 1024) // 16
        per_block16 = (self.pool // 16 // c) // piece16 * piece16
        st = self.tim[0]
        self.launch(0, "copy_persist", c, 1024,
                    (self.ptr(src), self.ptr(dst), u64(per_block16), u64(piece16), stop, u64(int(max_ns)),
                     self.ptr(st, 1024 * 8), started), smem=self.smem_one, stream=stream)

    def persist_stats(self, c):
        """(bytes, window seconds, sorted block start ns, SM clock MHz from clock64/globaltimer)."""
        st = self.tim[0][1024:1024 + 5 * c].cpu().view(c, 5).tolist()
        byt = sum(r[0] for r in st)
        t0 = min(r[1] for r in st)
        t1 = max(r[2] for r in st)
        starts = sorted(r[1] for r in st)
        clks = [(r[4] - r[3]) / (r[2] - r[1]) * 1e3 for r in st if r[2] > r[1]]
        return byt, (t1 - t0) * 1e-9, starts, (med(clks) if clks else None)

    def sec_interference(self):
        cs = [16] if self.quick else [8, 16, 24, 32]
        kinds = ["local"] + (["nvlink_store"] if self.ngpu == 2 else [])
        if not hasattr(self, "gemm_list"):
            self.gemm_list = self.gemm_fns()
        dtype, shape, m, n, k, fn = self.gemm_list[0]
        window = 0.05 if self.quick else 0.3
        t1, _, _ = self.gemm_with_hold(fn, 0, 3)
        ngemm = max(5, int(window / t1))
        sc, sg = self.streams[0][0], self.streams[0][2]
        c_ctl = self.ctl[0]
        for kind in kinds:
            for c in cs:
                # copy alone
                c_ctl[600:608] = 0
                torch.cuda.synchronize(0)
                stop = self.ptr(c_ctl, 600 * 4)
                started = self.ptr(c_ctl, 601 * 4)
                with self.Sampler(self, 0) as smp:
                    self.copy_persist(kind, c, sc, window * 1e9, stop, started)
                    self.wait_ev(self.event(0, sc), 60)
                byt, sec, _, clk_copy = self.persist_stats(c)
                g_alone = byt / sec / 1e9
                nclk_copy, pw_copy = smp.result()
                # GEMM alone with the same SMs held idle
                with self.Sampler(self, 0) as smp:
                    gsec_alone, _, clk_alone = self.gemm_with_hold(fn, c, ngemm)
                nclk_alone, pw_alone = smp.result()
                # together: persistent copy first, then the GEMMs on the rest
                c_ctl[600:608] = 0
                torch.cuda.synchronize(0)
                ts = torch.cuda.ExternalStream(sg.ptr, device=torch.device("cuda", 0))
                with self.Sampler(self, 0) as smp:
                    with cp.cuda.Device(0):
                        self.copy_persist(kind, c, sc, 20e9, stop, started)
                        self.launch(0, "wait_count", 1, 1, (started, i32(c), u64(int(10e9)), self.ptr(self.err[0])), stream=sg)
                        with torch.cuda.stream(ts):
                            fn()
                        evs = [self.event(0, sg)]
                        with torch.cuda.stream(ts):
                            for _ in range(ngemm):
                                fn()
                                evs.append(self.event(0, sg))
                        self.launch(0, "set_flag", 1, 1, (stop, i32(1)), stream=sg)
                    self.wait_ev(evs[-1], 120)
                    self.wait_ev(self.event(0, sc), 60)
                self.check_err(0, "interference")
                nclk_tog, pw_tog = smp.result()
                byt, sec, _, clk_tog = self.persist_stats(c)
                g_with = byt / sec / 1e9
                per = [cp.cuda.get_elapsed_time(evs[i], evs[i + 1]) * 1e-3 for i in range(ngemm)]
                gsec_with = med(per)
                row = {"copy_kind": kind, "copy_sms": c, "carveout": True,
                       "copy_GBps_alone": g_alone, "copy_GBps_with_gemm": g_with,
                       "gemm_seconds_alone": gsec_alone, "gemm_seconds_with_copy": gsec_with,
                       "sm_clock_mhz_alone": clk_alone, "sm_clock_mhz_together": clk_tog,
                       "sm_clock_mhz_copy_alone": clk_copy,
                       "nvml_sm_clock_mhz_alone": nclk_alone, "nvml_sm_clock_mhz_together": nclk_tog,
                       "nvml_sm_clock_mhz_copy_alone": nclk_copy,
                       "power_w_alone": pw_alone, "power_w_together": pw_tog, "power_w_copy_alone": pw_copy,
                       "gemm_dtype": dtype, "m": m, "n": n, "k": k, "gemm_count": ngemm}
                self.prof["interference"].append(row)
                log(f"interference {kind:12s} C={c:2d}: copy {g_alone:7.1f} -> {g_with:7.1f} GB/s ({g_with / g_alone:5.3f}); "
                    f"gemm {gsec_alone * 1e3:6.3f} -> {gsec_with * 1e3:6.3f} ms ({gsec_with / gsec_alone:5.3f}); "
                    f"SM clock copy-alone {fmt(clk_copy)} gemm-alone {fmt(clk_alone)} together {fmt(clk_tog)} MHz "
                    f"(NVML {nclk_copy}/{nclk_alone}/{nclk_tog}); power {pw_copy}/{pw_alone}/{pw_tog} W")

    # -- 7b. no carve-out: when does a copy kernel launched behind a GEMM start? --
    def host_to_gpu_offset(self):
        """perf_counter_ns() - %globaltimer, from host-mapped memory the GPU keeps writing."""
        ptr = cp.cuda.runtime.hostAlloc(64, 2)  # cudaHostAllocMapped
        try:
            buf = (ctypes.c_uint64 * 8).from_address(ptr)
            buf[0] = 0
            s = self.streams[0][0]
            self.launch(0, "publish_time", 1, 1, (u64(ptr), u64(int(30e6))), stream=s)
            t = time.time()
            while buf[0] == 0 and time.time() - t < 10:
                pass
            offs = []
            t = time.time()
            while time.time() - t < 0.02:
                h0 = time.perf_counter_ns()
                g = buf[0]
                h1 = time.perf_counter_ns()
                offs.append((h0 + h1) // 2 - g)
            self.sync(0)
            if not offs:
                raise RuntimeError("no globaltimer samples came through host-mapped memory")
            return int(statistics.median(offs)), len(offs)
        finally:
            cp.cuda.runtime.freeHost(ptr)

    def sec_no_carveout(self):
        cs = [16] if self.quick else [16, 32]
        if not hasattr(self, "gemm_list"):
            self.gemm_list = self.gemm_fns()
        dtype, shape, m, n, k, fn = self.gemm_list[0]
        info = next((g for g in self.prof["gemm_kernels"] if g["dtype"] == dtype and g["shape"] == shape), None)
        off, nsamp = self.host_to_gpu_offset()
        log(f"host-to-globaltimer offset from {nsamp} samples")
        sc, sg = self.streams[0][0], self.streams[0][2]
        ts = torch.cuda.ExternalStream(sg.ptr, device=torch.device("cuda", 0))
        c_ctl = self.ctl[0]
        stamps = self.tim[0]
        stop = self.ptr(c_ctl, 700 * 4)
        started = self.ptr(c_ctl, 701 * 4)
        ngemm = 4
        for c in cs:
            # baseline: launch to first block on an idle GPU
            idle = []
            for _ in range(3):
                c_ctl[700:708] = 0
                torch.cuda.synchronize(0)
                h = time.perf_counter_ns()
                self.copy_persist("local", c, sc, 2e5, stop, started)
                self.wait_ev(self.event(0, sc), 30)
                _, _, starts, _ = self.persist_stats(c)
                idle.append((starts[0] + off - h) * 1e-9)
            idle_first = med(idle)
            rows = []
            for rep in range(3):
                c_ctl[700:708] = 0
                stamps[2000:2000 + ngemm + 1] = 0
                torch.cuda.synchronize(0)
                with cp.cuda.Device(0):
                    with torch.cuda.stream(ts):
                        fn()  # warm, and fills the queue ahead of the stamps
                    # a one-thread stamp kernel after each GEMM marks the GEMM kernels' ends
                    self.launch(0, "stamp", 1, 1, (self.ptr(stamps), i32(2000)), stream=sg)
                    for i in range(ngemm):
                        with torch.cuda.stream(ts):
                            fn()
                        self.launch(0, "stamp", 1, 1, (self.ptr(stamps), i32(2001 + i)), stream=sg)
                # launch the copy while the GEMMs run (the warm-up GEMM and the
                # first timed one take about 3 ms; the stamps say where it landed)
                busy_wait(0.003)
                h = time.perf_counter_ns()
                self.copy_persist("local", c, sc, 1e6, stop, started)
                self.wait_ev(self.event(0, sg), 60)
                self.wait_ev(self.event(0, sc), 60)
                marks = stamps[2000:2001 + ngemm].cpu().tolist()
                g0, g1 = marks[0], marks[-1]
                _, _, starts, _ = self.persist_stats(c)
                launch_dev = h - off
                # the GEMM kernel running when the copy was launched, and its end
                after = [t for t in marks if t > launch_dev]
                kend = after[0] if after else None
                rows.append({
                    "copy_sms": c,
                    "gemm_seconds": (g1 - g0) * 1e-9,
                    "gemm_count": ngemm,
                    "copy_launch_to_first_block_seconds": (starts[0] - launch_dev) * 1e-9,
                    "copy_launch_to_all_blocks_seconds": (starts[-1] - launch_dev) * 1e-9,
                    "launch_after_gemm_start_seconds": (launch_dev - g0) * 1e-9,
                    "first_block_after_gemm_end_seconds": (starts[0] - g1) * 1e-9,
                    "all_blocks_after_gemm_end_seconds": (starts[-1] - g1) * 1e-9,
                    "gemm_kernel_end_after_launch_seconds": ((kend - launch_dev) * 1e-9 if kend else None),
                    "first_block_after_gemm_kernel_end_seconds": ((starts[0] - kend) * 1e-9 if kend else None),
                    "idle_launch_to_first_block_seconds": idle_first,
                    "gemm_waves": (info["waves_all_sms"] if info else None),
                    "gemm_dtype": dtype, "m": m, "n": n, "k": k,
                })
            # keep the repetition with the median first-block delay
            rows.sort(key=lambda r: r["copy_launch_to_first_block_seconds"])
            row = rows[len(rows) // 2]
            self.prof["no_carveout"].append(row)
            log(f"no_carveout C={c}: {ngemm} GEMMs span {row['gemm_seconds'] * 1e3:.3f} ms; copy launched "
                f"{row['launch_after_gemm_start_seconds'] * 1e3:.3f} ms after GEMM start; first block after "
                f"{row['copy_launch_to_first_block_seconds'] * 1e6:.1f} us, all {c} after {row['copy_launch_to_all_blocks_seconds'] * 1e6:.1f} us "
                f"(idle GPU: {idle_first * 1e6:.1f} us); the GEMM kernel running at launch ended "
                f"{fmt(row['gemm_kernel_end_after_launch_seconds'], 1e6)} us after launch, first copy block "
                f"{fmt(row['first_block_after_gemm_kernel_end_seconds'], 1e6)} us after that end; "
                f"first block {row['first_block_after_gemm_end_seconds'] * 1e6:+.1f} us vs the end of all {ngemm} GEMMs")

    # -- 8. NIC from file ---------------------------------------------------------
    def sec_nic(self):
        if not self.args.nic:
            self.note("nic: absent; no --nic file given (the kit cannot measure the NIC or the IB fabric on one node, and does not default it)")
            return
        with open(self.args.nic) as f:
            nic = json.load(f)
        missing = [k for k, v in nic.items() if isinstance(v, dict) and "value" in v and not v.get("source")]
        if missing:
            raise ValueError(f"nic file {self.args.nic}: values without a source: {missing}")
        nic["input_file"] = os.path.basename(self.args.nic)
        self.prof["nic"] = nic
        log("nic (from file, not measured): " + json.dumps(nic)[:400])

    # -- main ---------------------------------------------------------------------
    def run(self):
        self.setup()
        self.section("gpu", self.describe)
        self.section("nic", self.sec_nic)
        self.section("copy_sms", self.sec_copy_sms)
        self.section("copy_warps", self.sec_copy_warps)
        self.section("handshake", self.sec_handshake)
        self.section("reduce", self.sec_reduce)
        self.section("nvlink_bw", self.sec_nvlink)
        self.section("gemm", self.sec_gemm)
        self.section("interference", self.sec_interference)
        self.section("no_carveout", self.sec_no_carveout)
        if not self.prof["gemm_kernels"]:
            del self.prof["gemm_kernels"]
        self.standing_notes()
        if "tma_note" not in self.prof:
            self.prof["tma_note"] = "not measured: the copy_sms section did not reach the TMA path"
        self.prof["seconds_total"] = round(self.elapsed(), 1)
        self.save()
        self.summary()

    def standing_notes(self):
        """What a one-node kit never measures, and how to read two sections."""
        self.note("not measured: the NIC and the InfiniBand fabric (one node has none); 'nic', if present, is copied from the --nic file with its sources")
        self.note(f"not measured: NVSwitch contention among more than 2 GPUs and multi-node skew ({self.ngpu} GPU(s) used)")
        self.note("not measured: DeepEP's own kernels (forbidden here; they are the held-out check); only the primitives they are built from")
        self.note(GEMM_NOTE)
        self.note("handshake 'deep' rows (ring_records >= 2n): producer and consumer overlap, so the per-record slope is the slower "
                  "of the two single warps; 'lockstep' rows (ring_records = n): every chunk waits for the previous credit")

    def summary(self):
        p = self.prof
        log("\n===== summary (quick look; the Go side does the real fits)")
        for kind in ("local", "nvlink_store", "nvlink_load"):
            r1 = [r for r in p["copy_sms"] if r["kind"] == kind and r["path"] == "v16" and r["sms"] == 1]
            rs = [r for r in p["copy_sms"] if r["kind"] == kind and r["path"] == "v16"]
            if rs:
                b = max(rs, key=lambda r: r["GBps"])
                log(f"copy {kind:13s}: {r1[0]['GBps'] if r1 else float('nan'):6.1f} GB/s per SM (1 SM), max {b['GBps']:7.1f} GB/s at {b['sms']} SMs")
        for r in p["flag_latency"]:
            log(f"flag one-way latency {r['link']}: {r['one_way_seconds'] * 1e6:.3f} us")
        for r in p["nvlink_bw"]:
            log(f"nvlink {r['direction']} {r['engine']} sms={r['sms']}: {r['GBps_per_direction']:.1f} GB/s per direction")
        r1 = [r for r in p["reduce"] if r["sms"] == 1]
        if r1:
            log("reduce 1 SM: " + ", ".join(f"k={r['k']} {r['GBps']:.1f}" for r in r1) + " GB/s read")
        for r in p["gemm"]:
            if r["sms_held"] in (0, 16, 32, 64):
                log(f"gemm {r['dtype']} {r['shape']} held {r['sms_held']}: {r['TFLOPS']:.0f} TFLOP/s")
        for n in p["notes"]:
            log("note: " + n)
        log(f"total {self.elapsed():.1f} s; profile written to {self.args.out}")


GEMM_NOTE = ("gemm rows are short bursts (2 warm-up + gemm_count GEMMs, ~10 ms); their sm_clock_mhz, read by the occupier "
             "when sms_held > 0, is the SM clock during the burst. interference rows run GEMMs ~0.3 s back to back under the "
             "board power limit (gpu.power_limit_w), at the lower clocks their sm_clock_mhz_* fields give (clock64/globaltimer)")


def finite(x):
    """JSON for a strict parser: NaN and infinities become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if np is not None and isinstance(x, np.generic):
        return finite(x.item())
    return x


def fmt(x, scale=1.0):
    return "n/a" if x is None else f"{x * scale:.1f}"


def busy_wait(sec):
    t = time.perf_counter()
    while time.perf_counter() - t < sec:
        pass


# ---------------------------------------------------------------------------
def selftest_tma(one_gpu):
    import numpy
    import cupy
    src_code = open(os.path.join(HERE, "tma.cu")).read()
    mod = cupy.RawModule(code=src_code, options=("-std=c++17",))
    k = mod.get_function("copy_tma")
    chunk, stages = 32 * 1024, 6
    smem = chunk * stages + 8 * stages
    k.max_dynamic_shared_size_bytes = smem
    nb = 64 * MiB + 3 * chunk
    with cupy.cuda.Device(0):
        a = cupy.random.random(nb // 4, dtype=cupy.float32).view(cupy.uint8)
        b = cupy.zeros(nb, dtype=cupy.uint8)
        k((7,), (32,), (numpy.uint64(a.data.ptr), numpy.uint64(b.data.ptr), numpy.uint64(nb // chunk),
                        numpy.uint32(chunk), numpy.int32(stages)), shared_mem=smem)
        cupy.cuda.Device(0).synchronize()
        ok = bool((a == b).all())
    print("tma local:", "ok" if ok else "MISMATCH")
    if ok and not one_gpu and cupy.cuda.runtime.getDeviceCount() >= 2 and cupy.cuda.runtime.deviceCanAccessPeer(0, 1):
        with cupy.cuda.Device(0):
            cupy.cuda.runtime.deviceEnablePeerAccess(1)
        with cupy.cuda.Device(1):
            c = cupy.zeros(nb, dtype=cupy.uint8)
        with cupy.cuda.Device(0):
            k((7,), (32,), (numpy.uint64(a.data.ptr), numpy.uint64(c.data.ptr), numpy.uint64(nb // chunk),
                            numpy.uint32(chunk), numpy.int32(stages)), shared_mem=smem)
            cupy.cuda.Device(0).synchronize()
        with cupy.cuda.Device(1):
            ok = bool((cupy.asarray(a.get()) == c).all())
        print("tma nvlink_store:", "ok" if ok else "MISMATCH")
    print("TMA_OK" if ok else "TMA_FAILED")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description="moesim GPU calibration kit: measure DeepEP-style primitives, write a JSON profile")
    ap.add_argument("--out", help="profile JSON to write")
    ap.add_argument("--nic", help="NIC description JSON (values with sources) to copy into the profile")
    ap.add_argument("--quick", action="store_true", help="few points, few repetitions (smoke test, about 1 minute)")
    ap.add_argument("--one-gpu", action="store_true", help="use GPU 0 only even if a second GPU is there")
    ap.add_argument("--no-tma", action="store_true", help="skip the Hopper bulk-copy (TMA) path")
    ap.add_argument("--budget-s", type=float, default=400.0, help="skip remaining sections after this many seconds (default 400)")
    ap.add_argument("--selftest-tma", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.selftest_tma:
        sys.exit(selftest_tma(args.one_gpu))
    if not args.out:
        ap.error("--out is required")
    p = Probe(args)
    try:
        p.run()
    except Exception as e:
        traceback.print_exc()
        p.note(f"kit stopped: {type(e).__name__}: {str(e)[:300]}")
        p.save()
        sys.exit(1)


if __name__ == "__main__":
    main()
