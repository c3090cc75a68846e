// moesim GPU calibration kit: Hopper bulk-copy (TMA) kernel, kept in its own
// module so that a compiler or driver that rejects it costs only this path.
// Needs sm_90 (cp.async.bulk, mbarrier expect_tx).

typedef unsigned long long u64;

// Hopper bulk copy (TMA, cp.async.bulk): global -> shared -> global, 1-D,
// completion on mbarriers, `stages` buffers of chunk_bytes. One thread per
// block issues everything; the copy engine does the moving.
__device__ __forceinline__ unsigned smem_u32(const void* p) {
    u64 a;
    asm volatile("cvta.to.shared.u64 %0, %1;" : "=l"(a) : "l"(p));
    return (unsigned)a;
}
__device__ __forceinline__ void tma_load(unsigned char* smem, u64* bars, const char* src,
                                         u64 c, unsigned chunk_bytes, int s) {
    const unsigned bar = smem_u32(&bars[s]);
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;"
                 :: "r"(bar), "r"(chunk_bytes) : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
                 :: "r"(smem_u32(smem + (u64)s * chunk_bytes)), "l"(src + c * chunk_bytes),
                    "r"(chunk_bytes), "r"(bar) : "memory");
}
extern "C" __global__ void copy_tma(const char* __restrict__ src, char* __restrict__ dst,
                                    u64 nchunks, unsigned chunk_bytes, int stages) {
    extern __shared__ __align__(128) unsigned char tma_smem[];
    u64* bars = (u64*)(tma_smem + (u64)stages * chunk_bytes);
    if (threadIdx.x != 0) return;
    for (int s = 0; s < stages; s++)
        asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" :: "r"(smem_u32(&bars[s])) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    const u64 my_n = (nchunks > blockIdx.x) ? (nchunks - blockIdx.x + gridDim.x - 1) / gridDim.x : 0;
    for (u64 i = 0; i < my_n && i < (u64)stages; i++)
        tma_load(tma_smem, bars, src, blockIdx.x + i * gridDim.x, chunk_bytes, (int)i);
    for (u64 i = 0; i < my_n; i++) {
        const int s = (int)(i % stages);
        const unsigned parity = (unsigned)((i / stages) & 1);
        const unsigned bar = smem_u32(&bars[s]);
        asm volatile("{\n\t.reg .pred P1;\n"
                     "TMA_WAIT:\n\t"
                     "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n\t"
                     "@!P1 bra TMA_WAIT;\n}"
                     :: "r"(bar), "r"(parity) : "memory");
        const u64 c = blockIdx.x + i * gridDim.x;
        asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;"
                     :: "l"(dst + c * chunk_bytes), "r"(smem_u32(tma_smem + (u64)s * chunk_bytes)),
                        "r"(chunk_bytes) : "memory");
        asm volatile("cp.async.bulk.commit_group;" ::: "memory");
        if (i + stages < my_n) {
            // the store just issued must have read stage s before it is refilled
            asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
            tma_load(tma_smem, bars, src, blockIdx.x + (i + stages) * gridDim.x, chunk_bytes, s);
        }
    }
    asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
}

