// test_cli.cpp - the `flopmeter` command as a user meets it: help and version, exit codes,
// one-line errors naming the file, JSON that parses, and the sign/verify workflow.
#include <string>

#include <gtest/gtest.h>

#include "test_support.h"

namespace {

using fmtest::run_flopmeter;
using fmtest::TempDir;

int count_lines(const std::string &s)
{
    int n = 0;
    for (char c : s)
        n += c == '\n';
    return n;
}

// The JSON is checked with Python's parser, the strictest one at hand.
bool json_parses(const std::string &path)
{
    std::string cmd = "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' '" + path + "'";
    return system(cmd.c_str()) == 0;
}

TEST(Cli, VersionAndHelp)
{
    auto r = run_flopmeter("--version");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("trace format 1.1"), std::string::npos) << r.out;
    r = run_flopmeter("--help");
    EXPECT_EQ(r.status, 0);
    for (const char *verb : {"dump", "verify", "sign", "keygen", "synth"}) {
        EXPECT_NE(r.out.find(verb), std::string::npos);
        auto h = run_flopmeter(std::string(verb) + " --help");
        EXPECT_EQ(h.status, 0) << verb;
        EXPECT_NE(h.out.find(std::string("usage: flopmeter ") + verb), std::string::npos) << verb;
        EXPECT_TRUE(h.err.empty()) << verb;
    }
}

// Every option a verb accepts is in its --help.
TEST(Cli, EstimateHelpListsItsOutputOptions)
{
    auto h = run_flopmeter("estimate --help");
    EXPECT_EQ(h.status, 0);
    for (const char *opt : {"--json", "--csv", "--html FILE", "--use ID", "--gpu NAME"})
        EXPECT_NE(h.out.find(opt), std::string::npos) << opt << " missing in\n" << h.out;
    // and they are accepted
    auto r = run_flopmeter("estimate --params 1e9 --tokens 2e10 --csv");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.rfind("kernel,grid_x,", 0), 0u) << r.out;
}

TEST(Cli, UsageErrorsAreOneLineAndExitTwo)
{
    const char *cases[] = {"", "frobnicate", "dump", "dump --bogus x", "verify", "sign x",
                           "synth --out /tmp/x --steps abc", "synth --out /tmp/x --steps -3",
                           "synth --out /tmp/x --sample-rate 2", "keygen", "dump a b"};
    for (const char *c : cases) {
        auto r = run_flopmeter(c);
        EXPECT_EQ(r.status, 2) << c;
        if (*c) { // bare `flopmeter` prints its usage instead
            EXPECT_EQ(count_lines(r.err), 1) << c << ": " << r.err;
            EXPECT_EQ(r.err.rfind("flopmeter: ", 0), 0u) << r.err;
        }
    }
}

class CliTrace : public ::testing::Test {
  protected:
    void SetUp() override
    {
        trace_ = tmp_.path("t.fmtrace");
        auto r = run_flopmeter("synth --quiet --steps 130 --signatures 40 --launches-per-step 80 "
                               "--out '" + trace_ + "'");
        ASSERT_EQ(r.status, 0) << r.err;
    }
    TempDir tmp_;
    std::string trace_;
};

TEST_F(CliTrace, DumpTextAndJson)
{
    auto r = run_flopmeter("dump '" + trace_ + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char *k : {"run_meta", "device", "kernel_signature", "counter_sample", "aggregate",
                          "phase_def", "declaration", "degradation", "final", "callsite"})
        EXPECT_NE(r.out.find(std::string("  ") + k + " "), std::string::npos) << k;
    EXPECT_NE(r.out.find("# end:"), std::string::npos);

    std::string json = tmp_.path("d.json");
    r = run_flopmeter("dump --json '" + trace_ + "' >/dev/null; '" FLOPMETER_BIN "' dump --json '" +
                      trace_ + "' > '" + json + "'; true");
    EXPECT_TRUE(json_parses(json));
}

