// test_golden.cpp - golden outputs: the report's text, JSON and CSV for a synthesized job, the
// estimate for a model spec, and the CSV-free dump of a small trace must match the files in
// tests/golden/ byte for byte. After a deliberate change, regenerate them with
//   FLOPMETER_UPDATE_GOLDEN=1 build/tests/flopmeter_unit_tests --gtest_filter='Golden*'
// and review the diff like code.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "test_support.h"

namespace {

using fmtest::TempDir;

std::string golden_path(const std::string &name)
{
    return std::string(FLOPMETER_SOURCE_DIR) + "/tests/golden/" + name;
}

// Runs the command in dir (so that paths in the output are relative) and compares stdout with
// the golden file.
void expect_golden(const TempDir &dir, const std::string &args, const std::string &name)
{
    std::string out = dir.path("stdout"), err = dir.path("stderr");
    std::string cmd = "cd '" + dir.dir() + "' && NO_COLOR=1 '" FLOPMETER_BIN "' " + args +
                      " >'" + out + "' 2>'" + err + "'";
    int st = system(cmd.c_str());
    auto e = fmtest::read_file(err);
    ASSERT_EQ(st, 0) << std::string(e.begin(), e.end());
    auto got = fmtest::read_file(out);
    if (getenv("FLOPMETER_UPDATE_GOLDEN")) {
        fmtest::write_file(golden_path(name), got);
        return;
    }
    auto want = fmtest::read_file(golden_path(name));
    ASSERT_FALSE(want.empty()) << "missing " << golden_path(name);
    EXPECT_TRUE(got == want) << "output differs from tests/golden/" << name
                             << "; see the comment at the top of test_golden.cpp\n"
                             << std::string(got.begin(), got.end());
}

class Golden : public ::testing::Test {
  protected:
    void SetUp() override
    {
        std::string cmd = "cd '" + dir_.dir() + "' && '" FLOPMETER_BIN "' synth --quiet "
                          "--out job.fmtrace --seed 7 --steps 130 --signatures 40 "
                          "--launches-per-step 120 --world-size 2";
        ASSERT_EQ(system(cmd.c_str()), 0);
    }
    TempDir dir_;
};

TEST_F(Golden, ReportText)
{
    expect_golden(dir_, "report --top 8 job.fmtrace", "report.txt");
}

TEST_F(Golden, ReportJson)
{
    expect_golden(dir_, "report --json job.fmtrace", "report.json");
}

TEST_F(Golden, ReportCsv)
{
    expect_golden(dir_, "report --csv job.fmtrace", "report.csv");
}

TEST_F(Golden, EstimateFromAModelSpec)
{
    fmtest::write_file(dir_.path("model.ini"), [] {
        std::string s = "# a 70B dense model, 15T tokens, on 2048 H100s\n"
                        "[model]\nparameters = 70e9\nlayers = 80\nhidden_size = 8192\n"
                        "heads = 64\nffn_size = 28672\nsequence_length = 8192\n"
                        "vocabulary = 128256\nmodality = text\n"
                        "[data]\ntokens = 15e12\n"
                        "[hardware]\ngpu = NVIDIA H100 80GB HBM3\ngpu_hours = 6.4e6\n"
                        "utilization = 0.4\n";
        return std::vector<uint8_t>(s.begin(), s.end());
    }());
    expect_golden(dir_, "estimate --model model.ini", "estimate.txt");
}

} // namespace
