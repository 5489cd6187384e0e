// test_phases.cpp - the phase registry, the per-thread stacks and the event buffer
// (hook_phases.c). The stacks are thread-local and shared by every registry, so each test
// that pushes runs its pushes on threads of its own.
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "hook_phases.h"
#include "flopmeter/trace_format.h"
}

namespace {

struct Registry {
    std::unique_ptr<fm_phases> p{new fm_phases};
    Registry()
    {
        fm_phases_init(p.get());
        fm_phases_forget_anchor(); // whichever thread of an earlier test entered a phase first
    }
    ~Registry() { pthread_mutex_destroy(&p->mu); }
    fm_phases *operator->() { return p.get(); }
    fm_phases *get() { return p.get(); }
    std::vector<fm_phase_event_rec> take(uint32_t max = FM_PHASE_EVENTS)
    {
        std::vector<fm_phase_event_rec> ev(max);
        ev.resize(fm_phases_take_events(p.get(), ev.data(), max));
        return ev;
    }
};

template <class F> void on_new_thread(F f)
{
    std::thread t(f);
    t.join();
}

TEST(HookPhases, CategoriesFromTheVocabulary)
{
    struct {
        const char *name;
        uint32_t category;
    } cases[] = {
        {"pretraining", FM_PHASE_PRETRAINING},
        {"Pre-Training", FM_PHASE_PRETRAINING},
        {"pre training", FM_PHASE_PRETRAINING},
        {"PRETRAIN", FM_PHASE_PRETRAINING},
        {"finetuning", FM_PHASE_FINETUNING},
        {"fine-tuning", FM_PHASE_FINETUNING},
        {"Fine Tuning", FM_PHASE_FINETUNING},
        {"finetune", FM_PHASE_FINETUNING},
        {"SFT", FM_PHASE_FINETUNING},
        {"reinforcement_learning", FM_PHASE_REINFORCEMENT_LEARNING},
        {"Reinforcement Learning", FM_PHASE_REINFORCEMENT_LEARNING},
        {"rl", FM_PHASE_REINFORCEMENT_LEARNING},
        {"RLHF", FM_PHASE_REINFORCEMENT_LEARNING},
        {"synthetic_data", FM_PHASE_SYNTHETIC_DATA},
        {"synthetic-data-generation", FM_PHASE_SYNTHETIC_DATA},
        {"evaluation", FM_PHASE_EVALUATION},
        {"Eval", FM_PHASE_EVALUATION},
        {"recomputation", FM_PHASE_RECOMPUTATION},
        {"activation recomputation", FM_PHASE_RECOMPUTATION},
        {"recompute", FM_PHASE_RECOMPUTATION},
        {"auxiliary_model", FM_PHASE_AUXILIARY_MODEL},
        {"auxiliary", FM_PHASE_AUXILIARY_MODEL},
        {"reward-model", FM_PHASE_AUXILIARY_MODEL},
        // anything else is custom, including near misses and prefixes
        {"backward", FM_PHASE_CUSTOM},
        {"pretraining2", FM_PHASE_CUSTOM},
        {"eval ", FM_PHASE_CUSTOM},
        {" eval", FM_PHASE_CUSTOM},
        {"evaluate", FM_PHASE_CUSTOM},
        {"r", FM_PHASE_CUSTOM},
        {"", FM_PHASE_CUSTOM},
    };
    for (auto &c : cases)
        EXPECT_EQ(fm_phase_category_for(c.name), c.category) << "'" << c.name << "'";
    // a long name that starts with a word of the vocabulary is no member of it
    std::string longname = "pretraining" + std::string(200, '_');
    EXPECT_EQ(fm_phase_category_for(longname.c_str()), (uint32_t)FM_PHASE_CUSTOM);
}

TEST(HookPhases, DefineAndFind)
{
    Registry r;
    uint32_t pre = fm_phases_define(r.get(), "pretraining", -1);
    uint32_t eval = fm_phases_define(r.get(), "eval", -1);
    uint32_t mine = fm_phases_define(r.get(), "my-phase", -1);
    EXPECT_EQ(pre, 1u);
    EXPECT_EQ(eval, 2u);
    EXPECT_EQ(mine, 3u);
    EXPECT_EQ(r->categories[pre], (uint32_t)FM_PHASE_PRETRAINING);
    EXPECT_EQ(r->categories[eval], (uint32_t)FM_PHASE_EVALUATION);
    EXPECT_EQ(r->categories[mine], (uint32_t)FM_PHASE_CUSTOM);
    EXPECT_STREQ(r->names[mine], "my-phase");
    // found again, by name and category
    EXPECT_EQ(fm_phases_define(r.get(), "pretraining", -1), pre);
    EXPECT_EQ(fm_phases_define(r.get(), "pretraining", FM_PHASE_PRETRAINING), pre);
    // an explicit category makes another phase of the same name
    uint32_t pre_rl = fm_phases_define(r.get(), "pretraining", FM_PHASE_REINFORCEMENT_LEARNING);
    EXPECT_EQ(pre_rl, 4u);
    EXPECT_EQ(r->categories[pre_rl], (uint32_t)FM_PHASE_REINFORCEMENT_LEARNING);
    EXPECT_EQ(fm_phases_define(r.get(), "pretraining", FM_PHASE_REINFORCEMENT_LEARNING), pre_rl);
    // out-of-range categories come from the name
    EXPECT_EQ(fm_phases_define(r.get(), "eval", FM_PHASE_CATEGORY_MAX + 1), eval);
    EXPECT_EQ(fm_phases_define(r.get(), "eval", 1000), eval);
    EXPECT_EQ(fm_phases_define(r.get(), "holdout", FM_PHASE_EVALUATION), 5u);
    // no name, no phase
    EXPECT_EQ(fm_phases_define(r.get(), "", -1), 0u);
    EXPECT_EQ(fm_phases_define(r.get(), nullptr, -1), 0u);
    EXPECT_EQ(r->n, 5u);
    EXPECT_EQ(r->dropped, 0u);
}

TEST(HookPhases, LongNamesAreCutAndStillFound)
{
    Registry r;
    std::string a = std::string(200, 'a'), b = std::string(200, 'a') + "b";
    uint32_t id = fm_phases_define(r.get(), a.c_str(), -1);
    ASSERT_NE(id, 0u);
    EXPECT_EQ(strlen(r->names[id]), (size_t)FM_PHASE_NAME_MAX - 1);
    EXPECT_EQ(fm_phases_define(r.get(), a.c_str(), -1), id);
    // the same first FM_PHASE_NAME_MAX - 1 characters: the same phase
    EXPECT_EQ(fm_phases_define(r.get(), b.c_str(), -1), id);
}

TEST(HookPhases, RegistryFull)
{
    Registry r;
    for (int i = 1; i <= FM_MAX_PHASES; i++)
        ASSERT_EQ(fm_phases_define(r.get(), ("phase" + std::to_string(i)).c_str(), -1),
                  (uint32_t)i);
    EXPECT_EQ(fm_phases_define(r.get(), "one-too-many", -1), 0u);
    EXPECT_EQ(fm_phases_define(r.get(), "two-too-many", FM_PHASE_EVALUATION), 0u);
    EXPECT_EQ(r->dropped, 2u);
    EXPECT_EQ(r->n, (uint32_t)FM_MAX_PHASES);
    // phases already there are still found
    EXPECT_EQ(fm_phases_define(r.get(), "phase17", -1), 17u);
    EXPECT_EQ(fm_phases_define(r.get(), ("phase" + std::to_string(FM_MAX_PHASES)).c_str(), -1),
              (uint32_t)FM_MAX_PHASES);
}

TEST(HookPhases, PhaseWithoutRoomDoesNotEndTheEnclosingOne)
{
    Registry r;
    for (int i = 1; i <= FM_MAX_PHASES; i++)
        fm_phases_define(r.get(), ("p" + std::to_string(i)).c_str(), -1);
    on_new_thread([&] {
        fm_phases_push(r.get(), 7, 1);
        uint32_t none = fm_phases_define(r.get(), "no-room", -1);
        ASSERT_EQ(none, 0u);
        fm_phases_push(r.get(), none, 2); // its work counts outside any phase...
        EXPECT_EQ(fm_phases_current(), 0u);
        fm_phases_pop(r.get(), 3); // ...and its pop ends it, not phase 7
        EXPECT_EQ(fm_phases_current(), 7u);
        fm_phases_pop(r.get(), 4);
        EXPECT_EQ(fm_phases_current(), 0u);
    });
    auto ev = r.take();
    ASSERT_EQ(ev.size(), 2u); // phase 0 has no events
    EXPECT_EQ(ev[0].phase, 7u);
    EXPECT_EQ(ev[0].action, (uint32_t)FM_PHASE_PUSH);
    EXPECT_EQ(ev[1].phase, 7u);
    EXPECT_EQ(ev[1].action, (uint32_t)FM_PHASE_POP);
    EXPECT_EQ(ev[1].time_ns, 4u);
}

TEST(HookPhases, StacksArePerThread)
{
    Registry r;
    uint32_t fwd = fm_phases_define(r.get(), "pretraining", -1);
    uint32_t bwd = fm_phases_define(r.get(), "backward", -1);
    uint32_t rec = fm_phases_define(r.get(), "recompute", -1);
    uint64_t tid_a = 0, tid_b = 0;
    // two threads in lock step: each sees only its own pushes
    std::mutex mu;
    std::condition_variable cv;
    int stage = 0;
    auto wait_for = [&](int s) {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return stage >= s; });
    };
    auto advance = [&] {
        std::lock_guard<std::mutex> l(mu);
        stage++;
        cv.notify_all();
    };
    std::thread a([&] {
        tid_a = fm_thread_id();
        EXPECT_EQ(fm_phases_current(), 0u);
        fm_phases_push(r.get(), fwd, 10);
        advance(); // 1
        wait_for(2);
        EXPECT_EQ(fm_phases_current(), fwd);
        fm_phases_push(r.get(), rec, 30);
        EXPECT_EQ(fm_phases_current(), rec);
        advance(); // 3
        wait_for(4);
        fm_phases_pop(r.get(), 50);
        EXPECT_EQ(fm_phases_current(), fwd);
        fm_phases_pop(r.get(), 60);
        EXPECT_EQ(fm_phases_current(), 0u);
    });
    std::thread b([&] {
        tid_b = fm_thread_id();
        wait_for(1);
        // in no phase of its own, this thread follows a, the first to enter one
        EXPECT_EQ(fm_phases_current(), fwd);
        fm_phases_push(r.get(), bwd, 20);
        EXPECT_EQ(fm_phases_current(), bwd); // its own phase comes first
        advance(); // 2
        wait_for(3);
        EXPECT_EQ(fm_phases_current(), bwd);
        fm_phases_pop(r.get(), 40);
        EXPECT_EQ(fm_phases_current(), rec); // a's innermost again
        advance(); // 4
    });
    a.join();
    b.join();
    EXPECT_NE(tid_a, tid_b);
    auto ev = r.take();
    ASSERT_EQ(ev.size(), 6u);
    struct {
        uint64_t time;
        uint64_t tid;
        uint32_t phase, action;
    } want[] = {{10, tid_a, fwd, FM_PHASE_PUSH}, {20, tid_b, bwd, FM_PHASE_PUSH},
                {30, tid_a, rec, FM_PHASE_PUSH}, {40, tid_b, bwd, FM_PHASE_POP},
                {50, tid_a, rec, FM_PHASE_POP},  {60, tid_a, fwd, FM_PHASE_POP}};
    for (size_t i = 0; i < ev.size(); i++) {
        EXPECT_EQ(ev[i].time_ns, want[i].time) << i;
        EXPECT_EQ(ev[i].thread_id, want[i].tid) << i;
        EXPECT_EQ(ev[i].phase, want[i].phase) << i;
        EXPECT_EQ(ev[i].action, want[i].action) << i;
    }
}

