/* nvtx_phases.c - phases from NVTX ranges. libflopmeter.so is an NVTX injection library
 * (InitializeInjectionNvtx2, loaded through NVTX_INJECTION64_PATH, which the preload
 * constructor and `flopmeter run` set when no other NVTX tool is named there).
 *
 * Two ways mark a range as a flopmeter phase (docs/hook.md, "Phases"):
 *  - any range in the NVTX domain named "flopmeter": its message is the phase name, and an
 *    event category 1..8 selects the phase category (enum fm_phase_category) explicitly;
 *  - a range in the default domain whose message starts with "flopmeter:", so that
 *    torch.cuda.nvtx.range_push("flopmeter:evaluation") works without a domain.
 * Every other range (PyTorch's emit_nvtx, a library's own markers) is ignored, at the cost of
 * one prefix comparison. Default-domain pops are matched to their pushes with a per-thread bit
 * stack, since only some of that domain's ranges are ours. */
#define _GNU_SOURCE
#include <nvtx3/nvToolsExt.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "hook_core.h"
#include "flopmeter/trace_format.h"

#define PREFIX "flopmeter:"
#define PREFIX_LEN (sizeof PREFIX - 1)
#define DOMAIN_NAME "flopmeter"
#define TRACKED_DEPTH 256
#define NAME_BUF 256

/* Domain handles we give out: ours is recognised by its address. Other domains get a shared
 * handle: their ranges are never phases. */
static char flopmeter_domain, other_domain;

/* Registered strings: the handle points at our own copy. Program rate (registration happens
 * once per string), so malloc is fine; the copies live as long as the process. */
typedef struct registered {
    char text[1];
} registered;

static _Thread_local uint64_t ours[TRACKED_DEPTH / 64]; /* default-domain pushes that were ours */
static _Thread_local uint32_t default_depth;

static void wide_to_ascii(const wchar_t *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in && in[i] && i + 1 < len; i++)
        out[i] = in[i] > 0 && in[i] < 128 ? (char)in[i] : '?';
    out[i] = '\0';
}

/* The message of an event as text (ASCII copies of wide strings), or NULL. */
static const char *message_of(const nvtxEventAttributes_t *a, char *buf, size_t len)
{
    if (!a)
        return NULL;
    switch (a->messageType) {
    case NVTX_MESSAGE_TYPE_ASCII: return a->message.ascii;
    case NVTX_MESSAGE_TYPE_UNICODE:
        wide_to_ascii(a->message.unicode, buf, len);
        return buf;
    case NVTX_MESSAGE_TYPE_REGISTERED:
        return a->message.registered ? ((const registered *)a->message.registered)->text : NULL;
    default: return NULL;
    }
}

static int category_of(const nvtxEventAttributes_t *a)
{
    if (a && a->category >= 1 && a->category <= FM_PHASE_CATEGORY_MAX)
        return (int)a->category;
    return -1; /* from the name */
}

/* ---- the default domain -------------------------------------------------------------------- */

static void default_push(const char *message)
{
    int mine = message && strncmp(message, PREFIX, PREFIX_LEN) == 0 && message[PREFIX_LEN];
    if (default_depth < TRACKED_DEPTH) {
        uint64_t bit = 1ull << (default_depth % 64);
        if (mine)
            ours[default_depth / 64] |= bit;
        else
            ours[default_depth / 64] &= ~bit;
    } else {
        mine = 0; /* deeper than we track: its pop could not be matched */
    }
    default_depth++;
    if (mine)
        fm_hook_phase_push(message + PREFIX_LEN, -1);
}

static void default_pop(void)
{
    if (!default_depth)
        return;
    default_depth--;
    if (default_depth < TRACKED_DEPTH && (ours[default_depth / 64] >> (default_depth % 64) & 1))
        fm_hook_phase_pop();
}

static int NVTX_API range_push_a(const char *message)
{
    default_push(message);
    return 0;
}

