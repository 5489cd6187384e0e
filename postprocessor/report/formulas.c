/* formulas.c - the compute estimates of formulas.h: each formula's exact form, source and
 * basis, and its value from the declared facts (docs/formulas.md). */
#include "formulas.h"

#include <math.h>
#include <stddef.h>

/* Declaration keys (docs/trace-format.md, "Declaration keys") of the facts, and for the
 * hardware facts the report's fact keys that supply them (report_facts.c; in hours and
 * TFLOP/s there, in seconds and FLOP/s here). */
#define K_PARAMETERS "model.parameters"
#define K_PARAMETERS_ACTIVE "model.parameters_active"
#define K_LAYERS "model.layers"
#define K_HIDDEN "model.hidden_size"
#define K_HEADS "model.heads"
#define K_FFN "model.ffn_size"
#define K_SEQUENCE "model.sequence_length"
#define K_VOCABULARY "model.vocabulary"
#define K_TOKENS "data.tokens"
#define K_GPU_HOURS "hardware.gpu_hours"
#define K_PEAK "hardware.peak_tflops"
#define K_UTILIZATION "hardware.utilization"

#define SRC_KAPLAN                                                                              \
    "J. Kaplan, S. McCandlish, T. Henighan, T. B. Brown, B. Chess, R. Child, S. Gray, "         \
    "A. Radford, J. Wu, D. Amodei: Scaling Laws for Neural Language Models, arXiv:2001.08361 " \
    "(2020), section 2.1 and Table 1"
#define SRC_COMMISSION_A2                                                                       \
    "European Commission: Guidelines on the scope of the obligations for providers of "         \
    "general-purpose AI models under the AI Act (Regulation (EU) 2024/1689), C(2025) 5045, "   \
    "18 July 2025, Annex A.2"

/* Marks *missing with `name` when no earlier fact is missing and v is not a usable count:
 * unknown (NAN), infinite, zero or negative. Returns v. */
static double need(double v, const char *name, const char **missing)
{
    if (!*missing && !(isfinite(v) && v > 0))
        *missing = name;
    return v;
}

/* d_ff: the declared ffn_size, or 4 * d when it is unknown (NAN). A declared value that is
 * infinite, zero or negative is invalid and marks the estimate unavailable. Sets *declared. */
static double ffn(const fm_model_facts *f, double d, int *declared, const char **missing)
{
    *declared = !isnan(f->ffn_size);
    if (!*declared)
        return 4.0 * d;
    return need(f->ffn_size, K_FFN, missing);
}

/* Fills the descriptive fields of e. */
static void describe(fm_estimate *e, const char *id, const char *name, const char *form,
                     const char *source, fm_estimate_basis basis)
{
    e->id = id;
    e->name = name;
    e->form = form;
    e->source = source;
    e->basis = basis;
    e->available = 0;
    e->missing = NULL;
    e->flop = NAN;
}

/* Sets the outcome of e. When no fact is missing but the value is not a positive finite number
 * (the facts' product over- or underflows a double), the estimate is unavailable too, and
 * `first_needed` (the first fact the formula reads) is named: those facts are out of range. */
static void finish(fm_estimate *e, const char *missing, double flop, const char *first_needed)
{
    if (!missing && !(isfinite(flop) && flop > 0))
        missing = first_needed;
    if (missing) {
        e->available = 0;
        e->missing = missing;
        e->flop = NAN;
    } else {
        e->available = 1;
        e->missing = NULL;
        e->flop = flop;
    }
}

/* 6 N D. */
static void est_6nd(const fm_model_facts *f, fm_estimate *e)
{
    describe(e, "6nd", "6ND", "6 * N * D",
             SRC_KAPLAN "; " SRC_COMMISSION_A2 " (C = 6 * P * D for large dense transformers)",
             FM_BASIS_MODEL);
    const char *m = NULL;
    double n = need(f->parameters, K_PARAMETERS, &m);
    double d = need(f->tokens, K_TOKENS, &m);
    finish(e, m, 6.0 * n * d, K_PARAMETERS);
}