TEST(HookPhases, DeeperThanTheStack)
{
    Registry r;
    on_new_thread([&] {
        const int extra = 8;
        for (uint32_t i = 1; i <= FM_PHASE_DEPTH + extra; i++)
            fm_phases_push(r.get(), i, i);
        EXPECT_EQ(fm_phases_current(), (uint32_t)FM_PHASE_DEPTH);
        // the pops of the ignored pushes are ignored too
        for (int i = 0; i < extra; i++) {
            fm_phases_pop(r.get(), 1000);
            EXPECT_EQ(fm_phases_current(), (uint32_t)FM_PHASE_DEPTH);
        }
        fm_phases_pop(r.get(), 1001);
        EXPECT_EQ(fm_phases_current(), (uint32_t)FM_PHASE_DEPTH - 1);
        for (int i = 1; i < FM_PHASE_DEPTH; i++)
            fm_phases_pop(r.get(), 2000);
        EXPECT_EQ(fm_phases_current(), 0u);
        EXPECT_EQ(r->dropped, (uint64_t)extra);
    });
    auto ev = r.take();
    ASSERT_EQ(ev.size(), 2u * FM_PHASE_DEPTH); // every push kept has its pop
    uint32_t pushes = 0;
    for (auto &e : ev)
        pushes += e.action == FM_PHASE_PUSH;
    EXPECT_EQ(pushes, (uint32_t)FM_PHASE_DEPTH);
    EXPECT_EQ(ev[FM_PHASE_DEPTH].phase, (uint32_t)FM_PHASE_DEPTH); // first pop: the innermost
}

