/* flopmeter.h - the C API a program uses to tell flopmeter what it is doing.
 *
 * These functions live in libflopmeter.so. A program run under the hook (`flopmeter run`,
 * LD_PRELOAD or CUDA_INJECTION64_PATH) can call them directly or find them with
 * dlsym(RTLD_DEFAULT, ...) (the Python package does so through ctypes). Every function is
 * cheap, thread-safe, never blocks on I/O, never fails the program: when the hook is off or
 * not measuring, calls do nothing and return 0.
 *
 * Phases follow what the compute rules distinguish. A name from this list sets the phase's
 * category; any other name makes a custom phase (docs/hook.md):
 *   pretraining, finetuning (sft), reinforcement_learning (rl, rlhf), synthetic_data,
 *   evaluation (eval), recomputation (activation recomputation), auxiliary_model (reward_model)
 * Phases are per thread and nest. */
#ifndef FLOPMETER_FLOPMETER_H
#define FLOPMETER_FLOPMETER_H

#ifdef __cplusplus
extern "C" {
#endif

/* Starts a phase on the calling thread; the next pop ends it. */
int flopmeter_phase_push(const char *name);
/* The same with an explicit category (enum fm_phase_category in trace_format.h). */
int flopmeter_phase_push_category(const char *name, int category);
/* Ends the calling thread's innermost phase. */
int flopmeter_phase_pop(void);

/* States a fact (docs/trace-format.md, "Declaration keys"), e.g. ("model.parameters", 7e9).
 * text may be NULL. Declared in the calling thread's current phase. */
int flopmeter_declare(const char *key, double value, const char *text);

/* One optimizer step that processed `tokens` tokens on this rank (data.tokens and
 * data.steps). */
int flopmeter_step(double tokens);

/* 1 while the hook is measuring this process, else 0. */
int flopmeter_active(void);

/* The path of this process's trace, or "" before it is created. */
const char *flopmeter_trace_path(void);

#ifdef __cplusplus
}
#endif
#endif