/* Kaplan et al., Table 1: C_forward = 2 N + 2 n_layer n_ctx d_attn per token, training 3 x
 * forward, N = 2 d_model n_layer (2 d_attn + d_ff) non-embedding, d_attn = d_model. With
 * d_ff = 4 d_model (unknown ffn_size) N = 12 n_layer d_model^2. */
static void est_kaplan(const fm_model_facts *f, fm_estimate *e)
{
    describe(e, "kaplan", "Kaplan et al. 2020",
             "(6 * N_nonemb + 6 * L * T * d) * D, N_nonemb = 12 * L * d^2", SRC_KAPLAN,
             FM_BASIS_MODEL);
    const char *m = NULL;
    double l = need(f->layers, K_LAYERS, &m);
    double d = need(f->hidden_size, K_HIDDEN, &m);
    int declared = 0;
    double dff = ffn(f, d, &declared, &m);
    double t = need(f->sequence_length, K_SEQUENCE, &m);
    double tokens = need(f->tokens, K_TOKENS, &m);
    double n_nonemb;
    if (declared) {
        e->form = "(6 * N_nonemb + 6 * L * T * d) * D, N_nonemb = 2 * L * d * (2 * d + d_ff)";
        n_nonemb = 2.0 * l * d * (2.0 * d + dff);
    } else {
        n_nonemb = 12.0 * l * d * d;
    }
    finish(e, m, (6.0 * n_nonemb + 6.0 * l * t * d) * tokens, K_LAYERS);
}

/* Hoffmann et al., Appendix F: forward FLOP of one sequence of s = T tokens, k * h = d;
 * training = 3 x forward; D / T sequences. */
static void est_chinchilla(const fm_model_facts *f, fm_estimate *e)
{
    describe(e, "chinchilla", "Chinchilla (Hoffmann et al. 2022)",
             "3 * [2*T*V*d + L*(2*3*T*d*d + 2*T^2*d + 3*h*T^2 + 2*T^2*d + 2*T*d*d + "
             "2*T*(2*d*d_ff)) + 2*T*d*V] * D / T, d_ff = 4 * d",
             "J. Hoffmann, S. Borgeaud, A. Mensch, E. Buchatskaya, T. Cai, E. Rutherford, "
             "D. de Las Casas, L. A. Hendricks, J. Welbl, A. Clark, et al.: Training "
             "Compute-Optimal Large Language Models, arXiv:2203.15556 (2022), Appendix F",
             FM_BASIS_MODEL);
    const char *m = NULL;
    double l = need(f->layers, K_LAYERS, &m);
    double d = need(f->hidden_size, K_HIDDEN, &m);
    double h = need(f->heads, K_HEADS, &m);
    int declared = 0;
    double dff = ffn(f, d, &declared, &m);
    double s = need(f->sequence_length, K_SEQUENCE, &m);
    double v = need(f->vocabulary, K_VOCABULARY, &m);
    double tokens = need(f->tokens, K_TOKENS, &m);
    if (declared)
        e->form = "3 * [2*T*V*d + L*(2*3*T*d*d + 2*T^2*d + 3*h*T^2 + 2*T^2*d + 2*T*d*d + "
                  "2*T*(2*d*d_ff)) + 2*T*d*V] * D / T";
    double kh = d; /* key size x heads */
    double embeddings = 2.0 * s * v * d;
    double layer = 2.0 * 3.0 * s * d * kh   /* Q, K, V projections */
                   + 2.0 * s * s * kh       /* QK^T logits */
                   + 3.0 * h * s * s        /* softmax */
                   + 2.0 * s * s * kh       /* softmax x V */
                   + 2.0 * s * kh * d       /* output projection */
                   + 2.0 * s * (2.0 * d * dff); /* MLP, two matrices */
    double logits = 2.0 * s * d * v;
    double forward = embeddings + l * layer + logits;
    finish(e, m, 3.0 * forward * (tokens / s), K_LAYERS);
}

