// test_support.h - helpers shared by the unit tests: scratch directories, whole-file I/O,
// running the flopmeter command, and a small trace holding every record kind.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

extern "C" {
#include "flopmeter/trace_reader.h"
#include "flopmeter/trace_writer.h"
}

#include "temp_dir.h"

namespace fmtest {

using fmtestcommon::TempDir; // a scratch directory, removed at the end (tests/common)

std::vector<uint8_t> read_file(const std::string &path);
void write_file(const std::string &path, const std::vector<uint8_t> &bytes);

// Writes a trace with every record kind (two chunks of records at least, then FINAL).
// Returns the number of records before FINAL.
uint64_t write_sample_trace(const std::string &path, uint32_t chunk_target = 512);

// One record as stored in a payload (kind, length, body), encoded with this version's checks.
std::vector<uint8_t> stored_record(const fm_record &r);

// Builds a trace by hand, without the writer, so that nothing is checked on the way: a file
// header of format 1.<minor> with the given flags, one records chunk holding the stored
// records, then a FINAL chunk whose counts, totals and chain head match them. falsify may
// change the FINAL record's fields before it is encoded, patch its stored bytes after (to
// write values no writer of this version would).
std::vector<uint8_t> hand_built_trace(
    const std::vector<std::vector<uint8_t>> &records, uint64_t flags = 0,
    unsigned minor = FM_FORMAT_MINOR,
    const std::function<void(fm_rec_final &)> &falsify = nullptr,
    const std::function<void(std::vector<uint8_t> &)> &patch_final = nullptr);

// Reads every record of a trace in memory; returns the final status (FM_END or an error).
struct ReadResult {
    int status;
    uint64_t records;
    std::vector<uint32_t> kinds;
    fm_reader_info info;
    std::string error;
    uint64_t error_offset;
};
ReadResult read_all(const std::vector<uint8_t> &bytes);

// Byte offsets of every chunk header of an intact trace.
std::vector<size_t> chunk_offsets(const std::vector<uint8_t> &bytes);

// Runs the flopmeter command with arguments (shell-quoted by the caller); captures stdout and
// stderr separately and returns the exit status.
struct RunResult {
    int status;
    std::string out, err;
};
RunResult run_flopmeter(const std::string &args);

} // namespace fmtest
