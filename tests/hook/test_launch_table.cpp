// test_launch_table.cpp - the lock-free signature and counter tables (launch_table.c): one
// thread, eight threads with a reader playing the flusher, full tables and a full name arena.
#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hook_access.h"

namespace {

struct Table {
    ha_table *t;
    Table(uint32_t sigs, uint32_t pairs, size_t names) : t(ha_table_new(sigs, pairs, names)) {}
    ~Table() { ha_table_delete(t); }
    ha_table_counters counters() const
    {
        ha_table_counters c;
        ha_table_get_counters(t, &c);
        return c;
    }
    // What the launch path does with a launch: find or add its signature (publishing it when
    // new), then count it against (signature, phase).
    ha_sig *launch(const ha_key &k, const char *name, uint32_t phase, uint64_t busy = 0)
    {
        int created = 0;
        ha_sig *s = ha_table_signature(t, &k, name, 1, &created);
        if (!s)
            return nullptr;
        if (created)
            ha_table_publish(t, s);
        ha_pair *p = ha_table_pair(t, ha_sig_id(s), phase);
        if (p)
            ha_pair_add(p, 1, busy);
        return s;
    }
};

ha_key key_for(uint64_t i)
{
    ha_key k;
    memset(&k, 0, sizeof k);
    k.function = 0x7f0000000000ull + i * 16; // a function per signature
    k.grid[0] = (uint32_t)(i % 97) + 1;
    k.grid[1] = (uint32_t)(i % 3) + 1;
    k.grid[2] = 1;
    k.block[0] = 128;
    k.block[1] = 1;
    k.block[2] = 1;
    k.shared_mem = (uint32_t)(i % 5) * 1024;
    k.device = (uint32_t)(i % 2);
    k.arg_hash = 0x9e3779b97f4a7c15ull * (i + 1);
    return k;
}

std::string name_for(uint64_t i)
{
    return "kernel_" + std::to_string(i);
}

bool same_key(const ha_key &a, const ha_key &b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

TEST(HookLaunchTable, OneThread)
{
    Table tb(64, 256, 4096);
    ASSERT_NE(tb.t, nullptr);
    ha_key k = key_for(1);
    char name[32] = "first_kernel";
    int created = 0;
    ha_sig *s = ha_table_signature(tb.t, &k, name, 5, &created);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(created, 1);
    EXPECT_EQ(ha_sig_id(s), 1u);
    // not visible by id until published
    EXPECT_EQ(ha_table_by_id(tb.t, 1), nullptr);
    ha_table_publish(tb.t, s);
    EXPECT_EQ(ha_table_by_id(tb.t, 1), s);
    // the name is a copy
    strcpy(name, "overwritten");
    EXPECT_STREQ(ha_sig_name(tb.t, s), "first_kernel");
    EXPECT_EQ(ha_sig_first_seen(tb.t, s), 5u);
    ha_key back;
    ha_sig_key(s, &back);
    EXPECT_TRUE(same_key(back, k));
    // found again, not created, name and time of the first launch kept
    ha_sig *again = ha_table_signature(tb.t, &k, "another name", 9, &created);
    EXPECT_EQ(again, s);
    EXPECT_EQ(created, 0);
    EXPECT_STREQ(ha_sig_name(tb.t, s), "first_kernel");
    EXPECT_EQ(ha_sig_first_seen(tb.t, s), 5u);
    // ids out of range
    EXPECT_EQ(ha_table_by_id(tb.t, 0), nullptr);
    EXPECT_EQ(ha_table_by_id(tb.t, 2), nullptr);
    EXPECT_EQ(ha_table_by_id(tb.t, 65), nullptr);
    EXPECT_EQ(ha_table_by_id(tb.t, 0xffffffffu), nullptr);
    // no name
    ha_sig *unnamed = tb.launch(key_for(2), nullptr, 0);
    ASSERT_NE(unnamed, nullptr);
    EXPECT_STREQ(ha_sig_name(tb.t, unnamed), "");
}

TEST(HookLaunchTable, EveryFieldOfTheKeyCounts)
{
    Table tb(64, 256, 4096);
    ha_key base = key_for(3);
    std::vector<ha_key> keys = {base};
    auto vary = [&](auto change) {
        ha_key k = base;
        change(k);
        keys.push_back(k);
    };
    vary([](ha_key &k) { k.function ^= 0x10; });
    for (int i = 0; i < 3; i++) {
        vary([i](ha_key &k) { k.grid[i]++; });
        vary([i](ha_key &k) { k.block[i]++; });
    }
    vary([](ha_key &k) { k.shared_mem++; });
    vary([](ha_key &k) { k.device++; });
    vary([](ha_key &k) { k.arg_hash++; });
    std::set<uint32_t> ids;
    std::set<uint64_t> hashes;
    for (auto &k : keys) {
        ha_sig *s = tb.launch(k, "k", 0);
        ASSERT_NE(s, nullptr);
        ids.insert(ha_sig_id(s));
        hashes.insert(ha_key_hash(&k));
        EXPECT_NE(ha_key_hash(&k), 0u);
    }
    EXPECT_EQ(ids.size(), keys.size());
    EXPECT_EQ(hashes.size(), keys.size());
    for (auto &k : keys) {
        int created = 1;
        ha_sig *s = ha_table_signature(tb.t, &k, "k", 0, &created);
        ASSERT_NE(s, nullptr);
        EXPECT_EQ(created, 0);
        ha_key back;
        ha_sig_key(s, &back);
        EXPECT_TRUE(same_key(back, k));
    }
    // the hash is a function of the key
    ha_key zero;
    memset(&zero, 0, sizeof zero);
    EXPECT_NE(ha_key_hash(&zero), 0u);
    EXPECT_EQ(ha_key_hash(&base), ha_key_hash(&keys[0]));
}

TEST(HookLaunchTable, PairsPerSignatureAndPhase)
{
    Table tb(64, 256, 4096);
    ha_pair *a = ha_table_pair(tb.t, 1, 0);
    ha_pair *b = ha_table_pair(tb.t, 1, 1);
    ha_pair *c = ha_table_pair(tb.t, 2, 0);
    ha_pair *d = ha_table_pair(tb.t, 0x00ffffff, 255);
    ASSERT_TRUE(a && b && c && d);
    EXPECT_NE(a, b);
    EXPECT_NE(a, c);
    EXPECT_NE(b, c);
    EXPECT_EQ(ha_table_pair(tb.t, 1, 0), a);
    EXPECT_EQ(ha_table_pair(tb.t, 0x00ffffff, 255), d);
    ha_pair_add(a, 3, 300);
    ha_pair_add(ha_table_pair(tb.t, 1, 0), 2, 50);
    EXPECT_EQ(ha_pair_launches(a), 5u);
    EXPECT_EQ(ha_pair_busy(a), 350u);
    EXPECT_EQ(ha_pair_launches(b), 0u);
}

TEST(HookLaunchTable, EightThreadsCountExactly)
{
    const uint32_t nsig = 5000, phases = 4;
    const int threads = 8;
    const uint64_t per_thread = 100000;
    Table tb(8192, 8192 * 4, (size_t)8192 * 256);
    ASSERT_NE(tb.t, nullptr);
    std::vector<ha_key> keys(nsig);
    std::vector<std::string> names(nsig);
    for (uint32_t i = 0; i < nsig; i++) {
        keys[i] = key_for(i);
        names[i] = name_for(i);
    }
    auto index_of = [&](int t, uint64_t j) { return (uint32_t)((j * 7919 + (uint64_t)t * 131) % nsig); };
    std::atomic<bool> done{false};
    std::atomic<uint64_t> reader_checks{0}, reader_errors{0};
    // the flusher's view while the table fills: a published signature is always complete
    std::thread reader([&] {
        while (!done.load()) {
            for (uint32_t id = 1; id <= nsig; id++) {
                const ha_sig *s = ha_table_by_id(tb.t, id);
                if (!s)
                    continue;
                ha_key k;
                ha_sig_key(s, &k);
                uint64_t idx = (k.function - 0x7f0000000000ull) / 16;
                if (idx >= nsig || !same_key(k, keys[idx]) || ha_sig_id(s) != id ||
                    names[idx] != ha_sig_name(tb.t, s))
                    reader_errors++;
                reader_checks++;
            }
        }
    });
    std::vector<std::thread> ts;
    std::atomic<uint64_t> failures{0};
    for (int t = 0; t < threads; t++)
        ts.emplace_back([&, t] {
            for (uint64_t j = 0; j < per_thread; j++) {
                uint32_t i = index_of(t, j);
                if (!tb.launch(keys[i], names[i].c_str(), (uint32_t)(j % phases), i + 1))
                    failures++;
            }
        });
    for (auto &t : ts)
        t.join();
    done = true;
    reader.join();
    EXPECT_EQ(failures.load(), 0u);
    EXPECT_EQ(reader_errors.load(), 0u);
    EXPECT_GT(reader_checks.load(), 0u);

    // expected counts, replayed
    std::map<std::pair<uint32_t, uint32_t>, uint64_t> want;
    for (int t = 0; t < threads; t++)
        for (uint64_t j = 0; j < per_thread; j++)
            want[{index_of(t, j), (uint32_t)(j % phases)}]++;
    ha_table_counters c = tb.counters();
    EXPECT_EQ(c.next_id, nsig + 1); // every signature added exactly once
    EXPECT_EQ(c.dropped_signatures, 0u);
    EXPECT_EQ(c.dropped_pairs, 0u);
    EXPECT_EQ(c.truncated_names, 0u);
    std::set<uint32_t> ids;
    uint64_t total = 0;
    for (uint32_t i = 0; i < nsig; i++) {
        int created = 1;
        ha_sig *s = ha_table_signature(tb.t, &keys[i], "x", 0, &created);
        ASSERT_NE(s, nullptr);
        ASSERT_EQ(created, 0);
        ASSERT_TRUE(ids.insert(ha_sig_id(s)).second);
        EXPECT_EQ(ha_table_by_id(tb.t, ha_sig_id(s)), s);
        EXPECT_EQ(names[i], ha_sig_name(tb.t, s));
        for (uint32_t ph = 0; ph < phases; ph++) {
            auto it = want.find({i, ph});
            uint64_t n = it == want.end() ? 0 : it->second;
            ha_pair *p = ha_table_pair(tb.t, ha_sig_id(s), ph);
            ASSERT_NE(p, nullptr);
            ASSERT_EQ(ha_pair_launches(p), n) << "signature " << i << " phase " << ph;
            ASSERT_EQ(ha_pair_busy(p), n * (i + 1));
            total += ha_pair_launches(p);
        }
    }
    EXPECT_EQ(total, (uint64_t)threads * per_thread);
    EXPECT_EQ(*ids.begin(), 1u);
    EXPECT_EQ(*ids.rbegin(), nsig);
}

TEST(HookLaunchTable, FullSignatureTable)
{
    Table tb(16, 64, 4096);
    ha_table_counters c = tb.counters();
    EXPECT_EQ(c.sig_capacity, 16u);
    std::vector<ha_sig *> first;
    uint64_t failed = 0;
    for (uint64_t i = 0; i < 100; i++) {
        ha_sig *s = tb.launch(key_for(i), name_for(i).c_str(), 0);
        if (s)
            first.push_back(s);
        else
            failed++;
    }
    EXPECT_EQ(first.size(), 16u);
    EXPECT_EQ(failed, 84u);
    EXPECT_EQ(tb.counters().dropped_signatures, 84u);
    // again, many times: the same 16 are found, every other launch is one more drop, and the
    // table neither crashes nor hands out more ids
    uint64_t found = 0;
    for (int round = 0; round < 50; round++)
        for (uint64_t i = 0; i < 100; i++)
            found += tb.launch(key_for(i), name_for(i).c_str(), 1) != nullptr;
    EXPECT_EQ(found, 50u * 16u);
    c = tb.counters();
    EXPECT_EQ(c.dropped_signatures, 84u + 50u * 84u);
    for (uint32_t id = 1; id <= 16; id++)
        EXPECT_NE(ha_table_by_id(tb.t, id), nullptr);
    EXPECT_EQ(ha_table_by_id(tb.t, 17), nullptr);
    uint64_t counted = 0;
    for (ha_sig *s : first)
        counted += ha_pair_launches(ha_table_pair(tb.t, ha_sig_id(s), 1));
    EXPECT_EQ(counted, 50u * 16u);
}

TEST(HookLaunchTable, FullPairTable)
{
    Table tb(64, 16, 4096);
    const uint32_t slots = tb.counters().pair_slots;
    EXPECT_GE(slots, 16u);
    std::vector<ha_pair *> got;
    uint64_t failed = 0;
    for (uint32_t sig = 1; sig <= 10; sig++)
        for (uint32_t phase = 0; phase < 10; phase++) {
            ha_pair *p = ha_table_pair(tb.t, sig, phase);
            if (p) {
                got.push_back(p);
                ha_pair_add(p, 1, 0);
            } else {
                failed++;
            }
        }
    EXPECT_EQ(got.size(), (size_t)slots);
    EXPECT_EQ(failed, 100u - slots);
    EXPECT_EQ(tb.counters().dropped_pairs, 100u - slots);
    // the pairs that are there are still found and counted
    uint64_t again = 0;
    for (uint32_t sig = 1; sig <= 10; sig++)
        for (uint32_t phase = 0; phase < 10; phase++)
            if (ha_pair *p = ha_table_pair(tb.t, sig, phase)) {
                EXPECT_EQ(ha_pair_launches(p), 1u);
                again++;
            }
    EXPECT_EQ(again, (uint64_t)slots);
}

TEST(HookLaunchTable, NameArenaFull)
{
    const std::string twenty = "abcdefghijklmnopqrst"; // 20 bytes and its NUL
    Table tb(64, 256, 3 * 21 + 10);
    std::vector<ha_sig *> sigs;
    for (uint64_t i = 0; i < 6; i++) {
        ha_sig *s = tb.launch(key_for(i), twenty.c_str(), 0);
        ASSERT_NE(s, nullptr) << "a signature is counted whether or not its name is kept";
        sigs.push_back(s);
    }
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(twenty, ha_sig_name(tb.t, sigs[i]));
    for (int i = 3; i < 6; i++) {
        std::string n = ha_sig_name(tb.t, sigs[i]);
        EXPECT_NE(n, twenty);
        EXPECT_FALSE(n.empty()) << "a placeholder says the name was not kept";
    }
    EXPECT_EQ(tb.counters().truncated_names, 3u);
    // whatever becomes of a later short name, it is kept or counted as not kept
    ha_sig *s = tb.launch(key_for(50), "x", 0);
    ASSERT_NE(s, nullptr);
    bool kept = std::string(ha_sig_name(tb.t, s)) == "x";
    EXPECT_EQ(tb.counters().truncated_names, kept ? 3u : 4u);
    EXPECT_EQ(tb.counters().next_id, 8u);
    // names kept earlier are intact
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(twenty, ha_sig_name(tb.t, sigs[i]));
}

} // namespace

// A kernel given a different scalar at every step (a learning rate by value) must not fill the
// table: past the variant limit its launches are counted under one folded signature per shape,
// and every launch is still counted.
TEST(LaunchTableFolding, VariantsPastTheLimitShareOneSignature)
{
    Table tab(1024, 4096, 1 << 16);
    ha_table_set_variant_limit(tab.t, 8);
    std::set<uint32_t> ids;
    uint64_t launches = 0;
    for (uint64_t step = 0; step < 500; step++) {
        ha_key k = key_for(1);
        k.arg_hash = 0x1000 + step; // the scalar changes every step
        ha_sig *s = tab.launch(k, "adam_step", 0);
        ASSERT_NE(s, nullptr);
        ids.insert(ha_sig_id(s));
        launches++;
    }
    EXPECT_EQ(ids.size(), 9u); // 8 variants of their own, then one folded signature
    EXPECT_EQ(ha_table_folded_functions(tab.t), 1u);
    EXPECT_EQ(tab.counters().dropped_signatures, 0u);
    uint64_t counted = 0;
    for (uint32_t id : ids) {
        ha_pair *p = ha_table_pair(tab.t, id, 0);
        ASSERT_NE(p, nullptr);
        counted += ha_pair_launches(p);
        ha_key key;
        ha_sig_key(ha_table_by_id(tab.t, id), &key);
        if (key.arg_hash == 0xffffffffffffffffull) {
            EXPECT_EQ(ha_pair_launches(p), 500u - 8u);
        }
    }
    EXPECT_EQ(counted, launches);
    // a variant seen before the limit keeps its own signature
    ha_key early = key_for(1);
    early.arg_hash = 0x1000 + 3;
    EXPECT_TRUE(ids.count(ha_sig_id(tab.launch(early, "adam_step", 0))));
    // another shape of the same function past the limit gets its own folded signature
    ha_key other = key_for(1);
    other.grid[0] += 1;
    other.arg_hash = 0x9999;
    EXPECT_FALSE(ids.count(ha_sig_id(tab.launch(other, "adam_step", 0))));
}

TEST(LaunchTableFolding, NoLimitKeepsEveryVariant)
{
    Table tab(1024, 4096, 1 << 16);
    ha_table_set_variant_limit(tab.t, 0);
    std::set<uint32_t> ids;
    for (uint64_t step = 0; step < 200; step++) {
        ha_key k = key_for(2);
        k.arg_hash = 0x2000 + step;
        ids.insert(ha_sig_id(tab.launch(k, "k", 0)));
    }
    EXPECT_EQ(ids.size(), 200u);
    EXPECT_EQ(ha_table_folded_functions(tab.t), 0u);
}

