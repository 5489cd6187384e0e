// test_config.cpp - FLOPMETER_* parsing (hook_config.c): the defaults, every variable with good
// values, and every kind of bad value of every variable: -1 and a one-line message naming the
// variable, the defaults left in place, and FLOPMETER_STRICT honoured for the error.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "hook_config.h"
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
}

const std::vector<std::string> kBoolVars = {"FLOPMETER_FSYNC", "FLOPMETER_STRICT",
                                            "FLOPMETER_CALLSTACKS", "FLOPMETER_QUIET",
                                            "FLOPMETER_ARGS"};

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
                      {"FLOPMETER_ARG_VARIANTS", "1"}});
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

    EXPECT_EQ(parse({{"FLOPMETER_MODE", "off"}}).c.mode, FM_MODE_OFF);
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
    ASSERT_GE(n, 10u);
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