TEST(HookPhases, PopWithoutPush)
{
    Registry r;
    on_new_thread([&] {
        fm_phases_pop(r.get(), 1);
        fm_phases_pop(r.get(), 2);
        EXPECT_EQ(fm_phases_current(), 0u);
        fm_phases_push(r.get(), 3, 3);
        EXPECT_EQ(fm_phases_current(), 3u);
        fm_phases_pop(r.get(), 4);
        fm_phases_pop(r.get(), 5);
        EXPECT_EQ(fm_phases_current(), 0u);
    });
    auto ev = r.take();
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0].action, (uint32_t)FM_PHASE_PUSH);
    EXPECT_EQ(ev[1].action, (uint32_t)FM_PHASE_POP);
    EXPECT_EQ(r->dropped, 0u);
}

// Per thread: every pop ends the innermost push, and nothing is left open.
void expect_balanced(const std::vector<fm_phase_event_rec> &ev)
{
    std::map<uint64_t, std::vector<uint32_t>> stacks;
    for (auto &e : ev) {
        auto &st = stacks[e.thread_id];
        if (e.action == FM_PHASE_PUSH) {
            st.push_back(e.phase);
        } else {
            ASSERT_FALSE(st.empty()) << "a pop without its push at " << e.time_ns;
            EXPECT_EQ(st.back(), e.phase);
            st.pop_back();
        }
    }
    for (auto &s : stacks)
        EXPECT_TRUE(s.second.empty()) << "thread " << s.first << " has pushes without pops";
}

