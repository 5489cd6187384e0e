// test_formulas.cpp - the formula estimates of postprocessor/report/formulas.h against values
// computed by hand (the arithmetic is in the comments), the Commission's worked examples, the
// relations between the formulas, and unknown or invalid facts.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "formulas.h"
}

namespace {

using Estimates = std::array<fm_estimate, FM_EST_COUNT>;

Estimates compute(const fm_model_facts &f, const fm_hardware_facts *hw = nullptr)
{
    Estimates e;
    fm_estimates_compute(&f, hw, e.data());
    return e;
}

// |actual - expected| within rel * |expected|.
::testing::AssertionResult Near(double actual, double expected, double rel = 1e-12)
{
    if (std::isfinite(actual) && std::fabs(actual - expected) <= rel * std::fabs(expected))
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "actual " << actual << ", expected " << expected
                                         << " (relative tolerance " << rel << ")";
}

// The value of an estimate that must be available.
double flop(const Estimates &e, int i)
{
    EXPECT_TRUE(e[i].available) << e[i].id << " missing " << (e[i].missing ? e[i].missing : "-");
    EXPECT_EQ(e[i].missing, nullptr) << e[i].id;
    return e[i].flop;
}

void expect_missing(const Estimates &e, int i, const char *key)
{
    EXPECT_FALSE(e[i].available) << e[i].id;
    ASSERT_NE(e[i].missing, nullptr) << e[i].id;
    EXPECT_STREQ(e[i].missing, key) << e[i].id;
    EXPECT_TRUE(std::isnan(e[i].flop)) << e[i].id << " = " << e[i].flop << " while unavailable";
}

// GPT-3 175B (Brown et al. 2020, Table 2.1): 96 layers, d_model 12288, 96 heads of 128,
// context 2048, GPT-2 vocabulary of 50257, 300 billion training tokens.
fm_model_facts gpt3()
{
    fm_model_facts f = fm_model_facts_unknown();
    f.parameters = 175e9;
    f.layers = 96;
    f.hidden_size = 12288;
    f.heads = 96;
    f.sequence_length = 2048;
    f.vocabulary = 50257;
    f.tokens = 300e9;
    return f;
}

// A small 1.3B model: 24 layers, d_model 2048, 16 heads of 128, context 2048, vocabulary
// 50257, trained on 26 billion tokens (20 per parameter).
fm_model_facts small13b()
{
    fm_model_facts f = fm_model_facts_unknown();
    f.parameters = 1.3e9;
    f.layers = 24;
    f.hidden_size = 2048;
    f.heads = 16;
    f.sequence_length = 2048;
    f.vocabulary = 50257;
    f.tokens = 26e9;
    return f;
}

// A model with d_ff != 4 d (the shape of LLaMA-7B: 32 layers, d 4096, 32 heads, d_ff 11008,
// context 4096, vocabulary 32000), 1e12 tokens. LLaMA's MLP has three matrices (SwiGLU); the
// formulas count two, so this only exercises the d_ff path, not LLaMA's true cost.
fm_model_facts ffn_model()
{
    fm_model_facts f = fm_model_facts_unknown();
    f.parameters = 6738415616;
    f.layers = 32;
    f.hidden_size = 4096;
    f.heads = 32;
    f.ffn_size = 11008;
    f.sequence_length = 4096;
    f.vocabulary = 32000;
    f.tokens = 1e12;
    return f;
}

TEST(Formulas, EveryEstimateIsDescribedWithItsBasis)
{
    Estimates e = compute(gpt3());
    const char *ids[FM_EST_COUNT] = {"6nd", "kaplan", "chinchilla", "palm", "narayanan",
                                     "korthikanti", "moe_active", "8nd", "hardware"};
    const fm_estimate_basis basis[FM_EST_COUNT] = {
        FM_BASIS_MODEL, FM_BASIS_MODEL, FM_BASIS_MODEL,           FM_BASIS_MODEL,
        FM_BASIS_MODEL_RECOMPUTE,     FM_BASIS_MODEL,           FM_BASIS_MODEL,
        FM_BASIS_MODEL_RECOMPUTE,     FM_BASIS_EXECUTED};
    std::set<std::string> seen;
    for (int i = 0; i < FM_EST_COUNT; i++) {
        ASSERT_NE(e[i].id, nullptr);
        ASSERT_NE(e[i].name, nullptr);
        ASSERT_NE(e[i].form, nullptr);
        ASSERT_NE(e[i].source, nullptr);
        EXPECT_STREQ(e[i].id, ids[i]);
        EXPECT_EQ(e[i].basis, basis[i]) << e[i].id;
        EXPECT_GT(std::strlen(e[i].name), 0u);
        EXPECT_GT(std::strlen(e[i].form), 0u);
        EXPECT_GT(std::strlen(e[i].source), 20u) << e[i].id << ": a full citation";
        EXPECT_TRUE(seen.insert(e[i].id).second) << "duplicate id " << e[i].id;
    }
    EXPECT_NE(std::string(e[FM_EST_KAPLAN].form).find("12 * L * d^2"), std::string::npos);
    EXPECT_NE(std::string(e[FM_EST_CHINCHILLA].form).find("d_ff = 4 * d"), std::string::npos);
    // With a declared d_ff the forms say what they used instead.
    Estimates g = compute(ffn_model());
    EXPECT_NE(std::string(g[FM_EST_KAPLAN].form).find("2 * L * d * (2 * d + d_ff)"),
              std::string::npos);
    EXPECT_EQ(std::string(g[FM_EST_CHINCHILLA].form).find("d_ff = 4 * d"), std::string::npos);
}

// GPT-3 175B. Shared pieces:
//   d^2     = 12288^2          = 150,994,944
//   L*d^2   = 96 * 150,994,944 = 14,495,514,624
//   L*d*T   = 96 * 12288 * 2048 = 2,415,919,104
//   d*V     = 12288 * 50257    = 617,558,016
TEST(Formulas, Gpt3By175B)
{
    Estimates e = compute(gpt3());
    // 6ND = 6 * 175e9 * 300e9 = 3.15e23
    EXPECT_TRUE(Near(flop(e, FM_EST_6ND), 3.15e23));
    // 8ND = 8 * 175e9 * 300e9 = 4.2e23
    EXPECT_TRUE(Near(flop(e, FM_EST_8ND), 4.2e23));
    // Kaplan: N_nonemb = 12 * L*d^2 = 173,946,175,488; 6 * N_nonemb = 1,043,677,052,928;
    // attention 6*L*T*d = 6 * 2,415,919,104 = 14,495,514,624; per token 1,058,172,567,552;
    // * 300e9 = 3.174517702656e23
    EXPECT_TRUE(Near(flop(e, FM_EST_KAPLAN), 3.174517702656e23));
    // Chinchilla, d_ff = 4d. Per sequence forward: 2sVd + L(6sd^2 + 2s^2d + 3hs^2 + 2s^2d +
    // 2sd^2 + 16sd^2) + 2sdV = 4sVd + L(24sd^2 + 4s^2d + 3hs^2). Training per token = 3/s of it
    // = 12Vd + L(72d^2 + 12sd + 9hs):
    //   12*V*d   = 12 * 617,558,016        = 7,410,696,192
    //   72*L*d^2 = 72 * 14,495,514,624     = 1,043,677,052,928
    //   12*L*s*d = 12 * 2,415,919,104      = 28,991,029,248
    //   9*L*h*s  = 9 * 96 * 96 * 2048      = 169,869,312
    //   sum = 1,080,248,647,680 per token; * 300e9 = 3.24074594304e23
    EXPECT_TRUE(Near(flop(e, FM_EST_CHINCHILLA), 3.24074594304e23));
    // PaLM: 6N = 1.05e12; 12*L*d*T = 28,991,029,248; per token 1,078,991,029,248;
    // * 300e9 = 3.236973087744e23
    EXPECT_TRUE(Near(flop(e, FM_EST_PALM), 3.236973087744e23));
    // Narayanan: 96*L*d^2 * (1 + T/(6d) + V/(16Ld)) = 96Ld^2 + 16LdT + 6dV per token
    //   = 1,391,569,403,904 + 38,654,705,664 + 3,705,348,096 = 1,433,929,457,664;
    //   * 300e9 = 4.301788372992e23
    EXPECT_TRUE(Near(flop(e, FM_EST_NARAYANAN), 4.301788372992e23));
    // Korthikanti: 72Ld^2 + 12LdT + 6dV per token
    //   = 1,043,677,052,928 + 28,991,029,248 + 3,705,348,096 = 1,076,373,430,272;
    //   * 300e9 = 3.229120290816e23
    EXPECT_TRUE(Near(flop(e, FM_EST_KORTHIKANTI), 3.229120290816e23));
    // No active parameter count declared, no hardware facts.
    expect_missing(e, FM_EST_MOE_ACTIVE, "model.parameters_active");
    expect_missing(e, FM_EST_HARDWARE, "hardware.gpu_hours");
}

// The GPT-3 paper (Brown et al. 2020, Table D.1) gives 3.14e23 FLOP for 174,600M parameters
// and 300B tokens: 6 * 174.6e9 * 300e9 = 3.1428e23, i.e. 3.14e23 to the 3 figures it prints.
TEST(Formulas, Gpt3PaperTotal)
{
    fm_model_facts f = gpt3();
    f.parameters = 174.6e9;
    double c = flop(compute(f), FM_EST_6ND);
    EXPECT_TRUE(Near(c, 3.1428e23));
    EXPECT_EQ(std::round(c / 1e21), 314.0);
}

// The 1.3B model. L*d^2 = 24 * 2048^2 = 100,663,296; L*d*T = 24 * 2048 * 2048 = 100,663,296;
// d*V = 2048 * 50257 = 102,926,336.
TEST(Formulas, Small13B)
{
    Estimates e = compute(small13b());
    // 6 * 1.3e9 * 26e9 = 2.028e20; 8 * 1.3e9 * 26e9 = 2.704e20
    EXPECT_TRUE(Near(flop(e, FM_EST_6ND), 2.028e20));
    EXPECT_TRUE(Near(flop(e, FM_EST_8ND), 2.704e20));
    // Kaplan: 6 * 12 * 100,663,296 = 7,247,757,312; + 6 * 100,663,296 = 603,979,776;
    // = 7,851,737,088 per token; * 26e9 = 2.04145164288e20
    EXPECT_TRUE(Near(flop(e, FM_EST_KAPLAN), 2.04145164288e20));
    // Chinchilla per token: 12Vd = 1,235,116,032; 72Ld^2 = 7,247,757,312;
    // 12Lsd = 1,207,959,552; 9Lhs = 9 * 24 * 16 * 2048 = 7,077,888;
    // sum 9,697,910,784; * 26e9 = 2.52145680384e20
    EXPECT_TRUE(Near(flop(e, FM_EST_CHINCHILLA), 2.52145680384e20));
    // PaLM: 6N = 7.8e9; + 12LdT = 1,207,959,552; = 9,007,959,552; * 26e9 = 2.34206948352e20
    EXPECT_TRUE(Near(flop(e, FM_EST_PALM), 2.34206948352e20));
    // Narayanan: 96Ld^2 = 9,663,676,416; 16LdT = 1,610,612,736; 6dV = 617,558,016;
    // sum 11,891,847,168; * 26e9 = 3.09188026368e20
    EXPECT_TRUE(Near(flop(e, FM_EST_NARAYANAN), 3.09188026368e20));
    // Korthikanti: 7,247,757,312 + 1,207,959,552 + 617,558,016 = 9,073,274,880;
    // * 26e9 = 2.3590514688e20
    EXPECT_TRUE(Near(flop(e, FM_EST_KORTHIKANTI), 2.3590514688e20));
}

// A declared d_ff replaces 4d in Kaplan's N_nonemb and in Chinchilla's MLP term; a declared
// d_ff of exactly 4d gives the same values as an unknown one.
TEST(Formulas, DeclaredFfnSize)
{
    Estimates e = compute(ffn_model());
    // Kaplan: N_nonemb = 2*L*d*(2d + d_ff) = 2*32*4096 * (8192 + 11008) = 262,144 * 19,200
    //   = 5,033,164,800; 6 * N_nonemb = 30,198,988,800; 6LTd = 6*32*4096*4096
    //   = 3,221,225,472; per token 33,420,214,272; * 1e12 = 3.3420214272e22
    EXPECT_TRUE(Near(flop(e, FM_EST_KAPLAN), 3.3420214272e22));
    // Chinchilla per token: 12Vd + L(24d^2 + 12sd + 9hs + 12 d d_ff):
    //   12*32000*4096       = 1,572,864,000
    //   24*32*4096^2        = 12,884,901,888
    //   12*32*4096*4096     = 6,442,450,944
    //   9*32*32*4096        = 37,748,736
    //   12*32*4096*11008    = 17,314,086,912
    //   sum 38,252,052,480; * 1e12 = 3.825205248e22
    EXPECT_TRUE(Near(flop(e, FM_EST_CHINCHILLA), 3.825205248e22));

    fm_model_facts f = small13b();
    Estimates unknown = compute(f);
    f.ffn_size = 4 * f.hidden_size;
    Estimates declared = compute(f);
    for (int i = 0; i < FM_EST_COUNT; i++) {
        EXPECT_EQ(unknown[i].available, declared[i].available) << unknown[i].id;
        if (unknown[i].available) {
            EXPECT_TRUE(Near(declared[i].flop, unknown[i].flop)) << unknown[i].id;
        }
    }
}

// Commission guidelines C(2025) 5045, Annex A.3, to the precision each example states.
TEST(Formulas, CommissionModelA)
{
    // 6 * 3.8e9 * 3.3e12 = 7.524e22 "≈ 7.5e22" (two significant figures)
    fm_model_facts f = fm_model_facts_unknown();
    f.parameters = 3.8e9;
    f.tokens = 3.3e12;
    double c = flop(compute(f), FM_EST_6ND);
    EXPECT_TRUE(Near(c, 7.524e22));
    EXPECT_EQ(std::round(c / 1e21), 75.0);
}

TEST(Formulas, CommissionModelB)
{
    // 200,000 A100-hours = 7.2e8 GPU-seconds; * 300e12 FLOP/s * 0.5 = 1.08e23 "≈ 1e23"
    // (one significant figure)
    fm_hardware_facts hw = {200000.0 * 3600.0, 300e12, 0.5};
    double c = flop(compute(fm_model_facts_unknown(), &hw), FM_EST_HARDWARE);
    EXPECT_TRUE(Near(c, 1.08e23));
    EXPECT_EQ(std::round(c / 1e23), 1.0);
}

TEST(Formulas, CommissionModelH)
{
    // 370,000 H100-hours = 1.332e9 GPU-seconds; * 989e12 FLOP/s * 0.5 = 6.58674e23.
    // The guidelines print "≈ 6.5e23": the value cut (not rounded) to two figures, so the
    // check is that the stated figure is within one unit of its last digit.
    fm_hardware_facts hw = {370000.0 * 3600.0, 989e12, 0.5};
    double c = flop(compute(fm_model_facts_unknown(), &hw), FM_EST_HARDWARE);
    EXPECT_TRUE(Near(c, 6.58674e23));
    EXPECT_EQ(std::floor(c / 1e22), 65.0);
    EXPECT_LT(std::fabs(c - 6.5e23), 0.1e23);
}

TEST(Formulas, RecomputationAddsOneForwardPass)
{
    for (const fm_model_facts &f : {gpt3(), small13b(), ffn_model()}) {
        Estimates e = compute(f);
        EXPECT_TRUE(Near(flop(e, FM_EST_8ND) / flop(e, FM_EST_6ND), 4.0 / 3.0));
    }
}

// PaLM adds exactly the attention term 12*L*d*T per token to 6N.
TEST(Formulas, PalmIsSixNdPlusAttention)
{
    for (const fm_model_facts &f : {gpt3(), small13b(), ffn_model()}) {
        Estimates e = compute(f);
        double attention = 12.0 * f.layers * f.hidden_size * f.sequence_length * f.tokens;
        EXPECT_TRUE(Near(flop(e, FM_EST_PALM) - flop(e, FM_EST_6ND), attention, 1e-12));
    }
    // GPT-3: 12 * 2,415,919,104 * 300e9 = 8.6973087744e21
    Estimates e = compute(gpt3());
    EXPECT_TRUE(Near(e[FM_EST_PALM].flop - e[FM_EST_6ND].flop, 8.6973087744e21, 1e-12));
}

// Narayanan (with recomputation) and Korthikanti (without) count the same logits term, 6dV
// per token, which is not recomputed: at V -> 0 their ratio is 96/72 = 4/3, and for any V
// their difference is 24*L*d^2*(1 + T/(6d)) per token.
TEST(Formulas, NarayananOverKorthikanti)
{
    for (fm_model_facts f : {gpt3(), small13b(), ffn_model()}) {
        Estimates e = compute(f);
        double l = f.layers, d = f.hidden_size, t = f.sequence_length;
        double diff = 24.0 * l * d * d * (1.0 + t / (6.0 * d)) * f.tokens;
        EXPECT_TRUE(Near(flop(e, FM_EST_NARAYANAN) - flop(e, FM_EST_KORTHIKANTI), diff, 1e-12));
        f.vocabulary = 1e-300;
        e = compute(f);
        EXPECT_TRUE(Near(flop(e, FM_EST_NARAYANAN) / flop(e, FM_EST_KORTHIKANTI), 96.0 / 72.0,
                         1e-15));
    }
}

// Korthikanti's model FLOPs are PaLM's with N = 12*L*d^2 plus the logits 6*d*V per token;
// Chinchilla adds to Korthikanti the embedding matmul 6*V*d and the softmax 9*L*h*T per token.
TEST(Formulas, KorthikantiPalmChinchillaAgree)
{
    for (fm_model_facts f : {gpt3(), small13b()}) {
        double l = f.layers, d = f.hidden_size, t = f.sequence_length, v = f.vocabulary;
        double h = f.heads, tokens = f.tokens;
        double korthikanti = flop(compute(f), FM_EST_KORTHIKANTI);
        double chinchilla = flop(compute(f), FM_EST_CHINCHILLA);
        EXPECT_TRUE(Near(chinchilla - korthikanti, (6.0 * v * d + 9.0 * l * h * t) * tokens, 1e-9));
        f.parameters = 12.0 * l * d * d;
        EXPECT_TRUE(Near(korthikanti - flop(compute(f), FM_EST_PALM), 6.0 * d * v * tokens, 1e-9));
    }
}

TEST(Formulas, MixtureOfExperts)
{
    // Mixtral-8x7B-like: 46.7e9 parameters, 12.9e9 active per token, 8 experts, top-2, 1e12
    // tokens: 6 * 12.9e9 * 1e12 = 7.74e22
    fm_model_facts f = fm_model_facts_unknown();
    f.parameters = 46.7e9;
    f.experts = 8;
    f.experts_active = 2;
    f.tokens = 1e12;
    Estimates e = compute(f);
    // Experts, top-k and the total do not give the active count without one expert's size.
    expect_missing(e, FM_EST_MOE_ACTIVE, "model.parameters_active");
    EXPECT_TRUE(Near(flop(e, FM_EST_6ND), 2.802e23)); // 6 * 46.7e9 * 1e12, all experts
    f.parameters_active = 12.9e9;
    EXPECT_TRUE(Near(flop(compute(f), FM_EST_MOE_ACTIVE), 7.74e22));
}

TEST(Formulas, AllUnknownNamesTheFirstFactOfEach)
{
    Estimates e = compute(fm_model_facts_unknown());
    expect_missing(e, FM_EST_6ND, "model.parameters");
    expect_missing(e, FM_EST_KAPLAN, "model.layers");
    expect_missing(e, FM_EST_CHINCHILLA, "model.layers");
    expect_missing(e, FM_EST_PALM, "model.parameters");
    expect_missing(e, FM_EST_NARAYANAN, "model.layers");
    expect_missing(e, FM_EST_KORTHIKANTI, "model.layers");
    expect_missing(e, FM_EST_MOE_ACTIVE, "model.parameters_active");
    expect_missing(e, FM_EST_8ND, "model.parameters");
    expect_missing(e, FM_EST_HARDWARE, "hardware.gpu_hours");

    // Only the tokens known: the same names, since every model fact comes before data.tokens.
    fm_model_facts f = fm_model_facts_unknown();
    f.tokens = 1e12;
    e = compute(f);
    expect_missing(e, FM_EST_6ND, "model.parameters");
    expect_missing(e, FM_EST_KAPLAN, "model.layers");
    // Everything but the tokens: each token-based estimate names data.tokens.
    f = gpt3();
    f.parameters_active = 1e9;
    f.tokens = NAN;
    e = compute(f);
    for (int i = 0; i < FM_EST_COUNT; i++)
        if (i != FM_EST_HARDWARE)
            expect_missing(e, i, "data.tokens");
}

// Which facts each estimate reads, in the order it names them when missing.
struct Fact {
    const char *key;
    double fm_model_facts::*field;
};
const Fact kFacts[] = {
    {"model.parameters", &fm_model_facts::parameters},
    {"model.parameters_active", &fm_model_facts::parameters_active},
    {"model.layers", &fm_model_facts::layers},
    {"model.hidden_size", &fm_model_facts::hidden_size},
    {"model.heads", &fm_model_facts::heads},
    {"model.ffn_size", &fm_model_facts::ffn_size},
    {"model.sequence_length", &fm_model_facts::sequence_length},
    {"model.vocabulary", &fm_model_facts::vocabulary},
    {"model.experts", &fm_model_facts::experts},
    {"model.experts_active", &fm_model_facts::experts_active},
    {"data.tokens", &fm_model_facts::tokens},
};

bool uses(int est, const std::string &key)
{
    static const std::set<std::string> needs[FM_EST_COUNT] = {
        {"model.parameters", "data.tokens"},
        {"model.layers", "model.hidden_size", "model.sequence_length", "data.tokens"},
        {"model.layers", "model.hidden_size", "model.heads", "model.sequence_length",
         "model.vocabulary", "data.tokens"},
        {"model.parameters", "model.layers", "model.hidden_size", "model.sequence_length",
         "data.tokens"},
        {"model.layers", "model.hidden_size", "model.sequence_length", "model.vocabulary",
         "data.tokens"},
        {"model.layers", "model.hidden_size", "model.sequence_length", "model.vocabulary",
         "data.tokens"},
        {"model.parameters_active", "data.tokens"},
        {"model.parameters", "data.tokens"},
        {},
    };
    return needs[est].count(key) > 0;
}

// Each fact made unknown, zero, negative or infinite in turn: exactly the estimates that read it
// become unavailable naming it; the others keep their values.
TEST(Formulas, EachUnknownOrInvalidFactIsNamed)
{
    fm_model_facts full = gpt3();
    full.parameters_active = 175e9;
    full.ffn_size = 4 * full.hidden_size;
    full.experts = 1;
    full.experts_active = 1;
    Estimates base = compute(full);
    for (int i = 0; i < FM_EST_HARDWARE; i++)
        ASSERT_TRUE(base[i].available) << base[i].id;

    for (const Fact &fact : kFacts) {
        for (double bad : {(double)NAN, 0.0, -1.0, -1e30, (double)INFINITY, -(double)INFINITY}) {
            SCOPED_TRACE(std::string(fact.key) + " = " + std::to_string(bad));
            fm_model_facts f = full;
            f.*fact.field = bad;
            Estimates e = compute(f);
            bool ffn_unknown = std::string(fact.key) == "model.ffn_size" && std::isnan(bad);
            for (int i = 0; i < FM_EST_HARDWARE; i++) {
                bool reads = uses(i, fact.key) ||
                             (std::string(fact.key) == "model.ffn_size" &&
                              (i == FM_EST_KAPLAN || i == FM_EST_CHINCHILLA));
                if (reads && !ffn_unknown) {
                    expect_missing(e, i, fact.key);
                } else {
                    EXPECT_TRUE(Near(flop(e, i), base[i].flop)) << e[i].id;
                }
            }
        }
    }
}

TEST(Formulas, HardwareFacts)
{
    fm_model_facts f = fm_model_facts_unknown();
    Estimates e;
    fm_estimates_compute(&f, nullptr, e.data());
    expect_missing(e, FM_EST_HARDWARE, "hardware.gpu_hours");

    const fm_hardware_facts ok = {3600.0, 989.4e12, 0.4};
    // 3600 s * 989.4e12 FLOP/s * 0.4 = 1.424736e18
    EXPECT_TRUE(Near(flop(compute(f, &ok), FM_EST_HARDWARE), 1.424736e18));
    for (double bad : {(double)NAN, 0.0, -2.0, (double)INFINITY}) {
        fm_hardware_facts hw = ok;
        hw.gpu_seconds = bad;
        expect_missing(compute(f, &hw), FM_EST_HARDWARE, "hardware.gpu_hours");
        hw = ok;
        hw.peak_flops = bad;
        expect_missing(compute(f, &hw), FM_EST_HARDWARE, "hardware.peak_tflops");
        hw = ok;
        hw.utilization = bad;
        expect_missing(compute(f, &hw), FM_EST_HARDWARE, "hardware.utilization");
    }
    // Utilization is a fraction: 1 is the most it can be.
    fm_hardware_facts hw = ok;
    hw.utilization = 1.0;
    EXPECT_TRUE(Near(flop(compute(f, &hw), FM_EST_HARDWARE), 3600.0 * 989.4e12));
    hw.utilization = 1.0001;
    expect_missing(compute(f, &hw), FM_EST_HARDWARE, "hardware.utilization");
    hw.utilization = 50; // a percentage by mistake
    expect_missing(compute(f, &hw), FM_EST_HARDWARE, "hardware.utilization");
    // The first missing one is named.
    hw = {NAN, NAN, NAN};
    expect_missing(compute(f, &hw), FM_EST_HARDWARE, "hardware.gpu_hours");
    hw = {1.0, NAN, 2.0};
    expect_missing(compute(f, &hw), FM_EST_HARDWARE, "hardware.peak_tflops");
    // Model facts do not matter to it, nor hardware facts to the others.
    Estimates g = compute(gpt3(), &ok);
    EXPECT_TRUE(Near(flop(g, FM_EST_HARDWARE), 1.424736e18));
    EXPECT_TRUE(Near(flop(g, FM_EST_6ND), 3.15e23));
}

// Facts whose product is out of double's range give no estimate rather than inf or 0.
TEST(Formulas, OutOfRangeIsUnavailableNeverInfiniteOrZero)
{
    fm_model_facts f = gpt3();
    f.parameters = 1e300;
    f.tokens = 1e300;
    Estimates e = compute(f);
    expect_missing(e, FM_EST_6ND, "model.parameters");
    expect_missing(e, FM_EST_KAPLAN, "model.layers");

    fm_hardware_facts hw = {1e-200, 1e-200, 0.5};
    expect_missing(compute(f, &hw), FM_EST_HARDWARE, "hardware.gpu_hours");
}

// Over many facts, small and large, an available estimate is always finite and positive and
// an unavailable one always names a fact.
TEST(Formulas, NeverZeroOrNegative)
{
    uint64_t state = 0x9e3779b97f4a7c15ull;
    auto next = [&state]() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return (double)(state >> 11) / 9007199254740992.0; // [0, 1)
    };
    auto pick = [&](double lo_exp, double hi_exp) {
        double r = next();
        if (r < 0.1)
            return (double)NAN;
        return std::pow(10.0, lo_exp + (hi_exp - lo_exp) * next());
    };
    int available = 0;
    for (int n = 0; n < 20000; n++) {
        fm_model_facts f;
        f.parameters = pick(0, 13);
        f.parameters_active = pick(0, 12);
        f.layers = pick(0, 3);
        f.hidden_size = pick(0, 5);
        f.heads = pick(0, 3);
        f.ffn_size = pick(0, 6);
        f.sequence_length = pick(0, 6);
        f.vocabulary = pick(0, 6);
        f.experts = pick(0, 3);
        f.experts_active = pick(0, 2);
        f.tokens = pick(0, 14);
        fm_hardware_facts hw = {pick(0, 10), pick(9, 16), next() < 0.1 ? NAN : next() + 1e-9};
        Estimates e = compute(f, &hw);
        for (int i = 0; i < FM_EST_COUNT; i++) {
            if (e[i].available) {
                available++;
                ASSERT_TRUE(std::isfinite(e[i].flop)) << e[i].id;
                ASSERT_GT(e[i].flop, 0.0) << e[i].id;
                ASSERT_EQ(e[i].missing, nullptr) << e[i].id;
            } else {
                ASSERT_NE(e[i].missing, nullptr) << e[i].id;
                ASSERT_TRUE(std::isnan(e[i].flop)) << e[i].id;
            }
        }
    }
    EXPECT_GT(available, 20000); // the sweep reached the formulas, not only the checks
}

