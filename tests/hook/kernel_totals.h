// kernel_totals.h - what the collector's measured-launch tests read from a trace: launches
// and operations per kernel name, and a launch of a named kernel to make.
#pragma once

#include <cstring>
#include <map>
#include <string>

#include "collector_api.h"
#include "hook_test_support.h"

namespace hooktest {

// A launch of 64 blocks of 256 threads.
inline fm_launch_info kernel_launch(const char *name, uint64_t function)
{
    fm_launch_info l;
    memset(&l, 0, sizeof l);
    l.name = name;
    l.function = function;
    l.grid[0] = 64;
    l.grid[1] = l.grid[2] = 1;
    l.block[0] = 256;
    l.block[1] = l.block[2] = 1;
    return l;
}

struct KernelTotals {
    uint64_t launches = 0, measured = 0, extrapolated = 0;
    std::map<uint8_t, double> ops; // measured + extrapolated, per precision class
};

// Per kernel name; only the launches of the phase named `phase` when one is given.
inline std::map<std::string, KernelTotals> totals_by_kernel(const Trace &t,
                                                            const char *phase = nullptr)
{
    std::map<std::string, KernelTotals> k;
    for (auto &a : t.aggregates) {
        if (phase && (!a.phase || t.phases.at(a.phase).name != phase))
            continue;
        KernelTotals &x = k[t.signatures.at(a.signature).name];
        x.launches += a.launches;
        x.measured += a.launches_measured;
        x.extrapolated += a.launches_extrapolated;
        for (auto &c : a.classes)
            x.ops[c.first] += c.second.first + c.second.second;
    }
    return k;
}

} // namespace hooktest