TEST_F(CliTrace, VerifyExitCodes)
{
    auto r = run_flopmeter("verify '" + trace_ + "'");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("intact"), std::string::npos);

    auto bytes = fmtest::read_file(trace_);
    auto offs = fmtest::chunk_offsets(bytes);
    std::string cut = tmp_.path("cut.fmtrace");
    fmtest::write_file(cut, std::vector<uint8_t>(bytes.begin(), bytes.begin() + (long)offs[1] + 10));
    r = run_flopmeter("verify '" + cut + "'");
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(count_lines(r.err), 1);
    EXPECT_NE(r.err.find(cut + ": truncated"), std::string::npos) << r.err;
    r = run_flopmeter("verify --allow-incomplete '" + cut + "'");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("intact so far"), std::string::npos) << r.out;

    std::string bad = tmp_.path("bad.fmtrace");
    bytes[offs[1] + 70] ^= 0x10;
    fmtest::write_file(bad, bytes);
    r = run_flopmeter("verify --allow-incomplete '" + bad + "'");
    EXPECT_EQ(r.status, 2); // damage is never "incomplete"
    r = run_flopmeter("verify --json '" + trace_ + "' '" + bad + "'");
    EXPECT_EQ(r.status, 2);
    std::string json = tmp_.path("v.json");
    fmtest::write_file(json, std::vector<uint8_t>(r.out.begin(), r.out.end()));
    EXPECT_TRUE(json_parses(json));
    EXPECT_NE(r.out.find("\"intact\": false"), std::string::npos);

    r = run_flopmeter("verify '" + tmp_.path("missing") + "'");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("missing: cannot open"), std::string::npos) << r.err;
    r = run_flopmeter("dump '" + tmp_.dir() + "'");
    EXPECT_EQ(r.status, 2);
}

TEST_F(CliTrace, KeygenSignVerify)
{
    std::string key = tmp_.path("lab");
    auto r = run_flopmeter("keygen --out '" + key + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("fingerprint: "), std::string::npos);
    r = run_flopmeter("keygen --out '" + key + "'");
    EXPECT_EQ(r.status, 2); // never overwrites
    r = run_flopmeter("sign --key '" + key + ".key' --signer 'Lab A' '" + trace_ + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    r = run_flopmeter("verify --pubkey '" + key + ".pub' '" + trace_ + "'");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("1 present, 1 valid"), std::string::npos) << r.out;
    r = run_flopmeter("dump '" + trace_ + "'");
    EXPECT_NE(r.out.find("signer=\"Lab A\""), std::string::npos);

    std::string other = tmp_.path("other");
    ASSERT_EQ(run_flopmeter("keygen --out '" + other + "'").status, 0);
    r = run_flopmeter("verify --pubkey '" + other + ".pub' '" + trace_ + "'");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("no valid signature by the trusted key"), std::string::npos) << r.err;
    r = run_flopmeter("verify --pubkey '" + tmp_.path("nokey") + "' '" + trace_ + "'");
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(count_lines(r.err), 1);
}

// Whatever is cut off or damaged, the commands answer with 0 or 2, never a crash.
TEST_F(CliTrace, DamagedInputNeverCrashesTheCommands)
{
    auto bytes = fmtest::read_file(trace_);
    std::string f = tmp_.path("damaged.fmtrace");
    for (size_t cut = 0; cut < bytes.size(); cut += bytes.size() / 23 + 1) {
        auto b = bytes;
        b.resize(cut);
        if (cut > 100)
            b[cut / 2] ^= 0x5a;
        fmtest::write_file(f, b);
        for (const char *verb : {"dump", "dump --json", "verify"}) {
            auto r = run_flopmeter(std::string(verb) + " '" + f + "'");
            EXPECT_TRUE(r.status == 0 || r.status == 2) << verb << " at " << cut << ": " << r.status;
            if (r.status == 2) {
                EXPECT_EQ(count_lines(r.err), 1) << r.err;
            }
        }
    }
}

} // namespace
