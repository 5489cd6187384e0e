// test_report_data.cpp - the report's inputs other than traces: the data-file syntax, the
// shipped threshold profiles and peak tables, model specs and the checks on facts.
#include <cmath>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "kvfile.h"
#include "report_facts.h"
#include "rules_data.h"
}

namespace {

std::string parse_error(const std::string &text)
{
    kv_file f;
    char err[512] = "";
    if (kv_parse(text.data(), text.size(), "t.ini", &f, err, sizeof err) == 0) {
        kv_free(&f);
        return "";
    }
    return err;
}

TEST(KvFile, SectionsKeysAndComments)
{
    std::string text = "# top\nloose = 1\n[profile]\nid = eu\n  [threshold gpai]  \n"
                       "value = 1e23   \n# c\n\ntitle =  a title with = signs  \n";
    kv_file f;
    char err[256];
    ASSERT_EQ(kv_parse(text.data(), text.size(), "t.ini", &f, err, sizeof err), 0) << err;
    EXPECT_STREQ(kv_get(&f, "", "", "loose"), "1");
    EXPECT_STREQ(kv_get(&f, "profile", "", "id"), "eu");
    EXPECT_STREQ(kv_get(&f, "threshold", "gpai", "value"), "1e23");
    EXPECT_STREQ(kv_get(&f, "threshold", "gpai", "title"), "a title with = signs");
    EXPECT_EQ(kv_get(&f, "threshold", "other", "value"), nullptr);
    EXPECT_EQ(kv_find(&f, "threshold", "gpai", "value")->line, 6);
    ASSERT_EQ(f.n_sections, 2u);
    EXPECT_STREQ(f.sections[1], "threshold gpai");
    kv_free(&f);
}

TEST(KvFile, ErrorsNameTheLine)
{
    EXPECT_EQ(parse_error("[a]\nx = 1\nx = 2\n"), "t.ini:3: key appears twice in its section "
                                                   "(first on line 2)");
    EXPECT_EQ(parse_error("[a]\n[a]\n"), "t.ini:2: section [a] appears twice");
    EXPECT_EQ(parse_error("[a b c]\n"),
              "t.ini:1: malformed section header (expected [type] or [type name])");
    EXPECT_EQ(parse_error("novalue\n"), "t.ini:1: expected 'key = value'");
    EXPECT_EQ(parse_error("k!y = 1\n"), "t.ini:1: expected 'key = value'");
    EXPECT_EQ(parse_error(std::string("a = 1\0", 6)), "t.ini:0: contains a NUL byte: not a text "
                                                      "file");
    EXPECT_EQ(parse_error("a = " + std::string(5000, 'x')), "t.ini:1: line longer than 4096 bytes");
    EXPECT_EQ(parse_error(""), "");
    EXPECT_EQ(parse_error("[a]\nx = 1"), ""); // no final newline
}

TEST(KvFile, Numbers)
{
    std::string text = "a = 1e25/3\nb = -2.5\nc = 0x10\nd = 1/0\ne = inf\nf = 1e999\ng = .5\n";
    kv_file f;
    char err[256];
    ASSERT_EQ(kv_parse(text.data(), text.size(), "n.ini", &f, err, sizeof err), 0);
    double v;
    EXPECT_EQ(kv_number(&f, kv_find(&f, "", "", "a"), &v, err, sizeof err), 0);
    EXPECT_DOUBLE_EQ(v, 1e25 / 3);
    EXPECT_EQ(kv_number(&f, kv_find(&f, "", "", "b"), &v, err, sizeof err), 0);
    EXPECT_EQ(v, -2.5);
    EXPECT_EQ(kv_number(&f, kv_find(&f, "", "", "g"), &v, err, sizeof err), 0);
    for (const char *k : {"c", "d", "e", "f"}) {
        EXPECT_EQ(kv_number(&f, kv_find(&f, "", "", k), &v, err, sizeof err), -1) << k;
        EXPECT_NE(std::string(err).find("is not a number"), std::string::npos) << err;
    }
    kv_free(&f);
}

class Builtin : public ::testing::Test {
  protected:
    void SetUp() override
    {
        char err[512];
        ASSERT_EQ(rp_data_load_builtin(&d_, err, sizeof err), 0) << err;
    }
    void TearDown() override { rp_data_free(&d_); }
    const rp_profile *profile(const char *id)
    {
        for (uint32_t i = 0; i < d_.n_profiles; i++)
            if (strcmp(d_.profiles[i].id, id) == 0)
                return &d_.profiles[i];
        return nullptr;
    }
    const rp_threshold *threshold(const rp_profile *p, const char *name)
    {
        for (uint32_t i = 0; p && i < p->n_thresholds; i++)
            if (strcmp(p->thresholds[i].name, name) == 0)
                return &p->thresholds[i];
        return nullptr;
    }
    rp_data d_;
};

// The lines the project's research names (shared regulation notes); a data file that drifts
// from them fails here.
TEST_F(Builtin, ShippedProfilesCarryTheKnownLines)
{
    const rp_profile *eu = profile("eu-gpai-guidelines-2025");
    ASSERT_NE(eu, nullptr);
    EXPECT_FALSE(eu->counts_integer);
    ASSERT_NE(threshold(eu, "gpai"), nullptr);
    EXPECT_EQ(threshold(eu, "gpai")->value, 1e23);
    EXPECT_EQ(threshold(eu, "gpai")->modalities,
              (uint32_t)(RP_MODALITY_TEXT | RP_MODALITY_AUDIO | RP_MODALITY_IMAGE |
                         RP_MODALITY_VIDEO));
    ASSERT_NE(threshold(eu, "systemic"), nullptr);
    EXPECT_EQ(threshold(eu, "systemic")->value, 1e25);
    const rp_threshold *mod = threshold(eu, "modifier");
    ASSERT_NE(mod, nullptr);
    EXPECT_FALSE(mod->absolute);
    EXPECT_DOUBLE_EQ(mod->relative, 1.0 / 3);
    EXPECT_DOUBLE_EQ(mod->fallback, 1e23 / 3);
    EXPECT_DOUBLE_EQ(mod->fallback_systemic, 1e25 / 3);
    // the training basis leaves out evaluation, recomputation and auxiliary models
    const rp_basis &training = eu->bases[threshold(eu, "gpai")->basis];
    EXPECT_FALSE(training.categories & (1u << FM_PHASE_EVALUATION));
    EXPECT_FALSE(training.categories & (1u << FM_PHASE_RECOMPUTATION));
    EXPECT_FALSE(training.categories & (1u << FM_PHASE_AUXILIARY_MODEL));
    EXPECT_TRUE(training.categories & (1u << FM_PHASE_PRETRAINING));
    // cumulative adds synthetic data
    const rp_basis &cumulative = eu->bases[threshold(eu, "systemic")->basis];
    EXPECT_TRUE(cumulative.categories & (1u << FM_PHASE_SYNTHETIC_DATA));
    EXPECT_FALSE(training.categories & (1u << FM_PHASE_SYNTHETIC_DATA));

    const rp_profile *april = profile("eu-working-document-2025-04");
    ASSERT_NE(april, nullptr);
    EXPECT_EQ(std::string(april->status), "draft");
    EXPECT_EQ(threshold(april, "gpai")->value, 1e22);

    const rp_profile *sb53 = profile("california-sb53");
    ASSERT_NE(sb53, nullptr);
    EXPECT_TRUE(sb53->counts_integer);
    EXPECT_EQ(sb53->thresholds[0].value, 1e26);
    const rp_basis &ops = sb53->bases[sb53->thresholds[0].basis];
    EXPECT_TRUE(ops.categories & (1u << FM_PHASE_FINETUNING));
    EXPECT_TRUE(ops.categories & (1u << FM_PHASE_REINFORCEMENT_LEARNING));

    const rp_profile *eo = profile("us-eo-14110");
    ASSERT_NE(eo, nullptr);
    EXPECT_EQ(std::string(eo->status), "revoked");
    EXPECT_TRUE(eo->counts_integer);

    const rp_profile *raise = profile("new-york-raise");
    ASSERT_NE(raise, nullptr);
    EXPECT_TRUE(raise->counts_integer);
    EXPECT_EQ(raise->thresholds[0].value, 1e26);

    for (uint32_t i = 0; i < d_.n_profiles; i++) {
        EXPECT_TRUE(d_.profiles[i].source && *d_.profiles[i].source) << d_.profiles[i].id;
        for (uint32_t k = 0; k < d_.profiles[i].n_thresholds; k++)
            EXPECT_TRUE(d_.profiles[i].thresholds[k].source &&
                        *d_.profiles[i].thresholds[k].source);
    }
}

TEST_F(Builtin, PeakTablesMatchDeviceNames)
{
    const rp_peaks *h100 = rp_peaks_for(&d_, "NVIDIA H100 80GB HBM3");
    ASSERT_NE(h100, nullptr);
    EXPECT_EQ(std::string(h100->id), "h100-sxm");
    uint8_t bf16 = FM_CLASS_TENSOR | FM_FMT_BF16, fp8 = FM_CLASS_TENSOR | FM_FMT_FP8;
    EXPECT_NEAR(h100->dense_tflops[bf16], 989.4, 0.5);
    EXPECT_NEAR(h100->dense_tflops[fp8], 1978.9, 1);
    EXPECT_TRUE(std::isnan(h100->dense_tflops[FM_CLASS_TENSOR | FM_CLASS_SPARSE | FM_FMT_BF16]));
    const rp_peaks *pcie = rp_peaks_for(&d_, "NVIDIA H100 PCIe");
    ASSERT_NE(pcie, nullptr);
    EXPECT_EQ(std::string(pcie->id), "h100-pcie");
    const rp_peaks *a100 = rp_peaks_for(&d_, "NVIDIA A100-SXM4-80GB");
    ASSERT_NE(a100, nullptr);
    EXPECT_NEAR(a100->dense_tflops[bf16], 312, 0.5);
    EXPECT_EQ(rp_peaks_for(&d_, "Some Other GPU"), nullptr);
    EXPECT_EQ(rp_peaks_for(&d_, nullptr), nullptr);
}

std::string add_error(const char *kind, const std::string &text)
{
    rp_data d;
    memset(&d, 0, sizeof d);
    char err[512] = "";
    int rc = rp_data_add_text(&d, kind, "x.ini", text.data(), text.size(), err, sizeof err);
    rp_data_free(&d);
    return rc == 0 ? "" : err;
}

const char *good_profile =
    "[profile]\nid = t\ntitle = T\njurisdiction = J\ndocument = D\nstatus = draft\n"
    "counts_integer_operations = no\nsource = S\nverified = no\n"
    "[basis b]\ntitle = B\nincludes = pretraining finetuning\nsource = S\n"
    "[threshold x]\ntitle = X\nbasis = b\nvalue = 1e20\ncomparison = greater\nsource = S\n";

TEST(RulesData, ProfilesAreCheckedStrictly)
{
    EXPECT_EQ(add_error("thresholds", good_profile), "");
    std::string p = good_profile;
    auto with = [&](const std::string &from, const std::string &to) {
        std::string s = p;
        s.replace(s.find(from), from.size(), to);
        return add_error("thresholds", s);
    };
    EXPECT_NE(with("value = 1e20", "valeu = 1e20").find("unknown key 'valeu'"), std::string::npos);
    EXPECT_NE(with("basis = b\n", "basis = c\n").find("basis 'c' is not defined"), std::string::npos);
    EXPECT_NE(with("finetuning", "fine_tuning").find("includes must list phase categories"),
              std::string::npos);
    EXPECT_NE(with("status = draft", "status = maybe").find("status must be"), std::string::npos);
    EXPECT_NE(with("value = 1e20", "value = -1").find("must be positive"), std::string::npos);
    EXPECT_NE(with("value = 1e20", "relative_to_original = 1/3").find("fallback"),
              std::string::npos);
    EXPECT_NE(with("comparison = greater", "comparison = less").find("comparison"),
              std::string::npos);
    EXPECT_NE(with("finetuning\nsource = S\n", "finetuning\n").find("lacks 'source'"),
              std::string::npos);
    EXPECT_NE(with("[threshold x]", "[threshold x]\ncondition = modality:smell")
                  .find("condition must be"),
              std::string::npos);
    EXPECT_NE(add_error("thresholds", "[profile]\nid = t\n[other]\n").find("unknown section"),
              std::string::npos);
}

TEST(RulesData, PeakTablesAreCheckedStrictly)
{
    std::string ok = "[gpu]\nid = g\ntitle = G\nmatch = G1|G2\nsource = S\nverified = no\n"
                     "[dense]\nbf16.tensor = 100\n";
    EXPECT_EQ(add_error("peaks", ok), "");
    EXPECT_NE(add_error("peaks", ok + "bf32.tensor = 1\n").find("not a precision class"),
              std::string::npos);
    EXPECT_NE(add_error("peaks", ok + "fp8.tensor = 0\n").find("must be positive"),
              std::string::npos);
}

TEST(Facts, ModelSpecFiles)
{
    rp_facts f;
    rp_facts_init(&f);
    std::string spec = "[model]\nparameters = 7e9\nlayers = 32\nmodality = text+image\n"
                       "[data]\ntokens = 2e12\n[plan]\ntokens = 4e12\n"
                       "[original]\nsystemic = yes\n[hardware]\ngpu = H100 80GB HBM3\n";
    char err[512];
    ASSERT_EQ(rp_facts_from_spec_text(&f, "m.ini", spec.data(), spec.size(), err, sizeof err), 0)
        << err;
    EXPECT_EQ(f.v[RP_F_PARAMETERS], 7e9);
    EXPECT_EQ(f.v[RP_F_LAYERS], 32);
    EXPECT_EQ(f.v[RP_F_TOKENS], 2e12);
    EXPECT_EQ(f.v[RP_F_PLAN_TOKENS], 4e12);
    EXPECT_EQ(f.modalities, (uint32_t)(RP_MODALITY_TEXT | RP_MODALITY_IMAGE));
    EXPECT_EQ(f.original_systemic, 1);
    EXPECT_STREQ(f.gpu_name, "H100 80GB HBM3");
    EXPECT_STREQ(f.source[RP_F_PARAMETERS], "model spec m.ini");
    EXPECT_EQ(rp_facts_check(&f, err, sizeof err), 0);
}

std::string spec_error(const std::string &spec)
{
    rp_facts f;
    rp_facts_init(&f);
    char err[512] = "";
    if (rp_facts_from_spec_text(&f, "m.ini", spec.data(), spec.size(), err, sizeof err) != 0)
        return err;
    if (rp_facts_check(&f, err, sizeof err) != 0)
        return err;
    return "";
}

// Impossible declarations are refused with the field named.
TEST(Facts, ImpossibleValuesNameTheirField)
{
    EXPECT_EQ(spec_error("[model]\nparameters = 0\n"),
              "m.ini:2: model.parameters: 0 must be greater than zero");
    EXPECT_EQ(spec_error("[data]\ntokens = -5\n"), "m.ini:2: data.tokens: -5 cannot be negative");
    EXPECT_EQ(spec_error("[model]\nlayers = 2.5\n"), "m.ini:2: model.layers: 2.5 must be a whole "
                                                     "number");
    EXPECT_EQ(spec_error("[hardware]\nutilization = 1.5\n"),
              "m.ini:2: hardware.utilization: 1.5 must be above 0 and at most 1");
    EXPECT_NE(spec_error("[model]\nparameters = 1e9\nparameters_active = 2e9\n")
                  .find("model.parameters_active: 2000000000 exceeds model.parameters"),
              std::string::npos);
    EXPECT_NE(spec_error("[data]\ntokens = 1e12\n[plan]\ntokens = 1e11\n")
                  .find("plan.tokens: the planned run"),
              std::string::npos);
    EXPECT_NE(spec_error("[model]\nsize = 1\n").find("unknown entry model.size"),
              std::string::npos);
    EXPECT_NE(spec_error("[model]\nmodality = smell\n").find("model.modality"),
              std::string::npos);
    EXPECT_NE(spec_error("[original]\nsystemic = maybe\n").find("original.systemic"),
              std::string::npos);
    EXPECT_NE(spec_error("[model abc]\nlayers = 2\n").find("have no names"), std::string::npos);
}

TEST(Facts, OptionsOverrideAndAreChecked)
{
    rp_facts f;
    rp_facts_init(&f);
    char err[256];
    EXPECT_EQ(rp_facts_set_option(&f, RP_F_TOKENS, "--tokens", "1e12", err, sizeof err), 0);
    EXPECT_STREQ(f.source[RP_F_TOKENS], "option --tokens");
    EXPECT_EQ(rp_facts_set_option(&f, RP_F_TOKENS, "--tokens", "-1", err, sizeof err), -1);
    EXPECT_STREQ(err, "--tokens: -1 cannot be negative");
    EXPECT_EQ(rp_facts_set_option(&f, RP_F_LAYERS, "--layers", "abc", err, sizeof err), -1);
    EXPECT_STREQ(err, "--layers: 'abc' is not a number");
    EXPECT_EQ(f.v[RP_F_TOKENS], 1e12);
}

} // namespace