static int NVTX_API range_push_w(const wchar_t *message)
{
    char buf[NAME_BUF];
    wide_to_ascii(message, buf, sizeof buf);
    default_push(buf);
    return 0;
}

static int NVTX_API range_push_ex(const nvtxEventAttributes_t *a)
{
    char buf[NAME_BUF];
    default_push(message_of(a, buf, sizeof buf));
    return 0;
}

static int NVTX_API range_pop(void)
{
    default_pop();
    return 0;
}

/* ---- named domains ---------------------------------------------------------------------- */

static nvtxDomainHandle_t NVTX_API domain_create_a(const char *name)
{
    return (nvtxDomainHandle_t)(name && strcmp(name, DOMAIN_NAME) == 0 ? &flopmeter_domain
                                                                       : &other_domain);
}

static nvtxDomainHandle_t NVTX_API domain_create_w(const wchar_t *name)
{
    char buf[64];
    wide_to_ascii(name, buf, sizeof buf);
    return domain_create_a(buf);
}

static void NVTX_API domain_destroy(nvtxDomainHandle_t d)
{
    (void)d;
}

static nvtxStringHandle_t NVTX_API register_string_a(nvtxDomainHandle_t d, const char *s)
{
    (void)d;
    size_t n = s ? strlen(s) : 0;
    registered *r = malloc(sizeof *r + n);
    if (!r)
        return NULL; /* the string's ranges then carry no message: never a phase */
    memcpy(r->text, s ? s : "", n);
    r->text[n] = '\0';
    return (nvtxStringHandle_t)r;
}

static nvtxStringHandle_t NVTX_API register_string_w(nvtxDomainHandle_t d, const wchar_t *s)
{
    char buf[NAME_BUF];
    wide_to_ascii(s, buf, sizeof buf);
    return register_string_a(d, buf);
}

static int NVTX_API domain_push_ex(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    char buf[NAME_BUF];
    if (!d)
        return range_push_ex(a); /* NULL is the default domain */
    if ((void *)d != &flopmeter_domain)
        return 0;
    const char *name = message_of(a, buf, sizeof buf);
    fm_hook_phase_push(name && *name ? name : "unnamed", category_of(a));
    return 0;
}

static int NVTX_API domain_pop(nvtxDomainHandle_t d)
{
    if (!d)
        return range_pop();
    if ((void *)d == &flopmeter_domain)
        fm_hook_phase_pop();
    return 0;
}

/* ---- injection ---------------------------------------------------------------------------- */

static int set_slot(const NvtxExportTableCallbacks *cb, NvtxCallbackModule module, unsigned id,
                    NvtxFunctionPointer fn)
{
    NvtxFunctionTable table = NULL;
    unsigned size = 0;
    if (!cb->GetModuleFunctionTable(module, &table, &size) || !table || id >= size || !table[id])
        return 0;
    *table[id] = fn;
    return 1;
}

__attribute__((visibility("default"))) int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get)
{
    if (!get)
        return 0;
    const NvtxExportTableCallbacks *cb = get(NVTX_ETID_CALLBACKS);
    if (!cb || cb->struct_size < sizeof *cb || !cb->GetModuleFunctionTable)
        return 0;
#define SLOT(module, id, fn) set_slot(cb, module, id, (NvtxFunctionPointer)(fn))
    int ok = SLOT(NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePushA, range_push_a) &
             SLOT(NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePushW, range_push_w) &
             SLOT(NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePushEx, range_push_ex) &
             SLOT(NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePop, range_pop) &
             SLOT(NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainCreateA, domain_create_a) &
             SLOT(NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainCreateW, domain_create_w) &
             SLOT(NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainDestroy, domain_destroy) &
             SLOT(NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRegisterStringA, register_string_a) &
             SLOT(NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRegisterStringW, register_string_w) &
             SLOT(NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRangePushEx, domain_push_ex) &
             SLOT(NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRangePop, domain_pop);
#undef SLOT
    /* 1 even when a slot was missing (an older NVTX): the ranges we did get still work */
    (void)ok;
    return 1;
}