/* Chowdhery et al., Appendix B: 6 N + 12 L H Q T per token, H * Q = d. */
static void est_palm(const fm_model_facts *f, fm_estimate *e)
{
    describe(e, "palm", "PaLM (Chowdhery et al. 2022)", "(6 * N + 12 * L * d * T) * D",
             "A. Chowdhery, S. Narang, J. Devlin, M. Bosma, G. Mishra, A. Roberts, P. Barham, "
             "H. W. Chung, C. Sutton, S. Gehrmann, et al.: PaLM: Scaling Language Modeling with "
             "Pathways, arXiv:2204.02311 (2022), Appendix B (model FLOPs utilization)",
             FM_BASIS_MODEL);
    const char *m = NULL;
    double n = need(f->parameters, K_PARAMETERS, &m);
    double l = need(f->layers, K_LAYERS, &m);
    double d = need(f->hidden_size, K_HIDDEN, &m);
    double t = need(f->sequence_length, K_SEQUENCE, &m);
    double tokens = need(f->tokens, K_TOKENS, &m);
    finish(e, m, (6.0 * n + 12.0 * l * d * t) * tokens, K_PARAMETERS);
}

/* The form both Megatron papers use: coef * D * L * d^2 * (1 + T/(6 d) + V/(vocab_div L d)),
 * with D tokens (B * s * iterations); the first fact missing goes to *m. */
static double megatron_form(const fm_model_facts *f, double coef, double vocab_div,
                            const char **m)
{
    double l = need(f->layers, K_LAYERS, m);
    double d = need(f->hidden_size, K_HIDDEN, m);
    double s = need(f->sequence_length, K_SEQUENCE, m);
    double v = need(f->vocabulary, K_VOCABULARY, m);
    double tokens = need(f->tokens, K_TOKENS, m);
    return coef * tokens * l * d * d * (1.0 + s / (6.0 * d) + v / (vocab_div * l * d));
}

/* Narayanan et al.: 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) per iteration, with activation
 * recomputation; B * s * iterations = D. */
static void est_narayanan(const fm_model_facts *f, fm_estimate *e)
{
    describe(e, "narayanan", "Megatron-LM (Narayanan et al. 2021)",
             "96 * D * L * d^2 * (1 + T/(6*d) + V/(16*L*d))",
             "D. Narayanan, M. Shoeybi, J. Casper, P. LeGresley, M. Patwary, V. Korthikanti, "
             "D. Vainbrand, P. Kashinkunti, J. Bernauer, B. Catanzaro, A. Phanishayee, "
             "M. Zaharia: Efficient Large-Scale Language Model Training on GPU Clusters Using "
             "Megatron-LM, SC '21, arXiv:2104.04473 (2021), equation (3), with activation "
             "recomputation",
             FM_BASIS_MODEL_RECOMPUTE);
    const char *m = NULL;
    double flop = megatron_form(f, 96.0, 16.0, &m); /* before m is read */
    finish(e, m, flop, K_LAYERS);
}

/* Korthikanti et al.: model FLOPs (no recomputation) 72 B s l h^2 (1 + s/(6h) + V/(12 h l)). */
static void est_korthikanti(const fm_model_facts *f, fm_estimate *e)
{
    describe(e, "korthikanti", "Megatron model FLOPs (Korthikanti et al. 2022)",
             "72 * D * L * d^2 * (1 + T/(6*d) + V/(12*d*L))",
             "V. Korthikanti, J. Casper, S. Lym, L. McAfee, M. Andersch, M. Shoeybi, "
             "B. Catanzaro: Reducing Activation Recomputation in Large Transformer Models, "
             "arXiv:2205.05198 (2022), MLSys 2023, model FLOPs (without recomputation)",
             FM_BASIS_MODEL);
    const char *m = NULL;
    double flop = megatron_form(f, 72.0, 12.0, &m); /* before m is read */
    finish(e, m, flop, K_LAYERS);
}

/* 6 N_active D. Without a declared active parameter count there is no estimate: experts,
 * top-k and the total count do not determine it without the parameters of one expert. */
