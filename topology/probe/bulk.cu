// moesim GPU calibration kit: DeepEP V2-style warps on one SM. Each warp's
// lane 0 moves whole records with Hopper bulk copies (cp.async.bulk), as
// DeepEP V2's dispatch and combine warps do: per iteration it loads
// `loads` records into its own shared-memory buffer (each load waited on
// its mbarrier), issues `stores` bulk stores of the buffer, and waits for
// them to complete (cp.async.bulk.wait_group 0) before the next iteration.
// Warps below nA take role A, the others role B, so two kinds of warps can
// share one SM. Needs sm_90.

typedef unsigned long long u64;

__device__ __forceinline__ unsigned smem_u32(const void* p) {
    u64 a;
    asm volatile("cvta.to.shared.u64 %0, %1;" : "=l"(a) : "l"(p));
    return (unsigned)a;
}

__device__ __forceinline__ u64 gtimer() {
    u64 t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

extern "C" __global__ void bulk_warps(const char* __restrict__ src, char* __restrict__ dst, u64 span,
                                      unsigned rec, int iters, int nA, int loadsA, int storesA,
                                      int loadsB, int storesB, u64* __restrict__ out) {
    extern __shared__ __align__(128) unsigned char sm[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int nwarps = blockDim.x >> 5;
    const unsigned slot = (rec + 127u) & ~127u;
    unsigned char* buf = sm + (u64)warp * slot;
    u64* bar = (u64*)(sm + (u64)nwarps * slot) + warp;
    if (lane != 0) return;
    const int loads = warp < nA ? loadsA : loadsB;
    const int stores = warp < nA ? storesA : storesB;
    const unsigned b = smem_u32(bar);
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" :: "r"(b) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    // Records rotate through span bytes so that repeats miss in L2; each
    // warp and block starts elsewhere.
    const u64 nslots = span / slot;
    u64 k = ((u64)blockIdx.x * nwarps + warp) * 7919ull;
    unsigned phase = 0;
    const u64 t0 = gtimer();
    for (int i = 0; i < iters; i++) {
        for (int l = 0; l < loads; l++) {
            const char* s = src + (k++ % nslots) * slot;
            asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(b), "r"(rec) : "memory");
            asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
                         :: "r"(smem_u32(buf)), "l"(s), "r"(rec), "r"(b) : "memory");
            asm volatile("{\n\t.reg .pred P1;\n"
                         "BULK_WAIT:\n\t"
                         "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n\t"
                         "@!P1 bra BULK_WAIT;\n}"
                         :: "r"(b), "r"(phase) : "memory");
            phase ^= 1;
        }
        if (stores > 0) {
            for (int s = 0; s < stores; s++) {
                char* d = dst + (k++ % nslots) * slot;
                asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;"
                             :: "l"(d), "r"(smem_u32(buf)), "r"(rec) : "memory");
            }
            asm volatile("cp.async.bulk.commit_group;" ::: "memory");
            asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
        }
    }
    const u64 t1 = gtimer();
    const int w = blockIdx.x * nwarps + warp;
    out[2 * w] = t0;
    out[2 * w + 1] = t1;
}
