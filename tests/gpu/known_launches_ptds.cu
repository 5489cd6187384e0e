// known_launches_ptds.cu - the part of known_launches compiled with
// `--default-stream per-thread`. In such a translation unit the runtime's launch becomes the
// per-thread variant (cudaLaunchKernel_ptsz), which reaches the driver as cuLaunchKernel_ptsz:
// a callback id of its own that the hook must subscribe to. The flag applies to a whole
// translation unit, hence a file of its own.
#include "known_launches.cuh"

__global__ void fmk_ptds(unsigned *x, int n, unsigned salt)
{
    fm_mix(x, n, salt);
}

void fm_run_ptds(unsigned *x, int n, int launches)
{
    for (int i = 0; i < launches; i++)
        fmk_ptds<<<4, 256>>>(x, n, 23u); // the default stream here is the per-thread stream
    FM_CHECK(cudaGetLastError());
    FM_CHECK(cudaStreamSynchronize(cudaStreamPerThread));
}