static void est_moe_active(const fm_model_facts *f, fm_estimate *e)
{
    describe(e, "moe_active", "6 N_active D (mixture of experts)", "6 * N_active * D",
             "common practice for mixture-of-experts models (6ND with the parameters active per "
             "token); " SRC_KAPLAN,
             FM_BASIS_MODEL);
    const char *m = NULL;
    double n = need(f->parameters_active, K_PARAMETERS_ACTIVE, &m);
    double d = need(f->tokens, K_TOKENS, &m);
    finish(e, m, 6.0 * n * d, K_PARAMETERS_ACTIVE);
}

/* 8 N D: 6ND plus one more forward pass (2ND) for full activation recomputation. */
static void est_8nd(const fm_model_facts *f, fm_estimate *e)
{
    describe(e, "8nd", "8ND (full activation recomputation)", "8 * N * D",
             "6ND (" SRC_KAPLAN ") plus one recomputed forward pass of 2 * N * D; cf. "
             "Chowdhery et al., PaLM, arXiv:2204.02311 (2022), Appendix B (hardware FLOPs "
             "include rematerialization)",
             FM_BASIS_MODEL_RECOMPUTE);
    const char *m = NULL;
    double n = need(f->parameters, K_PARAMETERS, &m);
    double d = need(f->tokens, K_TOKENS, &m);
    finish(e, m, 8.0 * n * d, K_PARAMETERS);
}

/* C = N * L * H * U, with N * L given as GPU-seconds. */
static void est_hardware(const fm_hardware_facts *hw, fm_estimate *e)
{
    describe(e, "hardware", "Hardware-based (GPU time x peak x utilization)",
             "gpu_seconds * H * U (N * L * H * U: GPUs x seconds x peak FLOP/s x utilization)",
             SRC_COMMISSION_A2 " (hardware-based approach); J. Sevilla, L. Heim, "
                               "M. Hobbhahn, T. Besiroglu, A. Ho, P. Villalobos: Estimating "
                               "Training Compute of Deep Learning Models, Epoch AI (2022), "
                               "GPU-time method",
             FM_BASIS_EXECUTED);
    if (!hw) {
        finish(e, K_GPU_HOURS, NAN, K_GPU_HOURS);
        return;
    }
    const char *m = NULL;
    double t = need(hw->gpu_seconds, K_GPU_HOURS, &m);
    double peak = need(hw->peak_flops, K_PEAK, &m);
    double u = need(hw->utilization, K_UTILIZATION, &m);
    if (!m && u > 1.0)
        m = K_UTILIZATION;
    finish(e, m, t * peak * u, K_GPU_HOURS);
}

void fm_estimates_compute(const fm_model_facts *facts, const fm_hardware_facts *hw,
                          fm_estimate out[FM_EST_COUNT])
{
    fm_model_facts unknown = fm_model_facts_unknown();
    const fm_model_facts *f = facts ? facts : &unknown;
    est_6nd(f, &out[FM_EST_6ND]);
    est_kaplan(f, &out[FM_EST_KAPLAN]);
    est_chinchilla(f, &out[FM_EST_CHINCHILLA]);
    est_palm(f, &out[FM_EST_PALM]);
    est_narayanan(f, &out[FM_EST_NARAYANAN]);
    est_korthikanti(f, &out[FM_EST_KORTHIKANTI]);
    est_moe_active(f, &out[FM_EST_MOE_ACTIVE]);
    est_8nd(f, &out[FM_EST_8ND]);
    est_hardware(hw, &out[FM_EST_HARDWARE]);
}

fm_model_facts fm_model_facts_unknown(void)
{
    fm_model_facts f;
    f.parameters = NAN;
    f.parameters_active = NAN;
    f.layers = NAN;
    f.hidden_size = NAN;
    f.heads = NAN;
    f.ffn_size = NAN;
    f.sequence_length = NAN;
    f.vocabulary = NAN;
    f.experts = NAN;
    f.experts_active = NAN;
    f.tokens = NAN;
    return f;
}
