// test_kill.cpp - a process writing a trace is SIGKILLed at random moments; every chunk it
// completed must read back, in order, with the reader reporting only a missing final chunk or
// a torn last chunk - never corruption.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "test_support.h"

namespace {

using fmtest::TempDir;

// The child: appends numbered records forever, flushing now and then; after each flush it
// tells the parent how many records are now on disk.
[[noreturn]] void child_writer(const std::string &path, int report_fd, bool background)
{
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.chunk_target_bytes = 64 * 1024;
    o.flush_interval_ms = 2;
    o.background_flush = background ? 1 : 0;
    o.compression_level = 1;
    fm_writer *w = nullptr;
    if (fm_writer_open(&w, path.c_str(), &o, nullptr, 0) != FM_OK)
        _exit(3);
    char blob[600];
    for (uint64_t i = 0;; i++) {
        fm_record r = {};
        if (i % 5 == 0) {
            // incompressible text makes chunks large, so kills often land inside a write
            for (size_t k = 0; k < sizeof blob - 1; k++)
                blob[k] = (char)('!' + (((i + 1) * 2654435761u >> (k % 13)) + k * 7) % 90);
            blob[sizeof blob - 1] = '\0';
            r.kind = FM_REC_DEGRADATION;
            r.u.degradation.time_ns = i;
            r.u.degradation.message = fm_str_c(blob);
        } else {
            r.kind = FM_REC_PHASE_EVENT;
            r.u.phase_event = {i, 1, 1, FM_PHASE_PUSH};
        }
        if (fm_writer_append(w, &r) != FM_OK)
            _exit(4);
        if (i % 500 == 499) {
            if (fm_writer_flush(w) != FM_OK)
                _exit(5);
            uint64_t n = i + 1;
            if (write(report_fd, &n, sizeof n) != (ssize_t)sizeof n)
                _exit(6);
        }
    }
}

void run_kill_rounds(bool background, int rounds)
{
    std::mt19937 rng(background ? 7 : 11);
    int torn = 0, clean = 0;
    for (int round = 0; round < rounds; round++) {
        TempDir tmp;
        std::string path = tmp.path("t.fmtrace");
        int fds[2];
        ASSERT_EQ(pipe(fds), 0);
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child_writer(path, fds[1], background);
        }
        close(fds[1]);
        usleep(2000 + rng() % 40000);
        kill(pid, SIGKILL);
        int st = 0;
        waitpid(pid, &st, 0);
        ASSERT_TRUE(WIFSIGNALED(st)) << "child exited with " << WEXITSTATUS(st);
        uint64_t reported = 0, n;
        while (read(fds[0], &n, sizeof n) == (ssize_t)sizeof n)
            reported = n;
        close(fds[0]);

        auto bytes = fmtest::read_file(path);
        if (bytes.empty())
            continue; // killed before the header was written
        fm_reader *r = nullptr;
        char err[640];
        int rc = fm_reader_open_memory(&r, bytes.data(), bytes.size(), "killed", err, sizeof err);
        if (rc == FM_E_TRUNCATED && bytes.size() < FM_FILE_HEADER_SIZE)
            continue; // killed inside the header write
        ASSERT_EQ(rc, FM_OK) << err;
        fm_record rec;
        uint64_t expect = 0;
        while ((rc = fm_reader_next(r, &rec)) == FM_OK) {
            uint64_t t = rec.kind == FM_REC_PHASE_EVENT ? rec.u.phase_event.time_ns
                                                        : rec.u.degradation.time_ns;
            ASSERT_EQ(t, expect) << "records out of order or missing";
            expect++;
        }
        ASSERT_TRUE(rc == FM_END || rc == FM_E_TRUNCATED) << fm_reader_error(r);
        EXPECT_FALSE(fm_reader_get_info(r)->final_seen);
        EXPECT_GE(expect, reported) << "records the writer had flushed were lost";
        (rc == FM_E_TRUNCATED ? torn : clean)++;
        fm_reader_close(r);
    }
    printf("[ kill test ] %d rounds: %d ended inside a chunk, %d between chunks\n", rounds, torn,
           clean);
}

TEST(Kill, EveryFlushedChunkSurvivesSigkill)
{
    run_kill_rounds(false, 40);
}

TEST(Kill, EveryFlushedChunkSurvivesSigkillWithTheFlushThread)
{
    run_kill_rounds(true, 40);
}

} // namespace
