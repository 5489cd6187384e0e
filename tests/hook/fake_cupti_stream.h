// fake_cupti_stream.h - FakeCuptiStream: a TEST DOUBLE of the CUPTI callback stream.
//
// It stands in for the device boundary only: what CUPTI delivers to cupti_glue.c on a machine
// with a GPU. That is the driver API callbacks (a kernel launch at API entry with its
// function, grid, block, shared memory, kernelParams and correlation id; allocations and frees
// at API exit; a context created on a device) and the activity buffers of kernel execution
// records, which arrive later, in batches, on a thread of CUPTI's own. Each of them is turned
// into the calls cupti_glue.c makes, translated the same way: arguments hashed by the real
// fm_arg_hash over the ranges the allocations built, one correlation id per launch, a
// duration reported against it, and kernels run inside CUDA graphs (no launch callback)
// reported from their execution records by name. Everything behind those calls - the
// collector, its tables, phases, flusher and trace writer - is the real code.
//
// No GPU, driver or CUPTI is involved; the stream is what a test says happens.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collector_api.h"
#include "hook_access.h"

namespace hooktest {

class FakeCuptiStream {
  public:
    // A kernel as the driver knows it: a function handle, a (mangled) name, the sizes of its
    // parameters as cuFuncGetParamInfo reports them.
    struct Kernel {
        uint64_t function;
        std::string name;
        std::vector<size_t> param_sizes;
    };

    FakeCuptiStream() : ranges_(ha_ranges_new()) {}
    ~FakeCuptiStream()
    {
        stop_buffer_thread();
        ha_ranges_delete(ranges_);
    }
    FakeCuptiStream(const FakeCuptiStream &) = delete;
    FakeCuptiStream &operator=(const FakeCuptiStream &) = delete;

    // CUPTI_CBID_RESOURCE_CONTEXT_CREATED: the glue asks the driver about the device.
    void context_created(uint32_t ordinal, const std::string &name, const uint8_t uuid[16],
                         const std::string &chip, uint32_t cc_major, uint32_t cc_minor,
                         uint32_t sms, uint64_t memory, const std::string &bus)
    {
        fm_hook_device(ordinal, name.c_str(), uuid, chip.c_str(), cc_major, cc_minor, sms,
                       memory, bus.c_str());
    }

    // cuMemAlloc / cuMemAddressReserve and cuMemFree at API exit.
    void mem_alloc(uint64_t dptr, uint64_t bytes) { ha_ranges_add(ranges_, dptr, bytes); }
    void mem_free(uint64_t dptr) { ha_ranges_remove(ranges_, dptr); }

    // cuLaunchKernel at API entry on the calling thread. args holds each argument's bytes
    // (kernelParams points at them). The kernel's execution record, with duration_ns, is
    // queued for the buffer thread. Returns the correlation id.
    uint64_t launch(const Kernel &k, const uint32_t grid[3], const uint32_t block[3],
                    uint32_t shared_mem, uint32_t device,
                    const std::vector<std::vector<uint8_t>> &args, uint64_t duration_ns)
    {
        std::vector<void *> params;
        for (auto &a : args)
            params.push_back(const_cast<uint8_t *>(a.data()));
        fm_launch_info l;
        memset(&l, 0, sizeof l);
        l.function = k.function;
        l.name = k.name.c_str();
        memcpy(l.grid, grid, sizeof l.grid);
        memcpy(l.block, block, sizeof l.block);
        l.shared_mem = shared_mem;
        l.device = device;
        l.arg_hash = args.empty() ? 0
                                  : ha_arg_hash(ranges_, params.data(), k.param_sizes.data(),
                                                (uint32_t)k.param_sizes.size());
        l.correlation_id = next_correlation_.fetch_add(1);
        fm_hook_launch(&l);
        std::lock_guard<std::mutex> g(mu_);
        records_.push_back({l.correlation_id, duration_ns, false, {}, {}, {}, 0, 0});
        return l.correlation_id;
    }

    // An execution record of a kernel inside a CUDA graph (graphId set): no launch callback
    // saw it.
    void graph_kernel_executed(const std::string &name, const uint32_t grid[3],
                               const uint32_t block[3], uint32_t shared_mem, uint32_t device,
                               uint64_t duration_ns)
    {
        Record r{0, duration_ns, true, name, {}, {}, shared_mem, device};
        memcpy(r.grid, grid, sizeof r.grid);
        memcpy(r.block, block, sizeof r.block);
        std::lock_guard<std::mutex> g(mu_);
        records_.push_back(r);
    }

    // One activity buffer completed: every record queued so far, in order.
    void deliver()
    {
        std::vector<Record> batch;
        {
            std::lock_guard<std::mutex> g(mu_);
            batch.swap(records_);
        }
        for (auto &r : batch) {
            if (r.graph) {
                fm_launch_info l;
                memset(&l, 0, sizeof l);
                l.function = name_key(r.name);
                l.name = r.name.c_str();
                memcpy(l.grid, r.grid, sizeof l.grid);
                memcpy(l.block, r.block, sizeof l.block);
                l.shared_mem = r.shared_mem;
                l.device = r.device;
                fm_hook_graph_kernel(&l, r.duration_ns);
            } else {
                fm_hook_kernel_executed(r.correlation_id, r.duration_ns);
            }
        }
        delivered_ += batch.size();
    }

    // CUPTI's buffer thread: delivers what is queued every period_ms.
    void start_buffer_thread(int period_ms)
    {
        stop_ = false;
        buffer_thread_ = std::thread([this, period_ms] {
            std::unique_lock<std::mutex> l(wake_mu_);
            while (!stop_) {
                wake_.wait_for(l, std::chrono::milliseconds(period_ms));
                l.unlock();
                deliver();
                l.lock();
            }
        });
    }
    // Stops the buffer thread, then delivers the rest (cuptiActivityFlushAll at exit).
    void stop_buffer_thread()
    {
        if (buffer_thread_.joinable()) {
            {
                std::lock_guard<std::mutex> l(wake_mu_);
                stop_ = true;
            }
            wake_.notify_all();
            buffer_thread_.join();
        }
        deliver();
    }

    uint64_t launches() const { return next_correlation_.load() - 1; }
    uint64_t delivered() const { return delivered_; }

    // The function key of a kernel known only by name, as cupti_glue.c makes it: a hash of
    // the name with the top bit set, so that it cannot equal a function handle.
    static uint64_t name_key(const std::string &name)
    {
        uint64_t h = 1469598103934665603ull;
        for (unsigned char c : name) {
            h ^= c;
            h *= 1099511628211ull;
        }
        return h | (1ull << 63);
    }

  private:
    struct Record {
        uint64_t correlation_id, duration_ns;
        bool graph;
        std::string name;
        uint32_t grid[3], block[3];
        uint32_t shared_mem, device;
    };
    ha_ranges *ranges_;
    std::atomic<uint64_t> next_correlation_{1};
    std::mutex mu_;
    std::vector<Record> records_;
    std::atomic<uint64_t> delivered_{0};
    std::thread buffer_thread_;
    std::mutex wake_mu_;
    std::condition_variable wake_;
    bool stop_ = false;
};

} // namespace hooktest