// Pure: the same facts give the same estimates, and the facts are left as they were.
TEST(Formulas, PureAndNullSafe)
{
    fm_model_facts f = ffn_model();
    fm_model_facts copy = f;
    fm_hardware_facts hw = {1e6, 1e15, 0.3};
    fm_hardware_facts hw_copy = hw;
    Estimates a = compute(f, &hw);
    Estimates b = compute(f, &hw);
    EXPECT_EQ(std::memcmp(&f, &copy, sizeof f), 0);
    EXPECT_EQ(std::memcmp(&hw, &hw_copy, sizeof hw), 0);
    for (int i = 0; i < FM_EST_COUNT; i++) {
        EXPECT_EQ(a[i].available, b[i].available);
        if (a[i].available) {
            EXPECT_EQ(a[i].flop, b[i].flop);
        }
    }
    fm_model_facts u = fm_model_facts_unknown();
    for (const Fact &fact : kFacts)
        EXPECT_TRUE(std::isnan(u.*fact.field)) << fact.key;
    // No facts at all is the same as all unknown.
    Estimates n;
    fm_estimates_compute(nullptr, nullptr, n.data());
    for (int i = 0; i < FM_EST_COUNT; i++)
        EXPECT_FALSE(n[i].available) << n[i].id;
    expect_missing(n, FM_EST_6ND, "model.parameters");
}

} // namespace
