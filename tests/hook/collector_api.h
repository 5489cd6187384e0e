// collector_api.h - the collector's interface (hook_core.h) for the C++ tests.
//
// hook_core.h includes launch_table.h, whose C11 atomics C++17 cannot parse, although the
// collector's interface itself uses nothing from it; its include guard is set here to keep it
// out. Should hook_core.h ever need a launch-table type, this stops compiling, visibly.
#pragma once

#define FM_HOOK_LAUNCH_TABLE_H
extern "C" {
#include "hook_core.h"
#include "flopmeter/trace_format.h"
}
#undef FM_HOOK_LAUNCH_TABLE_H
