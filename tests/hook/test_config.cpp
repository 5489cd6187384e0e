// test_config.cpp - FLOPMETER_* parsing (hook_config.c): the defaults, every variable with good
// values, and every kind of bad value of every variable: -1 and a one-line message naming the
// variable, the defaults left in place, and FLOPMETER_STRICT honoured for the error.
#include <clocale>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "hook_config.h"
#include "sampler.h"
}

namespace {

using Vars = std::map<std::string, std::string>;

const char *lookup(const char *name, void *ctx)
{
    auto *vars = static_cast<const Vars *>(ctx);
    auto it = vars->find(name);
    return it == vars->end() ? nullptr : it->second.c_str();
}

struct Parsed {
    int rc;
    fm_hook_config c;
    std::string err;
};

Parsed parse(const Vars &vars)
{
    Parsed p;
    char err[512] = "";
    // anything the parser leaves unset must not come from a previous parse
    memset(&p.c, 0xa5, sizeof p.c);
    p.rc = fm_hook_config_parse(&p.c, lookup, const_cast<Vars *>(&vars), err, sizeof err);
    p.err = err;
    return p;
}

void expect_defaults(const fm_hook_config &c)
{
    EXPECT_EQ(c.mode, FM_MODE_LAUNCHES);
    EXPECT_STREQ(c.output_dir, "flopmeter-traces");
    EXPECT_STREQ(c.run_id, "");
    EXPECT_EQ(c.flush_ms, 1000u);
    EXPECT_EQ(c.interval_ms, 1000u);
    EXPECT_EQ(c.fsync, 0);
    EXPECT_EQ(c.strict, 0);
    EXPECT_EQ(c.callstacks, 1);
    EXPECT_EQ(c.quiet, 0);
    EXPECT_EQ(c.max_signatures, 65536u);
    EXPECT_EQ(c.hash_args, 1);
    EXPECT_EQ(c.arg_variants, 64u);
    EXPECT_EQ(c.profile, FM_PROFILE_SAMPLED);
    EXPECT_EQ(c.profile_budget, 0.02);
    EXPECT_EQ(c.profile_first, 2u);
    EXPECT_EQ(c.profile_replay_first, 0);
    EXPECT_STREQ(c.profile_skip, "nccl");
    EXPECT_EQ(c.arg_learn, 1);
}

const std::vector<std::string> kBoolVars = {"FLOPMETER_FSYNC", "FLOPMETER_STRICT",
                                            "FLOPMETER_CALLSTACKS", "FLOPMETER_QUIET",
                                            "FLOPMETER_ARGS", "FLOPMETER_PROFILE_REPLAY_FIRST",
                                            "FLOPMETER_ARG_LEARN"};

int bool_field(const fm_hook_config &c, const std::string &var)
{
    if (var == "FLOPMETER_FSYNC")
        return c.fsync;
    if (var == "FLOPMETER_STRICT")
        return c.strict;
    if (var == "FLOPMETER_CALLSTACKS")
        return c.callstacks;
    if (var == "FLOPMETER_QUIET")
        return c.quiet;
    if (var == "FLOPMETER_PROFILE_REPLAY_FIRST")
        return c.profile_replay_first;
    if (var == "FLOPMETER_ARG_LEARN")
        return c.arg_learn;
    return c.hash_args;
}

TEST(HookConfig, NothingSetGivesTheDefaults)
{
    Parsed p = parse({});
    ASSERT_EQ(p.rc, 0) << p.err;
    expect_defaults(p.c);
}

TEST(HookConfig, GoodValuesOfEveryVariable)
{
    Parsed p = parse({{"FLOPMETER_MODE", "launches"},
                      {"FLOPMETER_OUTPUT_DIR", "/scratch/job 7/traces"},
                      {"FLOPMETER_RUN_ID", "run-42.a_b"},
                      {"FLOPMETER_FLUSH_MS", "10"},
                      {"FLOPMETER_INTERVAL_MS", "3600000"},
                      {"FLOPMETER_FSYNC", "1"},
                      {"FLOPMETER_STRICT", "yes"},
                      {"FLOPMETER_CALLSTACKS", "off"},
                      {"FLOPMETER_QUIET", "true"},
                      {"FLOPMETER_MAX_SIGNATURES", "16"},
                      {"FLOPMETER_ARGS", "no"},
                      {"FLOPMETER_ARG_VARIANTS", "1"},
                      {"FLOPMETER_PROFILE", "exact"},
                      {"FLOPMETER_PROFILE_BUDGET", "0.5"},
                      {"FLOPMETER_PROFILE_FIRST", "1000000"},
                      {"FLOPMETER_PROFILE_REPLAY_FIRST", "1"},
                      {"FLOPMETER_PROFILE_SKIP", "nccl,allreduce,void wait<int>(int*)"},
                      {"FLOPMETER_ARG_LEARN", "0"}});
    ASSERT_EQ(p.rc, 0) << p.err;
    EXPECT_EQ(p.c.mode, FM_MODE_LAUNCHES);
    EXPECT_STREQ(p.c.output_dir, "/scratch/job 7/traces");
    EXPECT_STREQ(p.c.run_id, "run-42.a_b");
    EXPECT_EQ(p.c.flush_ms, 10u);
    EXPECT_EQ(p.c.interval_ms, 3600000u);
    EXPECT_EQ(p.c.fsync, 1);
    EXPECT_EQ(p.c.strict, 1);
    EXPECT_EQ(p.c.callstacks, 0);
    EXPECT_EQ(p.c.quiet, 1);
    EXPECT_EQ(p.c.max_signatures, 16u);
    EXPECT_EQ(p.c.hash_args, 0);
    EXPECT_EQ(p.c.arg_variants, 1u);
    EXPECT_EQ(p.c.profile, FM_PROFILE_EXACT);
    EXPECT_EQ(p.c.profile_budget, 0.5);
    EXPECT_EQ(p.c.profile_first, 1000000u);
    EXPECT_EQ(p.c.profile_replay_first, 1);
    EXPECT_STREQ(p.c.profile_skip, "nccl,allreduce,void wait<int>(int*)");
    EXPECT_EQ(p.c.arg_learn, 0);

    EXPECT_EQ(parse({{"FLOPMETER_MODE", "off"}}).c.mode, FM_MODE_OFF);
    EXPECT_EQ(parse({{"FLOPMETER_PROFILE_FIRST", "1"}}).c.profile_first, 1u);
    EXPECT_EQ(parse({{"FLOPMETER_MAX_SIGNATURES", "16777216"}}).c.max_signatures, 16777216u);
    EXPECT_EQ(parse({{"FLOPMETER_FLUSH_MS", "3600000"}}).c.flush_ms, 3600000u);
    EXPECT_EQ(parse({{"FLOPMETER_INTERVAL_MS", "10"}}).c.interval_ms, 10u);
    EXPECT_EQ(parse({{"FLOPMETER_ARG_VARIANTS", "16777216"}}).c.arg_variants, 16777216u);
    // the longest values that fit
    std::string dir(1023, 'd'), run(127, 'r');
    Parsed longest = parse({{"FLOPMETER_OUTPUT_DIR", dir}, {"FLOPMETER_RUN_ID", run}});
    ASSERT_EQ(longest.rc, 0) << longest.err;
    EXPECT_EQ(std::string(longest.c.output_dir), dir);
    EXPECT_EQ(std::string(longest.c.run_id), run);
}

TEST(HookConfig, EverySpellingOfABoolean)
{
    for (const std::string &var : kBoolVars) {
        for (const char *t : {"1", "yes", "true", "on"}) {
            Parsed p = parse({{var, t}});
            ASSERT_EQ(p.rc, 0) << var << "=" << t << ": " << p.err;
            EXPECT_EQ(bool_field(p.c, var), 1) << var << "=" << t;
        }
        for (const char *f : {"0", "no", "false", "off"}) {
            Parsed p = parse({{var, f}});
            ASSERT_EQ(p.rc, 0) << var << "=" << f << ": " << p.err;
            EXPECT_EQ(bool_field(p.c, var), 0) << var << "=" << f;
        }
    }
}

TEST(HookConfig, EverySpellingOfAProfileMode)
{
    const std::pair<const char *, int> modes[] = {
        {"off", FM_PROFILE_OFF}, {"sampled", FM_PROFILE_SAMPLED}, {"exact", FM_PROFILE_EXACT}};
    for (auto &[name, mode] : modes) {
        Parsed p = parse({{"FLOPMETER_PROFILE", name}});
        ASSERT_EQ(p.rc, 0) << name << ": " << p.err;
        EXPECT_EQ(p.c.profile, mode) << name;
        EXPECT_EQ(p.c.mode, FM_MODE_LAUNCHES) << "counters off is not the hook off";
    }
    // FLOPMETER_MODE=off is read as it is, whatever FLOPMETER_PROFILE asks for
    Parsed off = parse({{"FLOPMETER_MODE", "off"}, {"FLOPMETER_PROFILE", "exact"}});
    ASSERT_EQ(off.rc, 0) << off.err;
    EXPECT_EQ(off.c.mode, FM_MODE_OFF);
}

TEST(HookConfig, ProfileBudget)
{
    const std::pair<const char *, double> good[] = {
        {"1", 1.0},      {"1.0", 1.0},        {"1.", 1.0},    {"0.02", 0.02}, {".5", 0.5},
        {"1e-3", 1e-3},  {"1E-3", 1e-3},      {"2.5e-1", 0.25}, {"1e0", 1.0}, {"100e-2", 1.0},
        {"0.25e+0", 0.25}, {"0.000001", 1e-6}};
    for (auto &[text, value] : good) {
        Parsed p = parse({{"FLOPMETER_PROFILE_BUDGET", text}});
        ASSERT_EQ(p.rc, 0) << text << ": " << p.err;
        EXPECT_EQ(p.c.profile_budget, value) << text;
    }
    for (const char *bad : {"0", "0.0", "1.5", "nan", "NaN", "inf", "-inf", "0.02x", "-0.1",
                            "-0", "1.0000001", "1e3", "1e-999", "1e999", "", " 0.5", "0.5 ",
                            "+0.5", "0x1p-4", "0,02", "2%", "e-3", ".", "1e", "5.", "0.5\n"}) {
        Parsed p = parse({{"FLOPMETER_PROFILE_BUDGET", bad}});
        EXPECT_EQ(p.rc, -1) << "'" << bad << "' was accepted";
        EXPECT_EQ(p.err.rfind("FLOPMETER_PROFILE_BUDGET", 0), 0u) << p.err;
        EXPECT_NE(p.err.find("greater than 0 and at most 1"), std::string::npos) << p.err;
        EXPECT_EQ(p.c.profile_budget, 0.02);
    }
    Parsed named = parse({{"FLOPMETER_PROFILE_BUDGET", "0.02x"}});
    EXPECT_NE(named.err.find("FLOPMETER_PROFILE_BUDGET='0.02x'"), std::string::npos)
        << named.err;
}

// A program that set a locale whose decimal point is a comma before the hook read its
// configuration still gets "0.02" read, and RUN_META still written, with a '.'.
TEST(HookConfig, ProfileBudgetIgnoresTheProgramsLocale)
{
    const char *set = nullptr;
    for (const char *name : {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"})
        if ((set = setlocale(LC_NUMERIC, name)))
            break;
    if (!set)
        GTEST_SKIP() << "no locale with a decimal comma installed";
    Parsed p = parse({{"FLOPMETER_PROFILE_BUDGET", "0.125"}});
    char keys[16][32], values[16][FM_CONFIG_VALUE_LEN];
    size_t n = p.rc == 0 ? fm_hook_config_entries(&p.c, keys, values, 16) : 0;
    setlocale(LC_NUMERIC, "C");
    ASSERT_EQ(p.rc, 0) << p.err;
    EXPECT_EQ(p.c.profile_budget, 0.125);
    for (size_t i = 0; i < n; i++) {
        if (std::string(keys[i]) == "profile_budget") {
            EXPECT_STREQ(values[i], "0.125");
        }
    }
}

TEST(HookConfig, ProfileSkipList)
{
    // set but empty: skip nothing
    Parsed none = parse({{"FLOPMETER_PROFILE_SKIP", ""}});
    ASSERT_EQ(none.rc, 0) << none.err;
    EXPECT_STREQ(none.c.profile_skip, "");
    for (const char *good : {"nccl", "a,b", "ncclKernel,ncclDevKernel_AllReduce",
                             "void f<int>(int, float)", "x"}) {
        Parsed p = parse({{"FLOPMETER_PROFILE_SKIP", good}});
        ASSERT_EQ(p.rc, 0) << good << ": " << p.err;
        EXPECT_STREQ(p.c.profile_skip, good);
    }
    std::string longest(255, 's');
    Parsed p = parse({{"FLOPMETER_PROFILE_SKIP", longest}});
    ASSERT_EQ(p.rc, 0) << p.err;
    EXPECT_EQ(std::string(p.c.profile_skip), longest);
    // an empty item would be a substring of every kernel's name
    for (const char *bad : {",", "nccl,", ",nccl", "a,,b", ",,"}) {
        Parsed q = parse({{"FLOPMETER_PROFILE_SKIP", bad}});
        EXPECT_EQ(q.rc, -1) << "'" << bad << "' was accepted";
        EXPECT_NE(q.err.find("empty name"), std::string::npos) << q.err;
        EXPECT_STREQ(q.c.profile_skip, "nccl");
    }
}

// The list as the glue applies it to each kernel function's name: any name of the list as a
// substring, however many names it has.
TEST(HookConfig, ProfileSkipListMatchesKernelNames)
{
    EXPECT_TRUE(fm_hook_config_skips("nccl", "ncclDevKernel_AllReduce_Sum_f32_RING_LL"));
    EXPECT_FALSE(fm_hook_config_skips("nccl", "ampere_sgemm_128x64_nn"));
    EXPECT_FALSE(fm_hook_config_skips("", "ncclKernel")) << "an empty list names none";
    EXPECT_TRUE(fm_hook_config_skips("a_kernel,gemm", "ampere_sgemm_128x64_nn"));
    EXPECT_TRUE(fm_hook_config_skips("gemm,a_kernel", "a_kernel"));
    EXPECT_FALSE(fm_hook_config_skips("gemm,b_kernel", "a_kernel"));
    EXPECT_FALSE(fm_hook_config_skips("nccl", nullptr));
    EXPECT_FALSE(fm_hook_config_skips(nullptr, "nccl"));
    // a name longer than the kernel's matches nothing; names are cut at the commas only
    EXPECT_FALSE(fm_hook_config_skips("ncclKernelX,y", "ncclKernel"));
    EXPECT_FALSE(fm_hook_config_skips("ab,cd", "xbcx"));
    // a comma inside a demangled name cuts it too: "void f<int>(int" and " float)"
    EXPECT_TRUE(fm_hook_config_skips("void f<int>(int, float)", "void f<int>(int)"));
    EXPECT_TRUE(fm_hook_config_skips("void f<int>(int, float)", "g(double, float)"));
    // twenty names: the last one counts as much as the first
    std::string many;
    for (int i = 0; i < 20; i++)
        many += (i ? "," : "") + std::string("name") + std::to_string(i) + "_";
    EXPECT_TRUE(fm_hook_config_skips(many.c_str(), "void name19_kernel<float>()"));
    EXPECT_FALSE(fm_hook_config_skips(many.c_str(), "void name20_kernel<float>()"));
    // every accepted list, applied: the default skips NCCL and only NCCL
    Parsed p = parse({});
    ASSERT_EQ(p.rc, 0) << p.err;
    EXPECT_TRUE(fm_hook_config_skips(p.c.profile_skip, "ncclDevKernel_Generic"));
    EXPECT_FALSE(fm_hook_config_skips(p.c.profile_skip, "sm90_xmma_gemm_bf16bf16"));
}

// Every bad value of every variable.
std::vector<std::pair<std::string, std::string>> bad_values()
{
    std::vector<std::pair<std::string, std::string>> v;
    const std::string ctrl_nl = std::string("a\nb"), ctrl_esc = std::string("a\x1b[31mb"),
                      ctrl_del = std::string("a\x7f"), ctrl_tab = std::string("a\tb");
    for (const char *m : {"", "on", "LAUNCHES", "launches ", " off", "counters", "1"})
        v.push_back({"FLOPMETER_MODE", m});
    v.push_back({"FLOPMETER_MODE", "launches\n"});
    for (const std::string &d : {std::string(""), std::string(1024, 'd'),
                                 std::string(5000, 'd'), ctrl_nl, ctrl_esc, ctrl_del, ctrl_tab})
        v.push_back({"FLOPMETER_OUTPUT_DIR", d});
    for (const std::string &r : {std::string(""), std::string("a/b"), std::string("/run"),
                                 std::string(128, 'r'), ctrl_nl, ctrl_esc, ctrl_del, ctrl_tab})
        v.push_back({"FLOPMETER_RUN_ID", r});
    const std::vector<std::string> bad_numbers = {
        "", "abc", "-5", "-0", "1e3", "100ms", "12 ", " 100", "+100", "0x20", "10.0",
        "18446744073709551616", "99999999999999999999999", "4294967306", "1\n"};
    for (const char *var : {"FLOPMETER_FLUSH_MS", "FLOPMETER_INTERVAL_MS"}) {
        for (auto &n : bad_numbers)
            v.push_back({var, n});
        v.push_back({var, "9"});       // below the minimum
        v.push_back({var, "0"});
        v.push_back({var, "3600001"}); // above the maximum
    }
    for (auto &n : bad_numbers)
        v.push_back({"FLOPMETER_MAX_SIGNATURES", n});
    for (const char *n : {"15", "0", "16777217", "64k"})
        v.push_back({"FLOPMETER_MAX_SIGNATURES", n});
    for (auto &n : bad_numbers)
        v.push_back({"FLOPMETER_ARG_VARIANTS", n});
    for (const char *n : {"0", "16777217", "64 "})
        v.push_back({"FLOPMETER_ARG_VARIANTS", n});
    for (const char *m : {"", "on", "1", "0", "Sampled", "EXACT", "sampled ", " exact",
                          "sample", "none", "exact\n"})
        v.push_back({"FLOPMETER_PROFILE", m});
    for (const char *b : {"", "0", "0.0", "1.5", "nan", "inf", "0.02x", "-0.1", " 0.1",
                          "0x0.1p0", "0,02", "1e999", "0.1\n"})
        v.push_back({"FLOPMETER_PROFILE_BUDGET", b});
    for (auto &n : bad_numbers)
        v.push_back({"FLOPMETER_PROFILE_FIRST", n});
    for (const char *n : {"0", "1000001"})
        v.push_back({"FLOPMETER_PROFILE_FIRST", n});
    for (const std::string &k : {std::string(256, 'k'), std::string(4000, 'k'), ctrl_nl,
                                 ctrl_esc, ctrl_del, ctrl_tab, std::string("nccl,"),
                                 std::string(",nccl"), std::string("a,,b"), std::string(",")})
        v.push_back({"FLOPMETER_PROFILE_SKIP", k});
    for (const std::string &var : kBoolVars)
        for (const std::string &b : {std::string(""), std::string("2"), std::string("Yes"),
                                     std::string("TRUE"), std::string("1 "), std::string(" 0"),
                                     std::string("maybe"), std::string("-1"), ctrl_nl})
            v.push_back({var, b});
    return v;
}

TEST(HookConfig, EveryBadValueIsOneLineNamingTheVariable)
{
    auto bad = bad_values();
    ASSERT_GT(bad.size(), 100u);
    for (auto &[var, value] : bad) {
        SCOPED_TRACE(var + "='" + value + "'");
        // with a good value of another variable, which must not be kept either
        Vars vars = {{var, value}};
        if (var != "FLOPMETER_RUN_ID")
            vars["FLOPMETER_RUN_ID"] = "kept-only-when-all-is-good";
        Parsed p = parse(vars);
        EXPECT_EQ(p.rc, -1);
        EXPECT_NE(p.err.find(var), std::string::npos) << p.err;
        EXPECT_EQ(p.err.find('\n'), std::string::npos) << p.err;
        for (char ch : p.err)
            EXPECT_FALSE((unsigned char)ch < 0x20 || ch == 0x7f) << "control character in " << p.err;
        EXPECT_LT(p.err.size(), 511u);
        expect_defaults(p.c);
    }
}

TEST(HookConfig, TheMessageFitsASmallBuffer)
{
    char err[24];
    fm_hook_config c;
    Vars vars = {{"FLOPMETER_FLUSH_MS", std::string(300, '7')}};
    EXPECT_EQ(fm_hook_config_parse(&c, lookup, &vars, err, sizeof err), -1);
    EXPECT_EQ(strlen(err), sizeof err - 1);
    EXPECT_EQ(std::string(err).rfind("FLOPMETER_FLUSH_MS", 0), 0u);
}

TEST(HookConfig, StrictAppliesToTheErrorReported)
{
    for (const char *yes : {"1", "yes", "true", "on"}) {
        Parsed p = parse({{"FLOPMETER_STRICT", yes}, {"FLOPMETER_FLUSH_MS", "abc"}});
        EXPECT_EQ(p.rc, -1);
        EXPECT_EQ(p.c.strict, 1) << "FLOPMETER_STRICT=" << yes;
        EXPECT_NE(p.err.find("FLOPMETER_FLUSH_MS"), std::string::npos) << p.err;
    }
    // a bad value read before FLOPMETER_STRICT in the order of parsing
    Parsed early = parse({{"FLOPMETER_STRICT", "1"}, {"FLOPMETER_MODE", "bogus"}});
    EXPECT_EQ(early.rc, -1);
    EXPECT_EQ(early.c.strict, 1);
    Parsed off = parse({{"FLOPMETER_STRICT", "0"}, {"FLOPMETER_MAX_SIGNATURES", "1"}});
    EXPECT_EQ(off.rc, -1);
    EXPECT_EQ(off.c.strict, 0);
    Parsed unset = parse({{"FLOPMETER_ARGS", "2"}});
    EXPECT_EQ(unset.rc, -1);
    EXPECT_EQ(unset.c.strict, 0);
    // a bad FLOPMETER_STRICT is itself the error, and does not make the hook strict
    Parsed self = parse({{"FLOPMETER_STRICT", "please"}});
    EXPECT_EQ(self.rc, -1);
    EXPECT_EQ(self.c.strict, 0);
    EXPECT_NE(self.err.find("FLOPMETER_STRICT"), std::string::npos);
}

TEST(HookConfig, EntriesForRunMeta)
{
    Parsed p = parse({{"FLOPMETER_OUTPUT_DIR", "/t"}, {"FLOPMETER_MODE", "launches"},
                      {"FLOPMETER_MAX_SIGNATURES", "4096"}, {"FLOPMETER_FSYNC", "1"}});
    ASSERT_EQ(p.rc, 0);
    char keys[16][32], values[16][FM_CONFIG_VALUE_LEN];
    size_t n = fm_hook_config_entries(&p.c, keys, values, 16);
    // every entry there is room for in RUN_META (hook_core.c passes 16)
    ASSERT_EQ(n, 16u);
    std::map<std::string, std::string> got;
    for (size_t i = 0; i < n; i++)
        got[keys[i]] = values[i];
    EXPECT_EQ(got.size(), n) << "a key appears twice";
    EXPECT_EQ(got["mode"], "launches");
    EXPECT_EQ(got["output_dir"], "/t");
    EXPECT_EQ(got["flush_ms"], "1000");
    EXPECT_EQ(got["max_signatures"], "4096");
    EXPECT_EQ(got["fsync"], "1");
    EXPECT_EQ(got["args"], "1");
    EXPECT_EQ(got["arg_variants"], "64");
    EXPECT_EQ(got["profile"], "sampled");
    EXPECT_EQ(got["profile_budget"], "0.02");
    EXPECT_EQ(got["profile_first"], "2");
    EXPECT_EQ(got["profile_replay_first"], "0");
    EXPECT_EQ(got["profile_skip"], "nccl");
    EXPECT_EQ(got["arg_learn"], "1");
    // the values set, and a budget that reads back as the same number
    Parsed set = parse({{"FLOPMETER_PROFILE", "off"}, {"FLOPMETER_PROFILE_BUDGET", "0.1"},
                        {"FLOPMETER_PROFILE_FIRST", "7"}, {"FLOPMETER_PROFILE_REPLAY_FIRST", "on"},
                        {"FLOPMETER_PROFILE_SKIP", ""}, {"FLOPMETER_ARG_LEARN", "no"}});
    ASSERT_EQ(set.rc, 0) << set.err;
    n = fm_hook_config_entries(&set.c, keys, values, 16);
    got.clear();
    for (size_t i = 0; i < n; i++)
        got[keys[i]] = values[i];
    EXPECT_EQ(got["profile"], "off");
    EXPECT_EQ(got["profile_budget"], "0.1");
    EXPECT_EQ(got["profile_first"], "7");
    EXPECT_EQ(got["profile_replay_first"], "1");
    EXPECT_EQ(got.count("profile_skip"), 1u);
    EXPECT_EQ(got["profile_skip"], ""); // skip nothing
    EXPECT_EQ(got["arg_learn"], "0");
    for (const char *exact : {"exact", "sampled"}) {
        Parsed m = parse({{"FLOPMETER_PROFILE", exact}});
        n = fm_hook_config_entries(&m.c, keys, values, 16);
        for (size_t i = 0; i < n; i++) {
            if (std::string(keys[i]) == "profile") {
                EXPECT_STREQ(values[i], exact);
            }
        }
    }
    for (const char *b : {"1", "0.3", "1e-3", "0.123456789012345678", "0.7"}) {
        Parsed m = parse({{"FLOPMETER_PROFILE_BUDGET", b}});
        ASSERT_EQ(m.rc, 0) << m.err;
        n = fm_hook_config_entries(&m.c, keys, values, 16);
        for (size_t i = 0; i < n; i++) {
            if (std::string(keys[i]) == "profile_budget") {
                EXPECT_EQ(strtod(values[i], nullptr), m.c.profile_budget) << values[i];
            }
        }
    }
    // max bounds what is written
    EXPECT_EQ(fm_hook_config_entries(&p.c, keys, values, 3), 3u);
    EXPECT_STREQ(keys[0], "mode");
    // the longest output directory survives whole
    Parsed longest = parse({{"FLOPMETER_OUTPUT_DIR", std::string(1023, 'x')}});
    ASSERT_EQ(longest.rc, 0);
    n = fm_hook_config_entries(&longest.c, keys, values, 16);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (std::string(keys[i]) == "output_dir") {
            found = true;
            EXPECT_EQ(std::string(values[i]), std::string(1023, 'x'));
        }
    }
    EXPECT_TRUE(found);
}

TEST(HookConfig, ReadFromTheEnvironment)
{
    // fm_hook_config_read is fm_hook_config_parse over getenv
    setenv("FLOPMETER_INTERVAL_MS", "250", 1);
    fm_hook_config c;
    char err[256] = "";
    EXPECT_EQ(fm_hook_config_read(&c, err, sizeof err), 0) << err;
    EXPECT_EQ(c.interval_ms, 250u);
    setenv("FLOPMETER_INTERVAL_MS", "250ms", 1);
    EXPECT_EQ(fm_hook_config_read(&c, err, sizeof err), -1);
    EXPECT_NE(std::string(err).find("FLOPMETER_INTERVAL_MS='250ms'"), std::string::npos) << err;
    unsetenv("FLOPMETER_INTERVAL_MS");
}

} // namespace