TEST(HookPhases, EventBufferFull)
{
    Registry r;
    on_new_thread([&] {
        // every push and pop is an event: twice as many as the buffer holds
        for (uint64_t i = 0; i < FM_PHASE_EVENTS; i++) {
            fm_phases_push(r.get(), 1, 2 * i);
            fm_phases_pop(r.get(), 2 * i + 1);
        }
        EXPECT_EQ(fm_phases_current(), 0u); // the stack is right although events were lost
    });
    EXPECT_EQ(r->n_events, (uint32_t)FM_PHASE_EVENTS);
    // the pushes that did not fit are dropped with their pops
    EXPECT_EQ(r->dropped, (uint64_t)FM_PHASE_EVENTS / 2);
    // taken in order, in parts
    auto first = r.take(100);
    ASSERT_EQ(first.size(), 100u);
    for (uint64_t i = 0; i < 100; i++)
        EXPECT_EQ(first[i].time_ns, i);
    auto rest = r.take();
    ASSERT_EQ(rest.size(), (size_t)FM_PHASE_EVENTS - 100);
    for (size_t i = 0; i < rest.size(); i++)
        ASSERT_EQ(rest[i].time_ns, 100 + i);
    first.insert(first.end(), rest.begin(), rest.end());
    expect_balanced(first);
    EXPECT_TRUE(r.take().empty());
    // room again
    on_new_thread([&] {
        fm_phases_push(r.get(), 1, 77);
        fm_phases_pop(r.get(), 78);
    });
    auto again = r.take();
    ASSERT_EQ(again.size(), 2u);
    EXPECT_EQ(again[0].time_ns, 77u);
    EXPECT_EQ(again[1].time_ns, 78u);
    EXPECT_EQ(r->dropped, (uint64_t)FM_PHASE_EVENTS / 2);
}

