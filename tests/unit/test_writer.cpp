// test_writer.cpp - the writer's contract: chunks cut by size and by age, many threads through
// one writer, string interning, sticky errors that never damage what was written, fork.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "test_support.h"

extern "C" {
#include "bytes.h"
#include "flopmeter/trace_format.h"
}

namespace {

using fmtest::TempDir;

fm_record event(uint64_t time, uint64_t thread)
{
    fm_record r = {};
    r.kind = FM_REC_PHASE_EVENT;
    r.u.phase_event = {time, thread, 1, FM_PHASE_PUSH};
    return r;
}

off_t file_size(const std::string &p)
{
    struct stat st;
    return stat(p.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST(Writer, CutsChunksBySize)
{
    TempDir tmp;
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.chunk_target_bytes = 1000;
    fm_writer *w = nullptr;
    ASSERT_EQ(fm_writer_open(&w, tmp.path("t").c_str(), &o, nullptr, 0), FM_OK);
    for (uint64_t i = 0; i < 5000; i++) {
        fm_record r = event(i, 1);
        ASSERT_EQ(fm_writer_append(w, &r), FM_OK);
    }
    fm_writer_stats st;
    fm_writer_get_stats(w, &st);
    // about 8 bytes a record: well over 20 chunks, none above the target
    EXPECT_GT(st.chunks, 20u);
    ASSERT_EQ(fm_writer_close(w, nullptr), FM_OK);
    auto bytes = fmtest::read_file(tmp.path("t"));
    auto res = fmtest::read_all(bytes);
    EXPECT_EQ(res.status, FM_END);
    EXPECT_EQ(res.records, 5001u);
    for (size_t off : fmtest::chunk_offsets(bytes)) {
        EXPECT_LE(fm_get_u32(bytes.data() + off + FM_CH_OFF_RAW_LEN), 1000u);
    }
}

TEST(Writer, BackgroundThreadFlushesIdleDataOnTime)
{
    TempDir tmp;
    std::string path = tmp.path("t");
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.flush_interval_ms = 50;
    o.background_flush = 1;
    fm_writer *w = nullptr;
    ASSERT_EQ(fm_writer_open(&w, path.c_str(), &o, nullptr, 0), FM_OK);
    EXPECT_EQ(file_size(path), (off_t)FM_FILE_HEADER_SIZE);
    fm_record r = event(1, 1);
    ASSERT_EQ(fm_writer_append(w, &r), FM_OK);
    // the record is older than the interval within 50 ms; allow generous scheduling delay
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (file_size(path) == (off_t)FM_FILE_HEADER_SIZE &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GT(file_size(path), (off_t)FM_FILE_HEADER_SIZE);
    auto res = fmtest::read_all(fmtest::read_file(path));
    EXPECT_EQ(res.status, FM_END);
    EXPECT_EQ(res.records, 1u);
    EXPECT_FALSE(res.info.final_seen); // still open: readable, incomplete
    ASSERT_EQ(fm_writer_close(w, nullptr), FM_OK);
}

TEST(Writer, AppendFlushesWhenTheOldestRecordIsDue)
{
    TempDir tmp;
    std::string path = tmp.path("t");
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.flush_interval_ms = 20;
    fm_writer *w = nullptr;
    ASSERT_EQ(fm_writer_open(&w, path.c_str(), &o, nullptr, 0), FM_OK);
    fm_record r = event(1, 1);
    ASSERT_EQ(fm_writer_append(w, &r), FM_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    ASSERT_EQ(fm_writer_flush_if_due(w), FM_OK);
    EXPECT_GT(file_size(path), (off_t)FM_FILE_HEADER_SIZE);
    ASSERT_EQ(fm_writer_close(w, nullptr), FM_OK);
}

TEST(Writer, ManyThreadsThroughOneWriterLoseNothing)
{
    TempDir tmp;
    std::string path = tmp.path("t");
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.chunk_target_bytes = 4096;
    o.background_flush = 1;
    o.flush_interval_ms = 5;
    fm_writer *w = nullptr;
    ASSERT_EQ(fm_writer_open(&w, path.c_str(), &o, nullptr, 0), FM_OK);
    const int threads = 8, per_thread = 20000;
    std::vector<std::thread> pool;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; t++)
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; i++) {
                fm_record r = event((uint64_t)i, (uint64_t)t + 1);
                if (fm_writer_append(w, &r) != FM_OK)
                    failures++;
                if (i % 1000 == 0) {
                    std::string s = "shared-" + std::to_string(i);
                    if (fm_writer_intern(w, s.c_str(), s.size()) == 0)
                        failures++;
                }
            }
        });
    for (auto &th : pool)
        th.join();
    EXPECT_EQ(failures.load(), 0);
    ASSERT_EQ(fm_writer_close(w, nullptr), FM_OK);

    fm_reader *r = nullptr;
    ASSERT_EQ(fm_reader_open_file(&r, path.c_str(), nullptr, 0), FM_OK);
    std::vector<uint64_t> next(threads + 1, 0);
    fm_record rec;
    int rc, strings = 0;
    while ((rc = fm_reader_next(r, &rec)) == FM_OK) {
        if (rec.kind == FM_REC_STRING) {
            strings++;
            continue;
        }
        if (rec.kind != FM_REC_PHASE_EVENT)
            continue;
        uint64_t t = rec.u.phase_event.thread_id;
        ASSERT_GE(t, 1u);
        ASSERT_LE(t, (uint64_t)threads);
        // each thread's records arrive complete and in its own order
        ASSERT_EQ(rec.u.phase_event.time_ns, next[t]);
        next[t]++;
    }
    EXPECT_EQ(rc, FM_END);
    for (int t = 1; t <= threads; t++) {
        EXPECT_EQ(next[t], (uint64_t)per_thread);
    }
    EXPECT_EQ(strings, per_thread / 1000); // every thread interned the same strings: once each
    fm_reader_close(r);
}

TEST(Writer, InternGivesEachStringOneId)
{
    TempDir tmp;
    fm_writer *w = nullptr;
    ASSERT_EQ(fm_writer_open(&w, tmp.path("t").c_str(), nullptr, nullptr, 0), FM_OK);
    EXPECT_EQ(fm_writer_intern(w, "a", 1), 1u);
    EXPECT_EQ(fm_writer_intern(w, "b", 1), 2u);
    EXPECT_EQ(fm_writer_intern(w, "a", 1), 1u);
    EXPECT_EQ(fm_writer_intern(w, "", 0), 3u);
    EXPECT_EQ(fm_writer_intern(w, "ab", 1), 1u); // length decides, not the terminator
    EXPECT_EQ(fm_writer_intern(w, "a\0b", 3), 4u);
    for (int i = 0; i < 10000; i++) { // grows the table several times
        std::string s = "k" + std::to_string(i);
        ASSERT_EQ(fm_writer_intern(w, s.c_str(), s.size()), 5u + (uint64_t)i);
    }
    EXPECT_EQ(fm_writer_intern(w, "k1234", 5), 5u + 1234);
    EXPECT_EQ(fm_writer_close(w, nullptr), FM_OK);
}

TEST(Writer, NeverOverwritesAnExistingFile)
{
    TempDir tmp;
    std::string path = tmp.path("t");
    fmtest::write_file(path, {1, 2, 3});
    fm_writer *w = nullptr;
    char err[256];
    EXPECT_EQ(fm_writer_open(&w, path.c_str(), nullptr, err, sizeof err), FM_E_IO);
    EXPECT_NE(std::string(err).find("cannot create"), std::string::npos);
    EXPECT_EQ(fmtest::read_file(path).size(), 3u);
    EXPECT_EQ(fm_writer_open(&w, tmp.path("no/such/dir").c_str(), nullptr, err, sizeof err),
              FM_E_IO);
}

// A write that fails (here: the file size limit) makes the error sticky, and the file is cut
// back to its last complete chunk so that everything written before reads back.
TEST(Writer, FailedWriteIsStickyAndKeepsCompleteChunks)
{
    TempDir tmp;
    std::string path = tmp.path("t");
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {20000, 20000};
        setrlimit(RLIMIT_FSIZE, &lim);
        fm_writer_options o;
        fm_writer_options_init(&o);
        o.chunk_target_bytes = 2000;
        o.compression_level = 1;
        fm_writer *w = nullptr;
        if (fm_writer_open(&w, path.c_str(), &o, nullptr, 0) != FM_OK)
            _exit(10);
        int rc = FM_OK;
        uint64_t i = 0;
        for (; i < 200000 && rc == FM_OK; i++) {
            // incompressible payload so the limit is reached quickly
            char msg[64];
            snprintf(msg, sizeof msg, "%016llx%016llx", (unsigned long long)(i * 0x9e3779b97f4a7c15ull),
                     (unsigned long long)(i * 0xc2b2ae3d27d4eb4full));
            fm_record r = {};
            r.kind = FM_REC_DEGRADATION;
            r.u.degradation.message = fm_str_c(msg);
            rc = fm_writer_append(w, &r);
        }
        if (rc != FM_E_IO)
            _exit(11);
        fm_record r = event(1, 1);
        if (fm_writer_append(w, &r) != FM_E_IO) // sticky
            _exit(12);
        if (strstr(fm_writer_error(w), "write failed") == nullptr)
            _exit(13);
        if (fm_writer_close(w, nullptr) != FM_E_IO)
            _exit(14);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    auto bytes = fmtest::read_file(path);
    auto res = fmtest::read_all(bytes);
    EXPECT_EQ(res.status, FM_END) << res.error; // no torn chunk at the end
    EXPECT_FALSE(res.info.final_seen);
    EXPECT_GT(res.records, 100u);
    EXPECT_EQ(res.info.bytes_valid, bytes.size());
}

// The child of a fork abandons the inherited writer without writing the parent's buffer.
TEST(Writer, ForkedChildAbandonsTheParentsWriter)
{
    TempDir tmp;
    std::string path = tmp.path("t");
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.background_flush = 1;
    fm_writer *w = nullptr;
    ASSERT_EQ(fm_writer_open(&w, path.c_str(), &o, nullptr, 0), FM_OK);
    fm_record r = event(7, 1);
    ASSERT_EQ(fm_writer_append(w, &r), FM_OK);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        fm_writer_abandon(w);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ASSERT_EQ(fm_writer_close(w, nullptr), FM_OK);
    auto res = fmtest::read_all(fmtest::read_file(path));
    EXPECT_EQ(res.status, FM_END);
    EXPECT_EQ(res.records, 2u); // the event once, and FINAL
}

TEST(Writer, FinalRecordCarriesCountsAndTotals)
{
    TempDir tmp;
    std::string path = tmp.path("t");
    uint64_t records = fmtest::write_sample_trace(path);
    fm_reader *r = nullptr;
    ASSERT_EQ(fm_reader_open_file(&r, path.c_str(), nullptr, 0), FM_OK);
    fm_record rec;
    double bf16_measured = 0, fp32_extra = 0;
    uint64_t launches = 0;
    bool final_checked = false;
    while (fm_reader_next(r, &rec) == FM_OK) {
        if (rec.kind == FM_REC_AGGREGATE) {
            launches += rec.u.aggregate.launches;
            bf16_measured += rec.u.aggregate.classes[1].measured;
            fp32_extra += rec.u.aggregate.classes[0].extrapolated;
        }
        if (rec.kind == FM_REC_FINAL) {
            const auto &f = rec.u.final;
            EXPECT_EQ(f.record_count, records);
            EXPECT_EQ(f.chunk_count, fm_reader_chunk(r)->seq);
            EXPECT_EQ(f.launches_total, launches);
            EXPECT_EQ(f.exit_reason, (uint64_t)FM_EXIT_NORMAL);
            ASSERT_EQ(f.n_classes, 2u);
            EXPECT_EQ(f.classes[0].precision_class, 0x01);
            EXPECT_EQ(f.classes[0].extrapolated, fp32_extra);
            EXPECT_EQ(f.classes[1].measured, bf16_measured);
            EXPECT_EQ(memcmp(f.chain_head, fm_reader_chunk(r)->prev_hash, 32), 0);
            final_checked = true;
        }
    }
    EXPECT_TRUE(final_checked);
    fm_reader_close(r);
}

} // namespace
