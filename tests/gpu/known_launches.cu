// known_launches.cu - a CUDA program whose kernel launches are known exactly, to check what
// libflopmeter.so counts on a real GPU (tests/gpu/README.md).
//
// Each section takes one of the paths by which a kernel reaches the GPU, and each section's
// kernels have names of their own, so that a trace's launches per kernel name can be compared
// with the counts this program prints:
//   plain            <<<>>> through the runtime (the driver sees cuLaunchKernel)
//   launch_ex        cudaLaunchKernelEx (cuLaunchKernelEx), with and without dynamic shared memory
//   cooperative      cudaLaunchCooperativeKernel with a grid-wide barrier
//   per_thread       <<<>>> on cudaStreamPerThread, and a translation unit compiled with
//                    --default-stream per-thread (the driver's _ptsz variants)
//   driver           cuLaunchKernel called directly, found with dlsym in libcuda (as Triton
//                    and JAX do) and through cudaGetDriverEntryPointByVersion
//   graph            a CUDA graph built by stream capture and launched G times: its kernels
//                    run G times per node; the launches made while capturing run never and must
//                    not be counted
//   threads          T host threads with S streams each, K launches per stream, all at once
//   signatures       one kernel at several grid sizes, one with several scalar arguments, one
//                    with several dynamic shared memory sizes (distinct signatures), and one
//                    given only different device pointers (one signature)
//
// Output on stdout: one "CHECKSUM <section> <hex>" line per section, from the device's
// results (integer arithmetic, so the same bits with and without the hook), then one
// "EXPECTED <json>" line: launches per kernel name, and distinct signatures per kernel name
// with argument hashing on (FLOPMETER_ARGS=1, the default) and off. Diagnostics go to stderr.
// Exit status 0 when every section ran, 1 on a CUDA error, 2 on a usage error.
#include <cooperative_groups.h>
#include <cuda.h> // driver API types only: the driver itself is reached at run time
#include <dlfcn.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "known_launches.cuh"

namespace cg = cooperative_groups;

// ---- kernels: one name per launch path, none a substring of another -----------------------

