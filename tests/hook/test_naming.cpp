// test_naming.cpp - who a process is in its job and what its trace is called (hook_naming.c):
// rank, local rank and world size from each launcher's variables in their order of
// precedence, the run id, unique paths for thousands of ranks, and mkdir -p of the trace's
// directory with its errors.
#include <cerrno>
#include <fcntl.h>
#include <map>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "hook_test_support.h"

extern "C" {
#include "hook_naming.h"
}

namespace {

using hooktest::TempDir;
using Vars = std::map<std::string, std::string>;

const char *lookup(const char *name, void *ctx)
{
    auto *vars = static_cast<const Vars *>(ctx);
    auto it = vars->find(name);
    return it == vars->end() ? nullptr : it->second.c_str();
}

fm_identity identity(const Vars &vars, const char *run_id = nullptr,
                     uint64_t start_ns = 1767225600123456789ull)
{
    fm_identity id;
    memset(&id, 0xa5, sizeof id);
    fm_identity_read(&id, run_id, start_ns, lookup, const_cast<Vars *>(&vars));
    return id;
}

std::string host_name()
{
    fm_identity id = identity({});
    return id.host;
}

TEST(HookNaming, NothingKnown)
{
    fm_identity id = identity({});
    EXPECT_EQ(id.rank, -1);
    EXPECT_EQ(id.local_rank, -1);
    EXPECT_EQ(id.world_size, 0u);
    EXPECT_EQ(id.pid, (uint64_t)getpid());
    EXPECT_GT(strlen(id.host), 0u);
    for (const char *c = id.host; *c; c++)
        EXPECT_TRUE(isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '-') << id.host;
    // a lone process: host, start time in seconds, pid
    EXPECT_EQ(std::string(id.run_id),
              std::string(id.host) + "-1767225600-" + std::to_string(getpid()));
}

TEST(HookNaming, RankVariablesInOrderOfPrecedence)
{
    const std::vector<std::string> ranks = {"RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK",
                                            "PMI_RANK", "PMIX_RANK"};
    const std::vector<std::string> locals = {"LOCAL_RANK", "SLURM_LOCALID",
                                             "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"};
    const std::vector<std::string> worlds = {"WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE",
                                             "PMI_SIZE"};
    // each variable alone is read, and each beats every later one
    for (size_t i = 0; i < ranks.size(); i++) {
        Vars vars;
        for (size_t j = i; j < ranks.size(); j++)
            vars[ranks[j]] = std::to_string(100 + j);
        EXPECT_EQ(identity(vars).rank, (int64_t)(100 + i)) << ranks[i];
        EXPECT_EQ(identity({{ranks[i], "7"}}).rank, 7) << ranks[i];
    }
    for (size_t i = 0; i < locals.size(); i++) {
        Vars vars;
        for (size_t j = i; j < locals.size(); j++)
            vars[locals[j]] = std::to_string(10 + j);
        EXPECT_EQ(identity(vars).local_rank, (int64_t)(10 + i)) << locals[i];
    }
    for (size_t i = 0; i < worlds.size(); i++) {
        Vars vars;
        for (size_t j = i; j < worlds.size(); j++)
            vars[worlds[j]] = std::to_string(1000 + j);
        EXPECT_EQ(identity(vars).world_size, (uint64_t)(1000 + i)) << worlds[i];
    }
    // LOCAL_RANK is not a rank
    EXPECT_EQ(identity({{"LOCAL_RANK", "3"}}).rank, -1);
    // torchrun sets all three
    fm_identity t = identity({{"RANK", "12"}, {"LOCAL_RANK", "4"}, {"WORLD_SIZE", "16"}});
    EXPECT_EQ(t.rank, 12);
    EXPECT_EQ(t.local_rank, 4);
    EXPECT_EQ(t.world_size, 16u);
}

TEST(HookNaming, EmptyAndInvalidValues)
{
    // an empty variable is skipped for the next one
    EXPECT_EQ(identity({{"RANK", ""}, {"SLURM_PROCID", "5"}}).rank, 5);
    // a value that is not a whole number is no rank at all
    for (const char *bad : {"abc", "-1", "3x", "1.5", "99999999999999999999"})
        EXPECT_EQ(identity({{"RANK", bad}}).rank, -1) << bad;
    EXPECT_EQ(identity({{"RANK", "0"}}).rank, 0);
    EXPECT_EQ(identity({{"WORLD_SIZE", "0"}}).world_size, 0u);
    EXPECT_EQ(identity({{"WORLD_SIZE", "-4"}}).world_size, 0u);
}

TEST(HookNaming, RunIdInOrderOfPrecedence)
{
    Vars all = {{"SLURM_JOB_ID", "4711"}, {"SLURM_STEP_ID", "2"},
                {"TORCHELASTIC_RUN_ID", "elastic"}, {"PBS_JOBID", "pbs.1"},
                {"LSB_JOBID", "lsf9"}};
    EXPECT_STREQ(identity(all, "configured").run_id, "configured");
    EXPECT_STREQ(identity(all, "").run_id, "slurm-4711.2"); // "" is not configured
    EXPECT_STREQ(identity(all).run_id, "slurm-4711.2");
    all.erase("SLURM_STEP_ID");
    EXPECT_STREQ(identity(all).run_id, "slurm-4711");
    all["SLURM_STEP_ID"] = "";
    EXPECT_STREQ(identity(all).run_id, "slurm-4711");
    all.erase("SLURM_JOB_ID");
    EXPECT_STREQ(identity(all).run_id, "elastic");
    all.erase("TORCHELASTIC_RUN_ID");
    EXPECT_STREQ(identity(all).run_id, "pbs.1");
    all.erase("PBS_JOBID");
    EXPECT_STREQ(identity(all).run_id, "lsf9");
    all.erase("LSB_JOBID");
    EXPECT_EQ(std::string(identity(all).run_id).rfind(host_name() + "-", 0), 0u);
    // whatever it came from, it is usable as a directory name
    EXPECT_STREQ(identity({{"PBS_JOBID", "123.pbs-server/x y"}}).run_id, "123.pbs-server_x_y");
    EXPECT_STREQ(identity({}, "a b:c").run_id, "a_b_c");
    EXPECT_STREQ(identity({{"SLURM_JOB_ID", "../.."}}).run_id, "slurm-.._..");
    // never the output directory itself or the one above it
    EXPECT_STREQ(identity({}, "..").run_id, "__");
    EXPECT_STREQ(identity({}, ".").run_id, "_");
    EXPECT_STREQ(identity({{"PBS_JOBID", ".."}}).run_id, "__");
    EXPECT_STREQ(identity({}, "...").run_id, "...");
}

TEST(HookNaming, TracePath)
{
    fm_identity id = identity({{"RANK", "42"}}, "run-1");
    id.pid = 123;
    char path[4096];
    ASSERT_EQ(fm_trace_path(&id, "/traces", path, sizeof path), 0);
    EXPECT_EQ(std::string(path), "/traces/run-1/" + host_name() + "-r00042-p123.fmtrace");
    // unknown rank
    fm_identity lone = identity({}, "run-1");
    lone.pid = 9;
    ASSERT_EQ(fm_trace_path(&lone, "d", path, sizeof path), 0);
    EXPECT_EQ(std::string(path), "d/run-1/" + host_name() + "-rx-p9.fmtrace");
    // ranks past five digits keep every digit
    id.rank = 1234567;
    ASSERT_EQ(fm_trace_path(&id, "d", path, sizeof path), 0);
    EXPECT_NE(std::string(path).find("-r1234567-p123."), std::string::npos) << path;
}

TEST(HookNaming, PathsAreUniqueAcrossTenThousandRanks)
{
    fm_identity id = identity({}, "big-run");
    std::set<std::string> seen;
    char path[4096];
    const uint64_t pids[] = {1, 12, 123, 99999, 4194304};
    for (int64_t rank = 0; rank < 10000; rank++) {
        for (uint64_t pid : pids) {
            id.rank = rank;
            id.pid = pid;
            ASSERT_EQ(fm_trace_path(&id, "/out", path, sizeof path), 0);
            ASSERT_TRUE(seen.insert(path).second) << "duplicate " << path;
        }
    }
    id.rank = -1;
    for (uint64_t pid : pids) {
        id.pid = pid;
        ASSERT_EQ(fm_trace_path(&id, "/out", path, sizeof path), 0);
        ASSERT_TRUE(seen.insert(path).second) << "duplicate " << path;
    }
    EXPECT_EQ(seen.size(), 10001u * 5u);
}

TEST(HookNaming, PathThatDoesNotFit)
{
    fm_identity id = identity({{"RANK", "1"}}, "r");
    id.pid = 5;
    char path[4096];
    std::string dir(5000, 'd');
    EXPECT_EQ(fm_trace_path(&id, dir.c_str(), path, sizeof path), -1);
    // the exact boundary: the path and its NUL fit, one byte less does not
    std::string want = "d/r/" + host_name() + "-r00001-p5.fmtrace";
    std::vector<char> buf(want.size() + 1);
    EXPECT_EQ(fm_trace_path(&id, "d", buf.data(), buf.size()), 0);
    EXPECT_EQ(std::string(buf.data()), want);
    EXPECT_EQ(fm_trace_path(&id, "d", buf.data(), buf.size() - 1), -1);
}

bool is_dir(const std::string &p)
{
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

TEST(HookNaming, MakeParentDirs)
{
    TempDir tmp;
    std::string file = tmp.path("a/b/c/trace.fmtrace");
    ASSERT_EQ(fm_make_parent_dirs(file.c_str()), 0) << strerror(errno);
    EXPECT_TRUE(is_dir(tmp.path("a/b/c")));
    EXPECT_FALSE(is_dir(file)); // the file itself is not made
    EXPECT_EQ(access(file.c_str(), F_OK), -1);
    // again: everything exists
    EXPECT_EQ(fm_make_parent_dirs(file.c_str()), 0);
    // doubled and trailing slashes
    EXPECT_EQ(fm_make_parent_dirs(tmp.path("x//y///z/t").c_str()), 0) << strerror(errno);
    EXPECT_TRUE(is_dir(tmp.path("x/y/z")));
    // nothing to make
    EXPECT_EQ(fm_make_parent_dirs("trace.fmtrace"), 0);
    EXPECT_EQ(fm_make_parent_dirs("/trace.fmtrace"), 0);
    // relative paths are made under the current directory
    char cwd[4096];
    ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
    ASSERT_EQ(chdir(tmp.dir().c_str()), 0);
    EXPECT_EQ(fm_make_parent_dirs("rel/dir/t.fmtrace"), 0);
    ASSERT_EQ(chdir(cwd), 0);
    EXPECT_TRUE(is_dir(tmp.path("rel/dir")));
}

TEST(HookNaming, MakeParentDirsReportsErrors)
{
    TempDir tmp;
    int fd = open(tmp.path("file").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
    // a file where a directory must be, in the middle and at the end
    errno = 0;
    EXPECT_EQ(fm_make_parent_dirs(tmp.path("file/sub/t.fmtrace").c_str()), -1);
    EXPECT_EQ(errno, ENOTDIR);
    errno = 0;
    EXPECT_EQ(fm_make_parent_dirs(tmp.path("file/t.fmtrace").c_str()), -1);
    EXPECT_EQ(errno, ENOTDIR);
    // longer than any path
    std::string huge = tmp.path(std::string(5000, 'x') + "/t");
    errno = 0;
    EXPECT_EQ(fm_make_parent_dirs(huge.c_str()), -1);
    EXPECT_EQ(errno, ENAMETOOLONG);
    // a directory this user may not write (root may write anywhere: not testable as root)
    if (geteuid() != 0) {
        ASSERT_EQ(mkdir(tmp.path("ro").c_str(), 0555), 0);
        errno = 0;
        EXPECT_EQ(fm_make_parent_dirs(tmp.path("ro/sub/t").c_str()), -1);
        EXPECT_EQ(errno, EACCES);
        chmod(tmp.path("ro").c_str(), 0755);
    }
}

} // namespace
