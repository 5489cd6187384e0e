// known_launches.cuh - what the two translation units of known_launches share: the kernels'
// common body and the error check.
//
// The body is integer arithmetic only, so its results are the same bits on every run, with
// or without the hook: the checksums the program prints must not change when it is measured.
#ifndef FM_KNOWN_LAUNCHES_CUH
#define FM_KNOWN_LAUNCHES_CUH

#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

// One pass of a linear congruential step over x[0..n), grid-stride so that any grid size
// gives the same result (the signature tests vary the grid, not the work's outcome).
static __device__ __forceinline__ void fm_mix(unsigned *x, int n, unsigned salt)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        x[i] = x[i] * 1664525u + 1013904223u + salt + (unsigned)i;
}

// A failed CUDA call ends the program with its name and line: a test program that went on
// after an error would print counts that no longer describe what it launched.
static inline void fm_check(cudaError_t e, const char *what, int line)
{
    if (e != cudaSuccess) {
        fprintf(stderr, "known_launches: %s failed (line %d): %s\n", what, line,
                cudaGetErrorString(e));
        exit(1);
    }
}
#define FM_CHECK(call) fm_check((call), #call, __LINE__)

// The section in the per-thread-default-stream translation unit (known_launches_ptds.cu).
// Launches `launches` kernels fmk_ptds on the calling thread's default stream into x[0..n)
// and waits for them.
void fm_run_ptds(unsigned *x, int n, int launches);

#endif