__global__ void fmk_plain(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_launch_ex(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_stream_per_thread(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_drv_dlsym(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_drv_entry(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_graph_a(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_graph_b(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_threads(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_sig_grid(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_sig_scalar(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }
__global__ void fmk_sig_ptr(unsigned *x, int n, unsigned salt) { fm_mix(x, n, salt); }

// Uses its dynamic shared memory, so that the size is part of what the launch does.
__global__ void fmk_sig_smem(unsigned *x, int n, unsigned salt)
{
    extern __shared__ unsigned scratch[];
    scratch[threadIdx.x] = salt + threadIdx.x;
    __syncthreads();
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        x[i] = x[i] * 1664525u + scratch[(threadIdx.x + 1) % blockDim.x];
}

// Two phases separated by a grid-wide barrier: only a cooperative launch may run it.
__global__ void fmk_coop(unsigned *x, unsigned *tmp, int n, unsigned salt)
{
    cg::grid_group grid = cg::this_grid();
    for (int i = (int)grid.thread_rank(); i < n; i += (int)grid.size())
        tmp[i] = x[i] * 3u + salt;
    grid.sync();
    for (int i = (int)grid.thread_rank(); i < n; i += (int)grid.size())
        x[i] = tmp[i] ^ tmp[(i + 1) % n];
}

// ---- bookkeeping ------------------------------------------------------------------------

struct Expected {
    std::map<std::string, long long> launches;
    std::map<std::string, int> signatures;          // FLOPMETER_ARGS=1
    std::map<std::string, int> signatures_args_off; // FLOPMETER_ARGS=0
    std::vector<std::string> skipped;

    void add(const char *kernel, long long n, int sigs, int sigs_args_off)
    {
        launches[kernel] += n;
        signatures[kernel] = sigs;
        signatures_args_off[kernel] = sigs_args_off;
    }
};

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = static_cast<const unsigned char *>(data);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static const uint64_t FNV_START = 1469598103934665603ull;

// Copies device buffers back and prints their checksum under the section's name.
static void print_checksum(const char *section, const std::vector<const unsigned *> &bufs, int n)
{
    std::vector<unsigned> host((size_t)n);
    uint64_t h = FNV_START;
    for (const unsigned *d : bufs) {
        FM_CHECK(cudaMemcpy(host.data(), d, (size_t)n * sizeof(unsigned), cudaMemcpyDeviceToHost));
        h = fnv1a(h, host.data(), host.size() * sizeof(unsigned));
    }
    printf("CHECKSUM %s %016" PRIx64 "\n", section, h);
}

static unsigned *device_buffer(int n)
{
    unsigned *p = nullptr;
    FM_CHECK(cudaMalloc(&p, (size_t)n * sizeof(unsigned)));
    FM_CHECK(cudaMemset(p, 0, (size_t)n * sizeof(unsigned)));
    return p;
}

struct Options {
    int threads = 8, streams = 4, per_stream = 200, graph_launches = 10;
};

static const int N = 4096;     // elements per buffer
static const int BLOCK = 256;  // threads per block everywhere but the grid/smem variations
static const int GRID = 4;

// ---- sections ---------------------------------------------------------------------------

static void section_plain(Expected &e)
{
    const int launches = 100;
    unsigned *x = device_buffer(N);
    for (int i = 0; i < launches; i++)
        fmk_plain<<<GRID, BLOCK>>>(x, N, 1u);
    FM_CHECK(cudaGetLastError());
    FM_CHECK(cudaDeviceSynchronize());
    e.add("fmk_plain", launches, 1, 1);
    print_checksum("plain", {x}, N);
    FM_CHECK(cudaFree(x));
}

static void section_launch_ex(Expected &e)
{
    const int launches = 50;
    unsigned *x = device_buffer(N);
    cudaStream_t s;
    FM_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaLaunchConfig_t cfg = {}; // no attributes: the plain extensible launch
    cfg.gridDim = dim3(GRID);
    cfg.blockDim = dim3(BLOCK);
    cfg.stream = s;
    for (int i = 0; i < launches; i++)
        FM_CHECK(cudaLaunchKernelEx(&cfg, fmk_launch_ex, x, N, 2u));
    FM_CHECK(cudaStreamSynchronize(s));
    e.add("fmk_launch_ex", launches, 1, 1);
    print_checksum("launch_ex", {x}, N);
    FM_CHECK(cudaStreamDestroy(s));
    FM_CHECK(cudaFree(x));
}

static void section_cooperative(Expected &e, int device)
{
    const int launches = 5;
    int supported = 0, sms = 0, per_sm = 0;
    FM_CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrCooperativeLaunch, device));
    FM_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    FM_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fmk_coop, BLOCK, 0));
    if (!supported || per_sm < 1 || sms < 1) {
        // The kernel cannot run here; the checker then expects it never to appear.
        fprintf(stderr, "known_launches: cooperative launch not supported, section skipped\n");
        e.add("fmk_coop", 0, 0, 0);
        e.skipped.push_back("cooperative");
        return;
    }
    unsigned *x = device_buffer(N), *tmp = device_buffer(N);
    int n = N;
    unsigned salt = 3u;
    void *args[] = {&x, &tmp, &n, &salt};
    for (int i = 0; i < launches; i++)
        FM_CHECK(cudaLaunchCooperativeKernel((const void *)fmk_coop, dim3(sms), dim3(BLOCK), args,
                                             0, nullptr));
    FM_CHECK(cudaDeviceSynchronize());
    e.add("fmk_coop", launches, 1, 1);
    print_checksum("cooperative", {x}, N);
    FM_CHECK(cudaFree(x));
    FM_CHECK(cudaFree(tmp));
}

static void section_per_thread(Expected &e)
{
    const int launches = 30, ptds_launches = 20;
    unsigned *x = device_buffer(N), *a = device_buffer(N), *b = device_buffer(N);
    for (int i = 0; i < launches; i++)
        fmk_stream_per_thread<<<GRID, BLOCK, 0, cudaStreamPerThread>>>(x, N, 5u);
    FM_CHECK(cudaGetLastError());
    FM_CHECK(cudaStreamSynchronize(cudaStreamPerThread));
    // The per-thread default stream of this thread and of a second one.
    fm_run_ptds(a, N, ptds_launches);
    std::thread other([&] { fm_run_ptds(b, N, ptds_launches); });
    other.join();
    e.add("fmk_stream_per_thread", launches, 1, 1);
    e.add("fmk_ptds", 2 * ptds_launches, 1, 1);
    print_checksum("per_thread", {x, a, b}, N);
    FM_CHECK(cudaFree(x));
    FM_CHECK(cudaFree(a));
    FM_CHECK(cudaFree(b));
}

typedef CUresult (*launch_kernel_fn)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                                     unsigned, unsigned, CUstream, void **, void **);

// Launches `launches` times through a driver entry point; 0, or -1 when it reported an error.
static int driver_launches(launch_kernel_fn launch, const void *kernel, unsigned *x, unsigned salt,
                           int launches)
{
    cudaFunction_t f;
    FM_CHECK(cudaGetFuncBySymbol(&f, kernel));
    int n = N;
    void *args[] = {&x, &n, &salt};
    for (int i = 0; i < launches; i++) {
        CUresult r = launch((CUfunction)f, GRID, 1, 1, BLOCK, 1, 1, 0, nullptr, args, nullptr);
        if (r != CUDA_SUCCESS) {
            fprintf(stderr, "known_launches: cuLaunchKernel returned %d\n", (int)r);
            return -1;
        }
    }
    return 0;
}

static void section_driver(Expected &e)
{
    const int launches = 20;
    unsigned *x = device_buffer(N), *y = device_buffer(N);
    // The runtime has loaded the driver by now; this finds that copy.
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!lib)
        lib = dlopen("libcuda.so.1", RTLD_NOW);
    launch_kernel_fn by_dlsym = lib ? (launch_kernel_fn)dlsym(lib, "cuLaunchKernel") : nullptr;
    if (!by_dlsym) {
        fprintf(stderr, "known_launches: cuLaunchKernel not found in libcuda.so.1\n");
        exit(1);
    }
    void *p = nullptr;
    cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
    FM_CHECK(cudaGetDriverEntryPointByVersion("cuLaunchKernel", &p, CUDART_VERSION,
                                              cudaEnableDefault, &q));
    if (!p || q != cudaDriverEntryPointSuccess) {
        fprintf(stderr, "known_launches: no driver entry point for cuLaunchKernel\n");
        exit(1);
    }
    if (driver_launches(by_dlsym, (const void *)fmk_drv_dlsym, x, 7u, launches) != 0 ||
        driver_launches((launch_kernel_fn)p, (const void *)fmk_drv_entry, y, 7u, launches) != 0)
        exit(1);
    FM_CHECK(cudaDeviceSynchronize());
    e.add("fmk_drv_dlsym", launches, 1, 1);
    e.add("fmk_drv_entry", launches, 1, 1);
    print_checksum("driver", {x, y}, N);
    FM_CHECK(cudaFree(x));
    FM_CHECK(cudaFree(y));
}

static void section_graph(Expected &e, int graph_launches)
{
    unsigned *x = device_buffer(N), *y = device_buffer(N);
    cudaStream_t s;
    FM_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    // Three kernel nodes: fmk_graph_a twice (same configuration: one signature), fmk_graph_b
    // once. These launches only record nodes.
    cudaGraph_t graph;
    FM_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    fmk_graph_a<<<GRID, BLOCK, 0, s>>>(x, N, 11u);
    fmk_graph_b<<<GRID, BLOCK, 0, s>>>(y, N, 13u);
    fmk_graph_a<<<GRID, BLOCK, 0, s>>>(x, N, 11u);
    FM_CHECK(cudaGetLastError());
    FM_CHECK(cudaStreamEndCapture(s, &graph));
    size_t nodes = 0;
    FM_CHECK(cudaGraphGetNodes(graph, nullptr, &nodes));
    if (nodes != 3) {
        fprintf(stderr, "known_launches: captured graph has %zu nodes, expected 3\n", nodes);
        exit(1);
    }
    cudaGraphExec_t exec;
    FM_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < graph_launches; i++)
        FM_CHECK(cudaGraphLaunch(exec, s));
    FM_CHECK(cudaStreamSynchronize(s));
    // Graph kernels are identified from execution records, which carry no arguments: one
    // signature per configuration whatever FLOPMETER_ARGS says.
    e.add("fmk_graph_a", 2LL * graph_launches, 1, 1);
    e.add("fmk_graph_b", graph_launches, 1, 1);
    print_checksum("graph", {x, y}, N);
    FM_CHECK(cudaGraphExecDestroy(exec));
    FM_CHECK(cudaGraphDestroy(graph));
    FM_CHECK(cudaStreamDestroy(s));
    FM_CHECK(cudaFree(x));
    FM_CHECK(cudaFree(y));
}

static void section_threads(Expected &e, const Options &o, int device)
{
    const int n = 1024;
    std::vector<std::vector<unsigned>> results((size_t)o.threads * o.streams,
                                               std::vector<unsigned>((size_t)n));
    std::vector<std::thread> workers;
    for (int t = 0; t < o.threads; t++) {
        workers.emplace_back([&, t] {
            FM_CHECK(cudaSetDevice(device));
            std::vector<cudaStream_t> streams((size_t)o.streams);
            std::vector<unsigned *> bufs((size_t)o.streams);
            for (int j = 0; j < o.streams; j++) {
                FM_CHECK(cudaStreamCreateWithFlags(&streams[j], cudaStreamNonBlocking));
                FM_CHECK(cudaMalloc(&bufs[j], (size_t)n * sizeof(unsigned)));
                FM_CHECK(cudaMemsetAsync(bufs[j], 0, (size_t)n * sizeof(unsigned), streams[j]));
            }
            // Same arguments everywhere but the buffer: all of these are one signature, which
            // the threads' launches then update concurrently.
            for (int k = 0; k < o.per_stream; k++)
                for (int j = 0; j < o.streams; j++)
                    fmk_threads<<<GRID, BLOCK, 0, streams[j]>>>(bufs[j], n, 17u);
            FM_CHECK(cudaGetLastError());
            for (int j = 0; j < o.streams; j++) {
                FM_CHECK(cudaStreamSynchronize(streams[j]));
                FM_CHECK(cudaMemcpy(results[(size_t)t * o.streams + j].data(), bufs[j],
                                    (size_t)n * sizeof(unsigned), cudaMemcpyDeviceToHost));
                FM_CHECK(cudaStreamDestroy(streams[j]));
                FM_CHECK(cudaFree(bufs[j]));
            }
        });
    }
    for (std::thread &w : workers)
        w.join();
    uint64_t h = FNV_START;
    for (const std::vector<unsigned> &r : results)
        h = fnv1a(h, r.data(), r.size() * sizeof(unsigned));
    e.add("fmk_threads", (long long)o.threads * o.streams * o.per_stream, 1, 1);
    printf("CHECKSUM threads %016" PRIx64 "\n", h);
}

static void section_signatures(Expected &e)
{
    const int repeats = 5;
    // Grid sizes: each is a signature of its own.
    const int grids[] = {1, 2, 4, 8};
    unsigned *g = device_buffer(N);
    for (int r = 0; r < repeats; r++)
        for (int grid : grids)
            fmk_sig_grid<<<grid, BLOCK>>>(g, N, 19u);
    e.add("fmk_sig_grid", repeats * 4LL, 4, 4);
    // Scalar arguments: signatures of their own when arguments are hashed, one when not.
    const unsigned salts[] = {1u, 2u, 3u};
    unsigned *s = device_buffer(N);
    for (int r = 0; r < repeats; r++)
        for (unsigned salt : salts)
            fmk_sig_scalar<<<GRID, BLOCK>>>(s, N, salt);
    e.add("fmk_sig_scalar", repeats * 3LL, 3, 1);
    // Dynamic shared memory sizes: part of the signature whatever FLOPMETER_ARGS says.
    const size_t smems[] = {BLOCK * sizeof(unsigned), 2 * BLOCK * sizeof(unsigned)};
    unsigned *m = device_buffer(N);
    for (int r = 0; r < repeats; r++)
        for (size_t smem : smems)
            fmk_sig_smem<<<GRID, BLOCK, smem>>>(m, N, 29u);
    e.add("fmk_sig_smem", repeats * 2LL, 2, 2);
    // Device pointers only: three allocations, each at its start and at its middle. Where the
    // work lands is not what it is: one signature.
    unsigned *allocs[3];
    for (unsigned *&a : allocs)
        a = device_buffer(2 * N);
    for (int r = 0; r < repeats; r++)
        for (unsigned *a : allocs) {
            fmk_sig_ptr<<<GRID, BLOCK>>>(a, N, 31u);
            fmk_sig_ptr<<<GRID, BLOCK>>>(a + N, N, 31u);
        }
    e.add("fmk_sig_ptr", repeats * 6LL, 1, 1);
    FM_CHECK(cudaGetLastError());
    FM_CHECK(cudaDeviceSynchronize());
    print_checksum("signatures", {g, s, m, allocs[0], allocs[0] + N, allocs[1], allocs[1] + N,
                                  allocs[2], allocs[2] + N},
                   N);
    FM_CHECK(cudaFree(g));
    FM_CHECK(cudaFree(s));
    FM_CHECK(cudaFree(m));
    for (unsigned *a : allocs)
        FM_CHECK(cudaFree(a));
}

// ---- output -------------------------------------------------------------------------------

template <typename T> static std::string json_map(const std::map<std::string, T> &m)
{
    std::string s = "{";
    for (const auto &kv : m) {
        if (s.size() > 1)
            s += ", ";
        s += "\"" + kv.first + "\": " + std::to_string(kv.second);
    }
    return s + "}";
}

static void print_expected(const Expected &e, const Options &o)
{
    long long total = 0;
    for (const auto &kv : e.launches)
        total += kv.second;
    std::string skipped = "[";
    for (const std::string &s : e.skipped)
        skipped += (skipped.size() > 1 ? ", \"" : "\"") + s + "\"";
    skipped += "]";
    printf("EXPECTED {\"schema\": \"flopmeter-known-launches/1\", \"total_launches\": %lld, "
           "\"launches\": %s, \"signatures\": %s, \"signatures_args_off\": %s, "
           "\"skipped\": %s, \"options\": {\"threads\": %d, \"streams\": %d, "
           "\"per_stream\": %d, \"graph_launches\": %d}}\n",
           total, json_map(e.launches).c_str(), json_map(e.signatures).c_str(),
           json_map(e.signatures_args_off).c_str(), skipped.c_str(), o.threads, o.streams,
           o.per_stream, o.graph_launches);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: known_launches [--threads T] [--streams S] [--per-stream K] "
               "[--graph-launches G]\n\n"
               "Launches CUDA kernels by every path libflopmeter.so must see, a known number\n"
               "of times each, and prints per-section checksums of the results and the\n"
               "expected launch and signature counts per kernel name (EXPECTED <json>).\n"
               "Defaults: T=8 host threads x S=4 streams x K=200 launches; G=10 graph launches.\n");
}

static int parse_options(int argc, char **argv, Options &o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        int *target = !strcmp(a, "--threads")          ? &o.threads
                      : !strcmp(a, "--streams")        ? &o.streams
                      : !strcmp(a, "--per-stream")     ? &o.per_stream
                      : !strcmp(a, "--graph-launches") ? &o.graph_launches
                                                       : nullptr;
        char *end = nullptr;
        long v = target && i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
        if (!target || !end || *end || v < 1 || v > 100000) {
            fprintf(stderr, "known_launches: bad argument '%s'\n", a);
            usage(stderr);
            return -1;
        }
        *target = (int)v;
        i++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    Options o;
    if (parse_options(argc, argv, o) != 0)
        return 2;
    // stdout is compared between runs: line-buffer it so that an early exit loses nothing
    setvbuf(stdout, nullptr, _IOLBF, 0);
    auto t0 = std::chrono::steady_clock::now();
    int device = 0;
    FM_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop;
    FM_CHECK(cudaGetDeviceProperties(&prop, device));
    int runtime = 0, driver = 0;
    FM_CHECK(cudaRuntimeGetVersion(&runtime));
    FM_CHECK(cudaDriverGetVersion(&driver));
    fprintf(stderr, "known_launches: %s, cc %d.%d, %d SMs, runtime %d, driver %d\n", prop.name,
            prop.major, prop.minor, prop.multiProcessorCount, runtime, driver);

    Expected e;
    section_plain(e);
    section_launch_ex(e);
    section_cooperative(e, device);
    section_per_thread(e);
    section_driver(e);
    section_graph(e, o.graph_launches);
    section_threads(e, o, device);
    section_signatures(e);
    FM_CHECK(cudaDeviceSynchronize());
    print_expected(e, o);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fprintf(stderr, "known_launches: done in %.2f s\n", s);
    return 0;
}
