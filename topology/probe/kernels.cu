// moesim GPU calibration kit: our own CUDA kernels (no NCCL, no DeepEP).
// Compiled at run time by NVRTC through CuPy's RawModule for the device's
// architecture (sm_90 on Hopper). No #include: NVRTC's built-in vector types
// (int4) and hand-written bf16 conversions are enough.
//
// Every spin loop has a time limit (%globaltimer) and a poll cap, and sets an
// error word instead of hanging the GPU.

typedef unsigned long long u64;

#define FULL_MASK 0xffffffffu

__device__ __forceinline__ void sleep_ns(unsigned ns) { asm volatile("nanosleep.u32 %0;" :: "r"(ns)); }

__device__ __forceinline__ u64 gtime() {
    u64 t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

// DeepEP-style streaming accesses: non-coherent 16-byte loads that do not
// allocate in L1, and 16-byte stores that do not allocate in L1.
__device__ __forceinline__ int4 ld_nc(const int4* p) {
    int4 v;
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.s32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}
__device__ __forceinline__ void st_na(int4* p, const int4& v) {
    asm volatile("st.global.L1::no_allocate.v4.s32 [%0], {%1,%2,%3,%4};"
                 :: "l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}
__device__ __forceinline__ int ld_acquire_sys(const int* p) {
    int v;
    asm volatile("ld.acquire.sys.global.s32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ int ld_volatile(const int* p) {
    int v;
    asm volatile("ld.volatile.global.s32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ void st_release_sys(int* p, int v) {
    asm volatile("st.release.sys.global.s32 [%0], %1;" :: "l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ void st_relaxed_sys(int* p, int v) {
    asm volatile("st.relaxed.sys.global.s32 [%0], %1;" :: "l"(p), "r"(v) : "memory");
}

// ---------------------------------------------------------------------------
// copy_v16: grid-stride copy, 16-byte vectors, 4 loads in flight per thread.
// Launched with one block per SM (dynamic shared memory forces it).
extern "C" __global__ void copy_v16(const int4* __restrict__ src, int4* __restrict__ dst, u64 n16) {
    const u64 stride = (u64)gridDim.x * blockDim.x;
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const int U = 4;
    for (; i + (U - 1) * stride < n16; i += U * stride) {
        int4 v[U];
#pragma unroll
        for (int u = 0; u < U; u++) v[u] = ld_nc(src + i + u * stride);
#pragma unroll
        for (int u = 0; u < U; u++) st_na(dst + i + u * stride, v[u]);
    }
    for (; i < n16; i += stride) st_na(dst + i, ld_nc(src + i));
}

// One warp copies one record of rec16 int4s, DeepEP's UNROLLED_WARP_COPY(5, ...)
// pattern: 5 loads in flight per lane, then 5 stores, then the remainder.
__device__ __forceinline__ void warp_copy(int4* d, const int4* s, int rec16, int lane) {
    const int U = 5;
    const int body = (rec16 / (32 * U)) * (32 * U);
    for (int j = lane; j < body; j += 32 * U) {
        int4 v[U];
#pragma unroll
        for (int u = 0; u < U; u++) v[u] = ld_nc(s + j + u * 32);
#pragma unroll
        for (int u = 0; u < U; u++) st_na(d + j + u * 32, v[u]);
    }
    for (int j = body + lane; j < rec16; j += 32) st_na(d + j, ld_nc(s + j));
}

// copy_records: every warp copies whole records, records spread over warps.
extern "C" __global__ void copy_records(const int4* __restrict__ src, int4* __restrict__ dst,
                                        int rec16, u64 nrec) {
    const int lane = threadIdx.x & 31;
    const u64 gw = ((u64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const u64 nw = ((u64)gridDim.x * blockDim.x) >> 5;
    for (u64 r = gw; r < nrec; r += nw) warp_copy(dst + r * rec16, src + r * rec16, rec16, lane);
}

// ---------------------------------------------------------------------------
// copy_persist: each block copies its own slice piece by piece until a stop
// flag is set or max_ns has passed; it counts bytes and stamps start and end.
// stats[5*b] = bytes, [5*b+1] = start ns, [5*b+2] = end ns (globaltimer),
// [5*b+3] = start and [5*b+4] = end clock64 (SM cycles: the SM clock).
extern "C" __global__ void copy_persist(const int4* __restrict__ src, int4* __restrict__ dst,
                                        u64 per_block16, u64 piece16, const int* stop, u64 max_ns,
                                        u64* stats, int* started) {
    __shared__ int s_stop;
    const u64 t0 = gtime();
    const long long c0 = clock64();
    if (threadIdx.x == 0) {
        s_stop = 0;
        atomicAdd(started, 1);
    }
    __syncthreads();
    const int4* s = src + (u64)blockIdx.x * per_block16;
    int4* d = dst + (u64)blockIdx.x * per_block16;
    const u64 bd = blockDim.x;
    const int U = 4;
    u64 off = 0, done = 0;
    while (true) {
        const int4* ps = s + off;
        int4* pd = d + off;
        u64 i = threadIdx.x;
        for (; i + (U - 1) * bd < piece16; i += U * bd) {
            int4 v[U];
#pragma unroll
            for (int u = 0; u < U; u++) v[u] = ld_nc(ps + i + u * bd);
#pragma unroll
            for (int u = 0; u < U; u++) st_na(pd + i + u * bd, v[u]);
        }
        for (; i < piece16; i += bd) st_na(pd + i, ld_nc(ps + i));
        done += piece16;
        off += piece16;
        if (off + piece16 > per_block16) off = 0;
        __syncthreads();
        if (threadIdx.x == 0) s_stop = (ld_volatile(stop) != 0) || (gtime() - t0 > max_ns);
        __syncthreads();
        if (s_stop) break;
    }
    if (threadIdx.x == 0) {
        stats[5 * blockIdx.x + 0] = done * 16ull;
        stats[5 * blockIdx.x + 1] = t0;
        stats[5 * blockIdx.x + 2] = gtime();
        stats[5 * blockIdx.x + 3] = (u64)c0;
        stats[5 * blockIdx.x + 4] = (u64)clock64();
    }
}

// occupy: one 32-thread block per SM holding (nearly) all of the SM's shared
// memory, spinning on its own cycle counter (no memory traffic) and polling
// *stop every ~2000 cycles. err[0] = 2 on time-out. Block 0 writes
// stats[0..3] = start ns, end ns, start clock64, end clock64 (the SM clock).
extern "C" __global__ void occupy(const int* stop, int* started, u64 timeout_ns, int* err, u64* stats) {
    extern __shared__ int4 occupy_smem[];
    if (threadIdx.x == 0) {
        atomicAdd(started, 1);
        const u64 t0 = gtime();
        const long long c0 = clock64();
        long long polls = 0;
        while (ld_volatile(stop) == 0) {
            if (gtime() - t0 > timeout_ns || ++polls > 200000000ll) { atomicExch(err, 2); break; }
            const long long w = clock64();
            while (clock64() - w < 2000) { }
        }
        occupy_smem[0] = make_int4(0, 0, 0, 0);
        if (blockIdx.x == 0) {
            stats[0] = t0;
            stats[1] = gtime();
            stats[2] = (u64)c0;
            stats[3] = (u64)clock64();
        }
    }
    __syncthreads();
}

// wait_count: one thread waits until *ctr >= target (blocks of another kernel
// have started). err[0] = 3 on time-out.
extern "C" __global__ void wait_count(const int* ctr, int target, u64 timeout_ns, int* err) {
    const u64 t0 = gtime();
    long long polls = 0;
    while (ld_volatile(ctr) < target) {
        if (gtime() - t0 > timeout_ns || ++polls > 200000000ll) { atomicExch(err, 3); break; }
        sleep_ns(200);
    }
}

extern "C" __global__ void set_flag(int* f, int v) {
    st_release_sys(f, v);
    __threadfence_system();
}

// stamp: one thread writes %globaltimer to out[idx].
extern "C" __global__ void stamp(u64* out, int idx) { out[idx] = gtime(); }

// publish_time: writes %globaltimer into host-mapped memory for dur_ns, to
// map host time onto the GPU's timer.
extern "C" __global__ void publish_time(volatile u64* host_slot, u64 dur_ns) {
    const u64 t0 = gtime();
    u64 t = t0;
    while (t - t0 < dur_ns) {
        t = gtime();
        host_slot[0] = t;
        __threadfence_system();
    }
}

// ---------------------------------------------------------------------------
// Chunk handshake, DeepEP intranode style. The ring, its tail and its head live
// in the consumer's memory: the producer (one warp) writes records into the
// ring (remote stores over NVLink when on the other GPU), __syncwarp, then lane
// 0 does __threadfence_system() and a release store of the tail (system
// scope). It polls the head with volatile loads for room. The consumer (one
// warp) polls the tail with acquire loads, copies the new records out of the
// ring into its output, and returns head credit with a relaxed system store.
// err[0]: 4 producer time-out, 5 consumer time-out. times[0..1]: producer
// start/end ns, times[2..3]: consumer start/end ns (each its own GPU's timer).
extern "C" __global__ void hs_producer(const int4* __restrict__ src, int src_recs, int4* ring,
                                       int* tail_ptr, const int* head_ptr, int rec16, int n,
                                       int ring_recs, int chunks, u64 timeout_ns, int* err, u64* times) {
    const int lane = threadIdx.x & 31;
    const u64 t0 = gtime();
    int tail = 0;
    int bad = 0;
    long long polls = 0;
    for (int c = 0; c < chunks && !bad; c++) {
        if (lane == 0) {
            while (tail + n - ld_volatile(head_ptr) > ring_recs) {
                if (gtime() - t0 > timeout_ns || ++polls > 200000000ll) { bad = 1; atomicExch(err, 4); break; }
            }
        }
        bad = __shfl_sync(FULL_MASK, bad, 0);
        if (bad) break;
        for (int r = 0; r < n; r++) {
            const int slot = (tail + r) % ring_recs;
            const int sr = (int)(((long long)c * n + r) % src_recs);
            warp_copy(ring + (u64)slot * rec16, src + (u64)sr * rec16, rec16, lane);
        }
        __syncwarp();
        tail += n;
        if (lane == 0) {
            __threadfence_system();
            st_release_sys(tail_ptr, tail);
        }
        __syncwarp();
    }
    if (lane == 0) { times[0] = t0; times[1] = gtime(); }
}

extern "C" __global__ void hs_consumer(const int4* ring, int4* __restrict__ out, int out_recs,
                                       const int* tail_ptr, int* head_ptr, int rec16, int ring_recs,
                                       int total_recs, u64 timeout_ns, int* err, u64* times) {
    const int lane = threadIdx.x & 31;
    const u64 t0 = gtime();
    int head = 0;
    long long polls = 0;
    while (head < total_recs) {
        int tail = 0;
        if (lane == 0) {
            while (true) {
                tail = ld_acquire_sys(tail_ptr);
                if (tail > head) break;
                if (gtime() - t0 > timeout_ns || ++polls > 200000000ll) { tail = -1; atomicExch(err, 5); break; }
            }
        }
        tail = __shfl_sync(FULL_MASK, tail, 0);
        if (tail < 0) break;
        for (int r = head; r < tail; r++)
            warp_copy(out + (u64)(r % out_recs) * rec16, ring + (u64)(r % ring_recs) * rec16, rec16, lane);
        __syncwarp();
        head = tail;
        if (lane == 0) st_relaxed_sys(head_ptr, head);
    }
    if (lane == 0) { times[2] = t0; times[3] = gtime(); }
}

// Flag ping-pong: one thread on each side. The initiator stores i into the
// peer's flag (release, system scope) and waits (acquire loads) for i in its
// own flag; the responder waits for i then answers. my_flag is local memory,
// peer_flag is on the other GPU (or the same GPU for the local case).
extern "C" __global__ void pingpong(const int* my_flag, int* peer_flag, int iters, int initiator,
                                    u64 timeout_ns, int* err, u64* times) {
    const u64 t0 = gtime();
    long long polls = 0;
    for (int i = 1; i <= iters; i++) {
        if (initiator) st_release_sys(peer_flag, i);
        while (ld_acquire_sys(my_flag) < i) {
            if (gtime() - t0 > timeout_ns || ++polls > 400000000ll) { atomicExch(err, 6); i = iters + 1; break; }
        }
        if (!initiator && i <= iters) st_release_sys(peer_flag, i);
    }
    times[initiator ? 0 : 2] = t0;
    times[initiator ? 1 : 3] = gtime();
}

// ---------------------------------------------------------------------------
// Reduce: out[t] = sum_{p<k} in[p][t] over BF16 rows of hid16 int4s, fp32
// accumulate, round to nearest even into BF16. One warp per token at a time,
// k 16-byte loads in flight per lane.
__device__ __forceinline__ void bf16x8_acc(float* acc, const int4& v) {
    const unsigned w[4] = {(unsigned)v.x, (unsigned)v.y, (unsigned)v.z, (unsigned)v.w};
#pragma unroll
    for (int q = 0; q < 4; q++) {
        acc[2 * q] += __uint_as_float(w[q] << 16);
        acc[2 * q + 1] += __uint_as_float(w[q] & 0xffff0000u);
    }
}
__device__ __forceinline__ unsigned f2bf(float f) {
    unsigned u = __float_as_uint(f);
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}
extern "C" __global__ void reduce_bf16(const int4* __restrict__ in, u64 plane16, int k,
                                       int4* __restrict__ out, int hid16, int tokens) {
    const int lane = threadIdx.x & 31;
    const int gw = (int)(((u64)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    const int nw = (int)(((u64)gridDim.x * blockDim.x) >> 5);
    for (int t = gw; t < tokens; t += nw) {
        const int4* row = in + (u64)t * hid16;
        for (int j = lane; j < hid16; j += 32) {
            int4 v[8];
#pragma unroll
            for (int p = 0; p < 8; p++)
                if (p < k) v[p] = ld_nc(row + (u64)p * plane16 + j);
            float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
#pragma unroll
            for (int p = 0; p < 8; p++)
                if (p < k) bf16x8_acc(acc, v[p]);
            int4 o;
            o.x = (int)(f2bf(acc[0]) | (f2bf(acc[1]) << 16));
            o.y = (int)(f2bf(acc[2]) | (f2bf(acc[3]) << 16));
            o.z = (int)(f2bf(acc[4]) | (f2bf(acc[5]) << 16));
            o.w = (int)(f2bf(acc[6]) | (f2bf(acc[7]) << 16));
            st_na(out + (u64)t * hid16 + j, o);
        }
    }
}