TEST(HookPhases, AKeptPushAlwaysGetsItsPop)
{
    // One thread holds ten phases open while another fills the buffer: the ten pops still fit.
    Registry r;
    std::mutex mu;
    std::condition_variable cv;
    int stage = 0;
    std::thread holder([&] {
        for (uint32_t i = 1; i <= 10; i++)
            fm_phases_push(r.get(), i, i);
        {
            std::lock_guard<std::mutex> l(mu);
            stage = 1;
        }
        cv.notify_all();
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return stage == 2; });
        for (uint32_t i = 10; i >= 1; i--) {
            EXPECT_EQ(fm_phases_current(), i);
            fm_phases_pop(r.get(), 100000 + i);
        }
    });
    {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return stage == 1; });
    }
    on_new_thread([&] {
        for (uint64_t i = 0; i < 3000; i++) {
            fm_phases_push(r.get(), 11, 1000 + i);
            EXPECT_EQ(fm_phases_current(), 11u);
            fm_phases_pop(r.get(), 1000 + i);
        }
    });
    EXPECT_GT(r->dropped, 0u);
    {
        std::lock_guard<std::mutex> l(mu);
        stage = 2;
    }
    cv.notify_all();
    holder.join();
    auto ev = r.take();
    EXPECT_EQ(ev.size(), (size_t)FM_PHASE_EVENTS); // full to the last slot
    expect_balanced(ev);
    uint32_t pops_of_held = 0;
    for (auto &e : ev)
        pops_of_held += e.action == FM_PHASE_POP && e.phase <= 10;
    EXPECT_EQ(pops_of_held, 10u);
    EXPECT_EQ(r->dropped, 3000u - (FM_PHASE_EVENTS - 20) / 2);
}

TEST(HookPhases, ManyThreadsDefineAndPush)
{
    Registry r;
    const int threads = 8, rounds = 80; // 3840 events: all fit in the buffer
    // this thread enters a phase first, so the others follow it when in none: it is in none
    uint32_t setup = fm_phases_define(r.get(), "setup", -1);
    fm_phases_push(r.get(), setup, 0);
    fm_phases_pop(r.get(), 0);
    r.take();
    std::vector<std::thread> ts;
    std::vector<uint32_t> ids(threads * 3);
    for (int t = 0; t < threads; t++)
        ts.emplace_back([&, t] {
            for (int i = 0; i < rounds; i++) {
                // every thread defines the same three names: one id each, whoever is first
                uint32_t a = fm_phases_define(r.get(), "pretraining", -1);
                uint32_t b = fm_phases_define(r.get(), "shared-custom", -1);
                uint32_t c = fm_phases_define(r.get(), ("own-" + std::to_string(t)).c_str(), -1);
                fm_phases_push(r.get(), a, 0);
                fm_phases_push(r.get(), b, 0);
                EXPECT_EQ(fm_phases_current(), b);
                fm_phases_pop(r.get(), 0);
                fm_phases_push(r.get(), c, 0);
                EXPECT_EQ(fm_phases_current(), c);
                fm_phases_pop(r.get(), 0);
                fm_phases_pop(r.get(), 0);
                EXPECT_EQ(fm_phases_current(), 0u);
                ids[t * 3] = a;
                ids[t * 3 + 1] = b;
                ids[t * 3 + 2] = c;
            }
        });
    for (auto &t : ts)
        t.join();
    EXPECT_EQ(r->n, 3u + threads); // setup, pretraining, shared-custom, and one own per thread
    for (int t = 1; t < threads; t++) {
        EXPECT_EQ(ids[t * 3], ids[0]);
        EXPECT_EQ(ids[t * 3 + 1], ids[1]);
    }
    EXPECT_EQ(r->n_events, (uint32_t)threads * rounds * 6);
    EXPECT_EQ(r->dropped, 0u);
}

} // namespace
