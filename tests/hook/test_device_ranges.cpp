// test_device_ranges.cpp - the allocated device ranges and argument hashing with device
// pointers masked (device_ranges.c), including readers that run while a writer adds and
// removes ranges.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hook_access.h"

namespace {

struct Ranges {
    ha_ranges *r = ha_ranges_new();
    ~Ranges() { ha_ranges_delete(r); }
    std::vector<std::pair<uint64_t, uint64_t>> all() const
    {
        std::vector<std::pair<uint64_t, uint64_t>> out;
        for (uint32_t i = 0; i < ha_ranges_count(r); i++) {
            uint64_t s, e;
            ha_ranges_get(r, i, &s, &e);
            out.push_back({s, e});
        }
        return out;
    }
};

using RangeList = std::vector<std::pair<uint64_t, uint64_t>>;

const uint64_t GiB = 1ull << 30;
const uint64_t kBase = 0x7f4000000000ull; // where a driver puts device memory

TEST(HookDeviceRanges, ContainsExactlyTheAllocatedBytes)
{
    Ranges d;
    EXPECT_FALSE(ha_ranges_contains(d.r, kBase));
    ASSERT_EQ(ha_ranges_add(d.r, kBase, 0x100), 0);
    EXPECT_TRUE(ha_ranges_contains(d.r, kBase));
    EXPECT_TRUE(ha_ranges_contains(d.r, kBase + 0xff));
    EXPECT_FALSE(ha_ranges_contains(d.r, kBase + 0x100));
    EXPECT_FALSE(ha_ranges_contains(d.r, kBase - 1));
    EXPECT_FALSE(ha_ranges_contains(d.r, 0));
    EXPECT_FALSE(ha_ranges_contains(d.r, ~0ull));
    // nothing to add: an empty range, or one that wraps around
    EXPECT_EQ(ha_ranges_add(d.r, kBase + GiB, 0), 0);
    EXPECT_EQ(ha_ranges_add(d.r, ~0ull - 10, 100), 0);
    EXPECT_EQ(d.all(), (RangeList{{kBase, kBase + 0x100}}));
}

TEST(HookDeviceRanges, KeptSortedWhateverTheOrderOfAllocation)
{
    Ranges d;
    std::vector<uint64_t> starts = {5, 1, 9, 3, 7, 2, 8, 4, 6, 0};
    for (uint64_t s : starts)
        ASSERT_EQ(ha_ranges_add(d.r, kBase + s * GiB, GiB / 2), 0);
    RangeList want;
    for (uint64_t s = 0; s < 10; s++)
        want.push_back({kBase + s * GiB, kBase + s * GiB + GiB / 2});
    EXPECT_EQ(d.all(), want);
    for (uint64_t s = 0; s < 10; s++) {
        EXPECT_TRUE(ha_ranges_contains(d.r, kBase + s * GiB + 17));
        EXPECT_FALSE(ha_ranges_contains(d.r, kBase + s * GiB + GiB / 2 + 17)); // the gaps
    }
}

TEST(HookDeviceRanges, AdjacentRangesStayApart)
{
    Ranges d;
    ASSERT_EQ(ha_ranges_add(d.r, kBase, 0x1000), 0);
    ASSERT_EQ(ha_ranges_add(d.r, kBase + 0x1000, 0x1000), 0);
    EXPECT_EQ(d.all(), (RangeList{{kBase, kBase + 0x1000}, {kBase + 0x1000, kBase + 0x2000}}));
    EXPECT_TRUE(ha_ranges_contains(d.r, kBase + 0xfff));
    EXPECT_TRUE(ha_ranges_contains(d.r, kBase + 0x1000));
    // freeing one keeps the other
    ha_ranges_remove(d.r, kBase);
    EXPECT_FALSE(ha_ranges_contains(d.r, kBase));
    EXPECT_FALSE(ha_ranges_contains(d.r, kBase + 0xfff));
    EXPECT_TRUE(ha_ranges_contains(d.r, kBase + 0x1000));
    EXPECT_TRUE(ha_ranges_contains(d.r, kBase + 0x1fff));
}

TEST(HookDeviceRanges, RemoveByStart)
{
    Ranges d;
    ha_ranges_add(d.r, kBase, 0x100);
    ha_ranges_add(d.r, kBase + 0x1000, 0x100);
    // a value inside a range, or an unknown address, removes nothing
    ha_ranges_remove(d.r, kBase + 0x10);
    ha_ranges_remove(d.r, kBase + 0x5000);
    EXPECT_EQ(d.all().size(), 2u);
    ha_ranges_remove(d.r, kBase + 0x1000);
    EXPECT_EQ(d.all(), (RangeList{{kBase, kBase + 0x100}}));
    ha_ranges_remove(d.r, kBase);
    EXPECT_TRUE(d.all().empty());
    ha_ranges_remove(d.r, kBase); // twice: nothing happens
    EXPECT_FALSE(ha_ranges_contains(d.r, kBase));
    // and the address can be allocated again
    ha_ranges_add(d.r, kBase, 0x200);
    EXPECT_TRUE(ha_ranges_contains(d.r, kBase + 0x1ff));
}

TEST(HookDeviceRanges, OverlappingReservationsMerge)
{
    // virtual memory management: a reservation that covers earlier ones, and two that overlap
    Ranges d;
    ha_ranges_add(d.r, kBase + 0x2000, 0x100);
    ha_ranges_add(d.r, kBase + 0x8000, 0x100);
    ha_ranges_add(d.r, kBase, 0x10000); // covers both
    EXPECT_EQ(d.all(), (RangeList{{kBase, kBase + 0x10000}}));
    ha_ranges_add(d.r, kBase + 0xf000, 0x4000); // sticks out at the end
    EXPECT_EQ(d.all(), (RangeList{{kBase, kBase + 0x13000}}));
    ha_ranges_add(d.r, kBase - 0x1000, 0x1800); // and at the start
    EXPECT_EQ(d.all(), (RangeList{{kBase - 0x1000, kBase + 0x13000}}));
    // one that bridges two separate ranges
    ha_ranges_add(d.r, kBase + 0x20000, 0x1000);
    ha_ranges_add(d.r, kBase + 0x12000, 0xf000);
    EXPECT_EQ(d.all(), (RangeList{{kBase - 0x1000, kBase + 0x21000}}));
    for (uint64_t v = kBase - 0x1000; v < kBase + 0x21000; v += 0x800)
        EXPECT_TRUE(ha_ranges_contains(d.r, v));
}

TEST(HookDeviceRanges, AgreesWithAPlainListOnManyRanges)
{
    Ranges d;
    std::mt19937_64 rng(7);
    std::vector<std::pair<uint64_t, uint64_t>> live; // start, size; never overlapping
    for (int i = 0; i < 2000; i++) {
        if (!live.empty() && rng() % 3 == 0) {
            size_t k = rng() % live.size();
            ha_ranges_remove(d.r, live[k].first);
            live.erase(live.begin() + (long)k);
        } else {
            uint64_t start = kBase + (uint64_t)i * 0x100000 + (rng() % 64) * 0x1000;
            uint64_t size = 0x1000 * (1 + rng() % 150); // below the next start
            ASSERT_EQ(ha_ranges_add(d.r, start, size), 0);
            live.push_back({start, size});
        }
    }
    ASSERT_EQ(d.all().size(), live.size());
    for (int i = 0; i < 20000; i++) {
        uint64_t v = kBase + rng() % (2000ull * 0x100000);
        bool want = std::any_of(live.begin(), live.end(), [&](auto &r) {
            return v >= r.first && v < r.first + r.second;
        });
        ASSERT_EQ(ha_ranges_contains(d.r, v) != 0, want) << std::hex << v;
    }
}

// A kernel's parameters as the driver hands them over: a pointer to each argument's bytes.
struct Args {
    std::vector<std::vector<uint8_t>> bytes;
    template <class T> Args &add(const T &v)
    {
        std::vector<uint8_t> b(sizeof v);
        memcpy(b.data(), &v, sizeof v);
        bytes.push_back(b);
        return *this;
    }
    uint64_t hash(const ha_ranges *r) const
    {
        std::vector<void *> params;
        std::vector<size_t> sizes;
        for (auto &b : bytes) {
            params.push_back(const_cast<uint8_t *>(b.data()));
            sizes.push_back(b.size());
        }
        return ha_arg_hash(r, params.data(), sizes.data(), (uint32_t)params.size());
    }
};

struct TensorArg { // a struct passed by value, with pointers inside it
    uint64_t data;
    uint64_t grad;
    int32_t rows, cols;
};

TEST(HookArgHash, DevicePointersAreMaskedValuesAreNot)
{
    Ranges d;
    const uint64_t a = kBase, b = kBase + GiB; // two allocations
    ha_ranges_add(d.r, a, 64 << 20);
    ha_ranges_add(d.r, b, 64 << 20);
    auto gemm = [](uint64_t x, uint64_t y, int32_t n, float alpha) {
        return Args().add(x).add(y).add(n).add(alpha);
    };
    uint64_t h = gemm(a, b, 1024, 1.0f).hash(d.r);
    // other pointers inside the allocations: the same work
    EXPECT_EQ(gemm(a + 4096, b + 123456, 1024, 1.0f).hash(d.r), h);
    EXPECT_EQ(gemm(b, a, 1024, 1.0f).hash(d.r), h);
    // a scalar changes the work
    EXPECT_NE(gemm(a, b, 2048, 1.0f).hash(d.r), h);
    EXPECT_NE(gemm(a, b, 1024, 0.5f).hash(d.r), h);
    // a value outside every allocation is a value
    EXPECT_NE(gemm(a, kBase + 2 * GiB, 1024, 1.0f).hash(d.r), h);
    EXPECT_NE(gemm(a, 12345, 1024, 1.0f).hash(d.r), gemm(a, 54321, 1024, 1.0f).hash(d.r));
    // just past an allocation's end is not in it
    EXPECT_NE(gemm(a, b + (64 << 20), 1024, 1.0f).hash(d.r), h);
    // without ranges nothing is masked
    EXPECT_NE(gemm(a + 8, b, 1024, 1.0f).hash(nullptr), gemm(a, b, 1024, 1.0f).hash(nullptr));
    // freed: its pointers are values again
    ha_ranges_remove(d.r, b);
    EXPECT_NE(gemm(a, b, 1024, 1.0f).hash(d.r), gemm(a, b + 64, 1024, 1.0f).hash(d.r));
    EXPECT_EQ(gemm(a, b, 1024, 1.0f).hash(d.r), gemm(a + 64, b, 1024, 1.0f).hash(d.r));
}

TEST(HookArgHash, AFreedAllocationIsNoLongerMasked)
{
    // The hash remembers the ranges a thread's last pointers fell in; a free must make it
    // forget them, in this thread and in a set that reuses a freed set's memory. The freed
    // allocation lies between two others, so that only the search can tell.
    const uint64_t a = kBase, b = kBase + GiB, c = kBase + 2 * GiB;
    for (int round = 0; round < 3; round++) {
        Ranges d;
        ha_ranges_add(d.r, a, 64 << 20);
        ha_ranges_add(d.r, b, 64 << 20);
        ha_ranges_add(d.r, c, 64 << 20);
        uint64_t masked = Args().add(b + 64).hash(d.r);
        EXPECT_EQ(Args().add(b + 128).hash(d.r), masked);
        ha_ranges_remove(d.r, b);
        EXPECT_NE(Args().add(b + 64).hash(d.r), Args().add(b + 128).hash(d.r))
            << "round " << round << ": a value in a freed allocation was masked";
        EXPECT_EQ(Args().add(c + 64).hash(d.r), masked);
    }
}

TEST(HookArgHash, PointersInsideStructArguments)
{
    Ranges d;
    ha_ranges_add(d.r, kBase, 1 << 30);
    TensorArg t1{kBase + 0x100, kBase + 0x200, 64, 32}, t2{kBase + 0x900, kBase + 0x4000, 64, 32};
    EXPECT_EQ(Args().add(t1).hash(d.r), Args().add(t2).hash(d.r));
    TensorArg t3 = t1;
    t3.cols = 33;
    EXPECT_NE(Args().add(t1).hash(d.r), Args().add(t3).hash(d.r));
    // only aligned words of an argument are taken for pointers: the same bytes at offset 4
    struct Packed {
        uint32_t pad;
        uint8_t ptr[8];
    } p1, p2;
    p1.pad = p2.pad = 0;
    uint64_t v1 = kBase + 0x100, v2 = kBase + 0x200;
    memcpy(p1.ptr, &v1, 8);
    memcpy(p2.ptr, &v2, 8);
    EXPECT_NE(Args().add(p1).hash(d.r), Args().add(p2).hash(d.r));
}

TEST(HookArgHash, LayoutIsPartOfTheIdentity)
{
    Ranges d;
    uint64_t x = 1, y = 2;
    struct Two {
        uint64_t x, y;
    } both{1, 2};
    EXPECT_NE(Args().add(x).add(y).hash(d.r), Args().add(both).hash(d.r));
    uint8_t one = 7;
    uint16_t wide = 7;
    EXPECT_NE(Args().add(one).hash(d.r), Args().add(wide).hash(d.r));
    EXPECT_NE(Args().hash(d.r), Args().add(one).hash(d.r));
    // a missing parameter pointer is skipped, not read
    void *params[2] = {nullptr, &x};
    size_t sizes[2] = {8, 8};
    uint64_t h = ha_arg_hash(d.r, params, sizes, 2);
    EXPECT_EQ(h, ha_arg_hash(d.r, params, sizes, 2));
    // the same arguments, the same hash: a function of the bytes
    EXPECT_EQ(Args().add(x).add(y).hash(d.r), Args().add(x).add(y).hash(d.r));
}

TEST(HookDeviceRanges, ReplacedSetsAreFreedWhenNoReaderHoldsThem)
{
    // A program that allocates and frees in a loop replaces the set at every call: the
    // replaced sets must be freed as it goes, not kept to the end.
    Ranges d;
    for (int i = 0; i < 100000; i++) {
        ha_ranges_add(d.r, kBase + (uint64_t)(i % 7) * GiB, 1 << 20);
        EXPECT_TRUE(ha_ranges_contains(d.r, kBase + (uint64_t)(i % 7) * GiB + 5));
        ha_ranges_remove(d.r, kBase + (uint64_t)(i % 7) * GiB);
    }
    EXPECT_LE(ha_ranges_retired(d.r), 2u);
}

TEST(HookDeviceRanges, ReadersWhileAWriterAddsAndRemoves)
{
    Ranges d;
    const uint64_t stable = kBase, stable_size = 1 << 20;
    const uint64_t churn_base = kBase + 16 * GiB;
    ha_ranges_add(d.r, stable, stable_size);
    auto args = [](uint64_t p, int32_t n) { return Args().add(p).add(n); };
    const uint64_t want = args(stable + 64, 10).hash(d.r);
    std::atomic<bool> done{false};
    std::atomic<uint64_t> reads{0}, errors{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; t++)
        readers.emplace_back([&, t] {
            uint64_t i = 0;
            while (!done.load(std::memory_order_relaxed)) {
                i++;
                if (!ha_ranges_contains(d.r, stable + (i * 64 + (uint64_t)t) % stable_size))
                    errors++;
                if (ha_ranges_contains(d.r, kBase + 8 * GiB + i)) // never allocated
                    errors++;
                if (args(stable + (i % 1000) * 8, 10).hash(d.r) != want)
                    errors++;
                reads++;
            }
        });
    // the writer: allocations and frees around the stable range, at program rate and faster
    for (uint64_t i = 0; i < 5000; i++) {
        uint64_t s = churn_base + (i % 64) * 0x100000;
        if (i % 128 < 64)
            ASSERT_EQ(ha_ranges_add(d.r, s, 0x80000), 0);
        else
            ha_ranges_remove(d.r, s);
        ha_ranges_add(d.r, stable - 0x200000 - (i % 16) * 0x1000, 0x1000);
        ha_ranges_remove(d.r, stable - 0x200000 - (i % 16) * 0x1000);
    }
    while (reads.load() < 10000)
        std::this_thread::yield();
    done = true;
    for (auto &r : readers)
        r.join();
    EXPECT_EQ(errors.load(), 0u);
    EXPECT_TRUE(ha_ranges_contains(d.r, stable));
}

} // namespace
