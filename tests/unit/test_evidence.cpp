// test_evidence.cpp - the evidence outputs through the command: `flopmeter merge` (one
// verifiable trace from the traces of one run, with an INPUT record per input) and
// `flopmeter report --csv` (one RFC 4180 row per kernel signature and phase); and one case of
// `flopmeter export --perfetto` that synthesized jobs never show (an interval without
// launches). The Perfetto timeline as a whole is checked by tests/perfetto/check_perfetto.py,
// the HTML report in a browser by tests/html/check_html_report.py.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "test_support.h"

extern "C" {
#include "report_csv.h"
#include "flopmeter/version.h"
}

namespace {

using fmtest::run_flopmeter;
using fmtest::TempDir;

std::string q(const std::string &path)
{
    return "'" + path + "'";
}

bool contains(const std::string &s, const std::string &part)
{
    return s.find(part) != std::string::npos;
}

bool exists(const std::string &path)
{
    return access(path.c_str(), F_OK) == 0;
}

// The lines of s without those that contain any of the words.
std::string without_lines(const std::string &s, const std::vector<std::string> &words)
{
    std::istringstream in(s);
    std::string line, out;
    while (std::getline(in, line)) {
        bool drop = false;
        for (const auto &w : words)
            drop |= contains(line, w);
        if (!drop)
            out += line + "\n";
    }
    return out;
}

// Records of `flopmeter dump --json` of one kind, each as its line of text.
std::vector<std::string> dump_records(const std::string &trace, const std::string &kind)
{
    auto r = run_flopmeter("dump --json " + q(trace));
    EXPECT_EQ(r.status, 0) << r.err;
    std::vector<std::string> out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line))
        if (contains(line, "\"record\": \"" + kind + "\""))
            out.push_back(line);
    return out;
}

// A field of one JSON line: the text of a string value or of a number.
std::string field(const std::string &line, const std::string &key)
{
    std::smatch m;
    std::regex re("\"" + key + "\": (\"([^\"\\\\]*)\"|(-?[0-9.eE+]+))");
    if (!std::regex_search(line, m, re))
        return "<no " + key + ">";
    return m[2].matched ? m[2].str() : m[3].str();
}

// ---- RFC 4180 ------------------------------------------------------------------------------

struct Csv {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    std::string error;
};

// Parses RFC 4180 text strictly: CRLF line ends, quoted fields with doubled quotes, no bare
// quote inside an unquoted field, every row as wide as the header.
Csv parse_csv(const std::string &s)
{
    Csv csv;
    std::vector<std::vector<std::string>> records;
    std::vector<std::string> rec;
    std::string f;
    size_t i = 0;
    bool quoted = false, field_started = false;
    while (i < s.size()) {
        char c = s[i];
        if (quoted) {
            if (c == '"' && i + 1 < s.size() && s[i + 1] == '"') {
                f += '"';
                i += 2;
            } else if (c == '"') {
                quoted = false;
                i++;
                if (i < s.size() && s[i] != ',' && s[i] != '\r') {
                    csv.error = "text after a closing quote at byte " + std::to_string(i);
                    return csv;
                }
            } else {
                f += c;
                i++;
            }
            continue;
        }
        if (c == '"' && !field_started && f.empty()) {
            quoted = field_started = true;
            i++;
        } else if (c == '"') {
            csv.error = "a quote inside an unquoted field at byte " + std::to_string(i);
            return csv;
        } else if (c == ',') {
            rec.push_back(f);
            f.clear();
            field_started = false;
            i++;
        } else if (c == '\r') {
            if (i + 1 >= s.size() || s[i + 1] != '\n') {
                csv.error = "CR without LF at byte " + std::to_string(i);
                return csv;
            }
            rec.push_back(f);
            records.push_back(rec);
            rec.clear();
            f.clear();
            field_started = false;
            i += 2;
        } else if (c == '\n') {
            csv.error = "LF without CR at byte " + std::to_string(i);
            return csv;
        } else {
            f += c;
            field_started = true;
            i++;
        }
    }
    if (quoted || !rec.empty() || !f.empty()) {
        csv.error = "the last record does not end with CRLF";
        return csv;
    }
    if (records.empty()) {
        csv.error = "no header";
        return csv;
    }
    csv.header = records[0];
    for (size_t r = 1; r < records.size(); r++) {
        if (records[r].size() != csv.header.size()) {
            csv.error = "record " + std::to_string(r) + " has " +
                        std::to_string(records[r].size()) + " fields";
            return csv;
        }
        csv.rows.push_back(records[r]);
    }
    return csv;
}

size_t column(const Csv &csv, const std::string &name)
{
    for (size_t i = 0; i < csv.header.size(); i++)
        if (csv.header[i] == name)
            return i;
    ADD_FAILURE() << "no column " << name;
    return 0;
}

// ---- small traces written here ---------------------------------------------------------------

struct Identity {
    const char *tool = "0.1.0", *run = "synth-1";
    uint64_t world_size = 4;
    int64_t rank = 0;
};

// A small complete trace: RUN_META, one phase, one kernel signature named kernel_name, and
// AGGREGATE records of fp32 work, one per [start, end) interval (in seconds) with flop each.
void write_small_trace(const std::string &path, const Identity &id, const std::string &kernel_name,
                       const std::vector<std::pair<double, double>> &intervals, double flop,
                       uint64_t records_dropped = 0)
{
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.flush_interval_ms = 100000;
    fm_writer *w = nullptr;
    char err[256];
    ASSERT_EQ(fm_writer_open(&w, path.c_str(), &o, err, sizeof err), FM_OK) << err;
    const uint64_t t0 = 1767225600000000000ull;
    fm_record r = {};
    r.kind = FM_REC_RUN_META;
    r.u.run_meta.tool_version = fm_str_c(id.tool);
    r.u.run_meta.run_id = fm_str_c(id.run);
    r.u.run_meta.host = fm_str_c("host");
    r.u.run_meta.pid = 7;
    r.u.run_meta.rank = id.rank;
    r.u.run_meta.local_rank = id.rank;
    r.u.run_meta.world_size = id.world_size;
    r.u.run_meta.start_unix_ns = t0;
    ASSERT_EQ(fm_writer_append(w, &r), FM_OK);
    fm_record d = {};
    d.kind = FM_REC_DEVICE;
    d.u.device.name = fm_str_c("NVIDIA H100 80GB HBM3");
    d.u.device.chip = fm_str_c("GH100");
    ASSERT_EQ(fm_writer_append(w, &d), FM_OK);
    fm_record p = {};
    p.kind = FM_REC_PHASE_DEF;
    p.u.phase_def.id = 1;
    p.u.phase_def.name = fm_writer_intern(w, "pretraining", 11);
    p.u.phase_def.category = FM_PHASE_PRETRAINING;
    ASSERT_EQ(fm_writer_append(w, &p), FM_OK);
    fm_record k = {};
    k.kind = FM_REC_KERNEL_SIGNATURE;
    k.u.kernel_signature.id = 1;
    k.u.kernel_signature.name = fm_writer_intern(w, kernel_name.data(), kernel_name.size());
    k.u.kernel_signature.grid[0] = k.u.kernel_signature.block[0] = 1;
    k.u.kernel_signature.grid[1] = k.u.kernel_signature.block[1] = 1;
    k.u.kernel_signature.grid[2] = k.u.kernel_signature.block[2] = 1;
    k.u.kernel_signature.first_seen_ns = t0;
    ASSERT_EQ(fm_writer_append(w, &k), FM_OK);
    for (const auto &iv : intervals) {
        fm_class_flop cl[1] = {{0x01, flop, 0}};
        fm_record a = {};
        a.kind = FM_REC_AGGREGATE;
        a.u.aggregate.interval_start_ns = t0 + (uint64_t)(iv.first * 1e9);
        a.u.aggregate.interval_end_ns = t0 + (uint64_t)(iv.second * 1e9);
        a.u.aggregate.signature = 1;
        a.u.aggregate.phase = 1;
        a.u.aggregate.launches = 10;
        a.u.aggregate.launches_measured = 10;
        a.u.aggregate.busy_ns = 1000;
        a.u.aggregate.n_classes = 1;
        a.u.aggregate.classes = cl;
        ASSERT_EQ(fm_writer_append(w, &a), FM_OK);
    }
    double end = intervals.empty() ? 1 : intervals.back().second;
    fm_writer_final_info fi = {t0 + (uint64_t)(end * 1e9), FM_EXIT_NORMAL, records_dropped};
    ASSERT_EQ(fm_writer_close(w, &fi), FM_OK);
}

// ---- merge ---------------------------------------------------------------------------------

class Merge : public ::testing::Test {
  protected:
    void SetUp() override
    {
        job_ = tmp_.path("job");
        auto r = run_flopmeter("synth --quiet --all-ranks --world-size 4 --steps 130 "
                               "--signatures 60 --launches-per-step 150 --out " + q(job_));
        ASSERT_EQ(r.status, 0) << r.err;
        for (int i = 0; i < 4; i++)
            ranks_.push_back(job_ + "/rank-0000" + std::to_string(i) + ".fmtrace");
    }
    // Merges the inputs into out (a path in tmp_); returns the command's result.
    fmtest::RunResult merge(const std::string &out, const std::vector<std::string> &inputs,
                            const std::string &options = "")
    {
        std::string args = "merge " + options + " " + q(out);
        for (const auto &i : inputs)
            args += " " + q(i);
        return run_flopmeter(args);
    }
    // A copy of rank 1 cut inside its second chunk: the first chunk (with RUN_META) intact.
    std::string damaged()
    {
        auto bytes = fmtest::read_file(ranks_[1]);
        auto offs = fmtest::chunk_offsets(bytes);
        EXPECT_GE(offs.size(), 3u) << "the synthesized trace needs two chunks of records";
        if (offs.size() < 3)
            return ranks_[1];
        bytes.resize(offs[1] + (offs[2] - offs[1]) / 2);
        std::string cut = tmp_.path("cut-rank-00001.fmtrace");
        fmtest::write_file(cut, bytes);
        return cut;
    }
    TempDir tmp_;
    std::string job_;
    std::vector<std::string> ranks_;
};

TEST_F(Merge, MergedTraceVerifiesAndReportsTheSameFigures)
{
    std::string out = tmp_.path("merged.fmtrace");
    auto r = merge(out, {job_});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "4 traces of run 'synth-1' merged")) << r.out;
    auto v = run_flopmeter("verify " + q(out));
    EXPECT_EQ(v.status, 0) << v.out << v.err;
    EXPECT_TRUE(contains(v.out, "intact")) << v.out;
    EXPECT_TRUE(contains(v.out, "format 1.1")) << v.out;

    // CSV: every figure per signature and phase
    auto direct_csv = run_flopmeter("report --csv " + q(job_));
    auto merged_csv = run_flopmeter("report --csv " + q(out));
    ASSERT_EQ(direct_csv.status, 0) << direct_csv.err;
    ASSERT_EQ(merged_csv.status, 0) << merged_csv.err;
    EXPECT_GT(direct_csv.out.size(), 1000u);
    EXPECT_TRUE(merged_csv.out == direct_csv.out) << "the CSV of the merged trace differs";

    // text: every section but the lines that name trace files
    auto direct_text = run_flopmeter("report --no-color " + q(job_));
    auto merged_text = run_flopmeter("report --no-color " + q(out));
    ASSERT_EQ(direct_text.status, 0) << direct_text.err;
    ASSERT_EQ(merged_text.status, 0) << merged_text.err;
    EXPECT_EQ(without_lines(merged_text.out, {".fmtrace"}),
              without_lines(direct_text.out, {".fmtrace"}));

    // JSON: every value but paths, chain heads and where a merged trace came from
    auto direct_json = run_flopmeter("report --json " + q(job_));
    auto merged_json = run_flopmeter("report --json " + q(out));
    ASSERT_EQ(direct_json.status, 0) << direct_json.err;
    ASSERT_EQ(merged_json.status, 0) << merged_json.err;
    std::regex input("\"merged_input\": (null|\\{[^}]*\\})");
    auto normal = [&](const std::string &s) {
        return without_lines(std::regex_replace(s, input, "\"merged_input\": ?"),
                             {".fmtrace", "\"chain_head\""});
    };
    EXPECT_EQ(normal(merged_json.out), normal(direct_json.out));
    EXPECT_TRUE(contains(direct_json.out, "\"merged_input\": null"));
    EXPECT_TRUE(contains(merged_json.out, "\"merged_input\": {")) << "no merged_input";
}

TEST_F(Merge, RefusesTracesOfAnotherRunAndNamesEach)
{
    std::string other_run = tmp_.path("other-run.fmtrace"),
                other_size = tmp_.path("other-size.fmtrace"),
                other_tool = tmp_.path("other-tool.fmtrace");
    ASSERT_EQ(run_flopmeter("synth --quiet --seed 9 --steps 10 --rank 2 --world-size 4 --out " +
                            q(other_run)).status, 0);
    ASSERT_EQ(run_flopmeter("synth --quiet --steps 10 --rank 5 --world-size 8 --out " +
                            q(other_size)).status, 0);
    Identity id;
    id.tool = "0.0.1";
    id.rank = 3;
    write_small_trace(other_tool, id, "k", {{0, 1}}, 1e9);

    std::string out = tmp_.path("merged.fmtrace");
    auto r = merge(out, {ranks_[0], other_run, ranks_[1], other_size, other_tool});
    EXPECT_EQ(r.status, 2);
    EXPECT_FALSE(exists(out)) << "a merge that was refused wrote " << out;
    // each with both values, the input's first, then the first input's
    EXPECT_TRUE(contains(r.err, other_run + ": run id differs from " + ranks_[0] +
                                    ": 'synth-9' vs 'synth-1'\n"))
        << r.err;
    EXPECT_TRUE(contains(r.err, other_size + ": world size differs from " + ranks_[0] +
                                    ": 8 vs 4\n"))
        << r.err;
    EXPECT_TRUE(contains(r.err, other_tool + ": tool version differs from " + ranks_[0] +
                                    ": '0.0.1' vs '" FLOPMETER_VERSION "'\n"))
        << r.err;
    EXPECT_TRUE(contains(r.err, "3 of 5 traces do not belong")) << r.err;
    EXPECT_TRUE(contains(r.err, "nothing written")) << r.err;
    EXPECT_FALSE(contains(r.err, ranks_[1])) << "names a trace that belongs: " << r.err;
}

TEST_F(Merge, DamagedInputNeedsAllowIncomplete)
{
    std::string cut = damaged(), out = tmp_.path("merged.fmtrace");
    auto r = merge(out, {ranks_[0], cut});
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, cut)) << r.err;
    EXPECT_TRUE(contains(r.err, "--allow-incomplete")) << r.err;
    EXPECT_FALSE(exists(out));

    r = merge(out, {ranks_[0], cut}, "--allow-incomplete");
    ASSERT_EQ(r.status, 0) << r.err;
    auto v = run_flopmeter("verify " + q(out));
    EXPECT_EQ(v.status, 0) << v.out << v.err; // the merged trace itself is whole

    auto inputs = dump_records(out, "input");
    ASSERT_EQ(inputs.size(), 2u);
    EXPECT_EQ(field(inputs[0], "index"), "0");
    EXPECT_EQ(field(inputs[0], "complete"), "1");
    EXPECT_EQ(field(inputs[1], "index"), "1");
    EXPECT_EQ(field(inputs[1], "path"), cut);
    EXPECT_EQ(field(inputs[1], "complete"), "0") << inputs[1];
    auto text = run_flopmeter("dump " + q(out));
    size_t at = text.out.find("input index=1 path=\"" + cut + "\" ");
    ASSERT_NE(at, std::string::npos) << "the text dump shows no INPUT record of " << cut;
    std::string line = text.out.substr(at, text.out.find('\n', at) - at);
    EXPECT_TRUE(contains(line, " complete=0 ")) << line;

    auto rep = run_flopmeter("report " + q(out));
    EXPECT_EQ(rep.status, 2);
    EXPECT_TRUE(contains(rep.err, "--allow-incomplete")) << rep.err;
    rep = run_flopmeter("report --allow-incomplete " + q(out));
    EXPECT_EQ(rep.status, 0) << rep.err;
    EXPECT_TRUE(contains(rep.out, "INCOMPLETE")) << rep.out;
    EXPECT_TRUE(contains(rep.out, "merged from " + cut + ": incomplete")) << rep.out;
}

// The INPUT records name the exact bytes read: each input's trace id and chain head as
// `flopmeter verify --json` reports them for that input, damaged ones included.
TEST_F(Merge, InputRecordsCarryEachInputsChainHead)
{
    std::string cut = damaged(), out = tmp_.path("merged.fmtrace");
    std::vector<std::string> inputs = {ranks_[0], cut, ranks_[2], ranks_[3]};
    auto r = merge(out, inputs, "--allow-incomplete");
    ASSERT_EQ(r.status, 0) << r.err;
    auto records = dump_records(out, "input");
    ASSERT_EQ(records.size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); i++) {
        auto v = run_flopmeter("verify --json " + q(inputs[i]));
        EXPECT_EQ(v.status, inputs[i] == cut ? 2 : 0) << v.err;
        std::string head = field(v.out, "chain_head"), id = field(v.out, "trace_id");
        ASSERT_EQ(head.size(), 64u) << v.out;
        EXPECT_EQ(field(records[i], "index"), std::to_string(i));
        EXPECT_EQ(field(records[i], "path"), inputs[i]);
        EXPECT_EQ(field(records[i], "chain_head"), head) << inputs[i];
        EXPECT_EQ(field(records[i], "trace_id"), id) << inputs[i];
        EXPECT_EQ(field(records[i], "chunks"), field(v.out, "chunks")) << inputs[i];
        EXPECT_EQ(field(records[i], "records"), field(v.out, "records")) << inputs[i];
        EXPECT_EQ(field(records[i], "rank"), std::to_string(inputs[i] == cut ? 1 : i));
    }
}

TEST_F(Merge, MergedTraceCanBeSignedAndVerified)
{
    std::string key = tmp_.path("k"), other = tmp_.path("other"),
                out = tmp_.path("merged.fmtrace");
    ASSERT_EQ(run_flopmeter("keygen --out " + q(key)).status, 0);
    ASSERT_EQ(run_flopmeter("keygen --out " + q(other)).status, 0);
    // --pubkey on merge: every input must be signed by the key
    auto r = merge(out, {ranks_[0], ranks_[1]}, "--pubkey " + q(key + ".pub"));
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, "no valid signature by the trusted key")) << r.err;
    EXPECT_FALSE(exists(out));
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(run_flopmeter("sign --key " + q(key + ".key") + " " + q(ranks_[i])).status, 0);
    r = merge(out, {ranks_[0], ranks_[1]}, "--pubkey " + q(key + ".pub"));
    ASSERT_EQ(r.status, 0) << r.err;
    for (const auto &rec : dump_records(out, "input")) {
        EXPECT_EQ(field(rec, "signatures"), "1");
        EXPECT_EQ(field(rec, "signatures_valid"), "1");
    }
    // the merged trace's own signature
    auto v = run_flopmeter("verify --pubkey " + q(key + ".pub") + " " + q(out));
    EXPECT_NE(v.status, 0) << "unsigned merged trace passed --pubkey: " << v.out;
    ASSERT_EQ(run_flopmeter("sign --key " + q(key + ".key") + " " + q(out)).status, 0);
    v = run_flopmeter("verify --pubkey " + q(key + ".pub") + " " + q(out));
    EXPECT_EQ(v.status, 0) << v.out << v.err;
    EXPECT_TRUE(contains(v.out, "1 present, 1 valid")) << v.out;
    v = run_flopmeter("verify --pubkey " + q(other + ".pub") + " " + q(out));
    EXPECT_NE(v.status, 0) << v.out;
    auto rep = run_flopmeter("report --pubkey " + q(key + ".pub") + " " + q(out));
    EXPECT_EQ(rep.status, 0) << rep.err;
}

// Several fields differ: all are named, each with both values, in one line.
TEST_F(Merge, MismatchNamesEveryDifferingField)
{
    std::string other = tmp_.path("other.fmtrace");
    Identity id;
    id.tool = "0.0.1";
    id.run = "synth-7";
    id.world_size = 2;
    write_small_trace(other, id, "k", {{0, 1}}, 1e9);
    auto r = merge(tmp_.path("merged.fmtrace"), {ranks_[0], other});
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, other + ": run id differs from " + ranks_[0] +
                                    ": 'synth-7' vs 'synth-1'; world size also differs: 2 vs "
                                    "4; tool version also differs: '0.0.1' vs '" FLOPMETER_VERSION
                                    "'\n"))
        << r.err;
}

// The same trace twice would count its work twice: the same file under one name or two (a
// directory and a file in it), or a copy (another file written by the same process).
TEST_F(Merge, InputGivenTwiceIsRefused)
{
    std::string out = tmp_.path("merged.fmtrace");
    auto r = merge(out, {ranks_[0], ranks_[1], ranks_[0]});
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.err, "flopmeter: merge: " + ranks_[0] + " is given twice; nothing written\n");
    EXPECT_FALSE(exists(out));

    std::string again = job_ + "/../job/rank-00002.fmtrace";
    r = merge(out, {job_, again});
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, "merge: " + ranks_[2] + " and " + again + " are the same file"))
        << r.err;
    EXPECT_FALSE(exists(out));

    std::string copy = tmp_.path("copy-of-rank-3.fmtrace");
    fmtest::write_file(copy, fmtest::read_file(ranks_[3]));
    r = merge(out, {job_, copy});
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, "merge: " + ranks_[3] + " and " + copy +
                                    " were written by the same process (host 'synth-node-00', "
                                    "pid 4003, ranks 3 and 3); nothing written"))
        << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(exists(out));
}

// Traces of unknown rank (-1) are told apart by host and pid alone.
TEST(MergeIdentity, UnknownRanksAreComparedByHostAndPid)
{
    TempDir tmp;
    std::string a = tmp.path("a.fmtrace"), b = tmp.path("b.fmtrace"), c = tmp.path("c.fmtrace"),
                out = tmp.path("merged.fmtrace");
    Identity id; // host "host", pid 7 for every small trace
    id.world_size = 2;
    id.rank = -1;
    write_small_trace(a, id, "k", {{0, 1}}, 1e9);
    write_small_trace(b, id, "k", {{0, 1}}, 1e9);
    id.rank = 1;
    write_small_trace(c, id, "k", {{0, 1}}, 1e9);
    auto r = run_flopmeter("merge " + q(out) + " " + q(a) + " " + q(b));
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, a + " and " + b + " were written by the same process (host "
                                                  "'host', pid 7, ranks -1 and -1)"))
        << r.err;
    r = run_flopmeter("merge " + q(out) + " " + q(c) + " " + q(a));
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, "ranks -1 and 1")) << r.err;
    EXPECT_FALSE(exists(out));
    // known, different ranks are different traces, whatever host and pid say
    id.rank = 0;
    std::string d = tmp.path("d.fmtrace");
    write_small_trace(d, id, "k", {{0, 1}}, 1e9);
    r = run_flopmeter("merge " + q(out) + " " + q(d) + " " + q(c));
    EXPECT_EQ(r.status, 0) << r.err;
}

// --allow-incomplete never waives --pubkey: a damaged or unfinished input has no signature
// (signatures follow the final chunk), so it is refused, as the report refuses it.
TEST_F(Merge, AllowIncompleteDoesNotWaiveTheSignature)
{
    std::string key = tmp_.path("k"), out = tmp_.path("merged.fmtrace");
    ASSERT_EQ(run_flopmeter("keygen --out " + q(key)).status, 0);
    std::string cut = damaged(); // cut from rank 1 before it was signed
    for (int i : {0, 1})
        ASSERT_EQ(run_flopmeter("sign --key " + q(key + ".key") + " " + q(ranks_[i])).status, 0);
    auto r = merge(out, {ranks_[0], cut}, "--allow-incomplete --pubkey " + q(key + ".pub"));
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, cut + ": no valid signature by the trusted key (" + cut +
                                    ": truncated"))
        << r.err;
    EXPECT_FALSE(exists(out));
    // a signed trace cut after its signature chunk keeps the signature: merged, marked
    // incomplete
    auto bytes = fmtest::read_file(ranks_[1]);
    bytes.insert(bytes.end(), {'F', 'M', 'C', 'K'});
    std::string appended = tmp_.path("appended-rank-00001.fmtrace");
    fmtest::write_file(appended, bytes);
    r = merge(out, {ranks_[0], appended}, "--allow-incomplete --pubkey " + q(key + ".pub"));
    ASSERT_EQ(r.status, 0) << r.err;
    auto inputs = dump_records(out, "input");
    ASSERT_EQ(inputs.size(), 2u);
    EXPECT_EQ(field(inputs[1], "complete"), "0");
    EXPECT_EQ(field(inputs[1], "signatures_valid"), "1");
}

// An input of a newer minor version may hold what this version cannot write into the merged
// trace (a record kind, an enumeration value): refused as bad input (exit status 2), never
// written changed (docs/trace-format.md, INPUT).
TEST(MergeNewerMinor, ValuesThisVersionCannotWriteAreRefused)
{
    TempDir tmp;
    fm_record m = {};
    m.kind = FM_REC_RUN_META;
    m.u.run_meta.tool_version = fm_str_c("9.9.9");
    m.u.run_meta.run_id = fm_str_c("future");
    m.u.run_meta.host = fm_str_c("host");
    m.u.run_meta.rank = 0;
    m.u.run_meta.local_rank = 0;
    m.u.run_meta.world_size = 1;
    const std::vector<uint8_t> meta = fmtest::stored_record(m);
    // DEGRADATION: time 0, kind 10 (none in 1.1), api_result 0, launches 0, message ""
    const std::vector<uint8_t> degradation = {FM_REC_DEGRADATION, 5, 0, 10, 0, 0, 0};
    const std::vector<uint8_t> kind_99 = {99, 1, 0};
    const unsigned newer = FM_FORMAT_MINOR + 1;
    struct Case {
        const char *name;
        std::vector<uint8_t> bytes;
        std::string words;
    } cases[] = {
        {"degradation", fmtest::hand_built_trace({meta, degradation}, 0, newer),
         "a degradation record holds a value this version does not know (unknown "
         "degradation; format 1." + std::to_string(newer) + ")"},
        // FINAL: kind, length, end_unix_ns 0, then exit_reason
        {"exit", fmtest::hand_built_trace({meta}, 0, newer, nullptr,
                                          [](std::vector<uint8_t> &f) { f[3] = 9; }),
         "a final record holds a value this version does not know (unknown exit reason"},
        {"kind", fmtest::hand_built_trace({meta, kind_99}, 0, newer),
         "holds records of kind 99, which this version does not know"},
    };
    for (const auto &c : cases) {
        std::string in = tmp.path(std::string(c.name) + ".fmtrace"),
                    out = tmp.path(std::string(c.name) + "-merged.fmtrace");
        fmtest::write_file(in, c.bytes);
        auto v = run_flopmeter("verify " + q(in)); // intact: a newer version may write them
        EXPECT_EQ(v.status, 0) << c.name << ": " << v.out << v.err;
        auto r = run_flopmeter("merge " + q(out) + " " + q(in));
        EXPECT_EQ(r.status, 2) << c.name << ": " << r.err;
        EXPECT_EQ(r.err.rfind("flopmeter: " + in + ": ", 0), 0u) << r.err;
        EXPECT_TRUE(contains(r.err, c.words)) << c.name << ": " << r.err;
        EXPECT_TRUE(contains(r.err, "merge it with a newer flopmeter")) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_FALSE(exists(out)) << c.name;
    }
}

// Each input's dropped records come from its INPUT record, also for the last input, whose
// records are followed by the merged file's own FINAL record (which says 0).
TEST(MergeRecordsDropped, EachInputKeepsItsOwnCount)
{
    TempDir tmp;
    std::string a = tmp.path("rank-0.fmtrace"), b = tmp.path("rank-1.fmtrace"),
                out = tmp.path("merged.fmtrace");
    Identity id;
    id.world_size = 2;
    id.rank = 0;
    write_small_trace(a, id, "k", {{0, 1}}, 1e9, 3);
    id.rank = 1;
    write_small_trace(b, id, "k", {{0, 1}}, 1e9, 5);
    ASSERT_EQ(run_flopmeter("merge " + q(out) + " " + q(a) + " " + q(b)).status, 0);
    auto counts = [](const std::string &json) {
        std::vector<std::string> v;
        std::regex re("\"records_dropped\": ([0-9]+)");
        for (std::sregex_iterator i(json.begin(), json.end(), re), e; i != e; ++i)
            v.push_back((*i)[1]);
        return v;
    };
    auto direct = run_flopmeter("report --json " + q(a) + " " + q(b));
    auto merged = run_flopmeter("report --json " + q(out));
    ASSERT_EQ(direct.status, 0) << direct.err;
    ASSERT_EQ(merged.status, 0) << merged.err;
    EXPECT_EQ(counts(direct.out), (std::vector<std::string>{"3", "5"}));
    EXPECT_EQ(counts(merged.out), (std::vector<std::string>{"3", "5"}));
}

// A directory given as `job/` gives `job/rank.fmtrace`, not `job//rank.fmtrace`: the paths
// are shown, and recorded in the merged trace's INPUT records.
TEST_F(Merge, DirectoryWithTrailingSlashesGivesPlainPaths)
{
    std::string out = tmp_.path("merged.fmtrace");
    ASSERT_EQ(merge(out, {job_ + "//"}).status, 0);
    auto inputs = dump_records(out, "input");
    ASSERT_EQ(inputs.size(), 4u);
    for (size_t i = 0; i < inputs.size(); i++)
        EXPECT_EQ(field(inputs[i], "path"), ranks_[i]);
    auto v = run_flopmeter("verify " + q(job_ + "/"));
    EXPECT_TRUE(contains(v.out, ranks_[0] + ": intact\n")) << v.out;
}

// verify reads directories like report, merge and export, and says of a merged trace how
// many inputs it holds and how many of them were incomplete.
TEST_F(Merge, VerifyTakesDirectoriesAndShowsIncompleteInputs)
{
    auto v = run_flopmeter("verify " + q(job_));
    EXPECT_EQ(v.status, 0) << v.err;
    for (const auto &rank : ranks_)
        EXPECT_TRUE(contains(v.out, rank + ": intact\n")) << v.out;

    std::string cut = damaged(), out = tmp_.path("merged.fmtrace");
    v = run_flopmeter("verify " + q(job_) + " " + q(cut));
    EXPECT_EQ(v.status, 2);
    EXPECT_TRUE(contains(v.out, ranks_[3] + ": intact\n")) << v.out;
    EXPECT_TRUE(contains(v.out, cut + ": NOT INTACT\n")) << v.out;
    std::string empty = tmp_.path("empty");
    ASSERT_EQ(system(("mkdir " + q(empty)).c_str()), 0);
    v = run_flopmeter("verify " + q(empty));
    EXPECT_EQ(v.status, 2);
    EXPECT_EQ(v.err, "flopmeter: " + empty + ": a directory without *.fmtrace files\n");

    ASSERT_EQ(merge(out, {ranks_[0], cut, ranks_[2]}, "--allow-incomplete").status, 0);
    v = run_flopmeter("verify " + q(out));
    EXPECT_EQ(v.status, 0) << v.err;
    EXPECT_TRUE(contains(v.out, out + ": intact; merged from 3 inputs, 1 of them incomplete\n"))
        << v.out;
    v = run_flopmeter("verify --json " + q(out));
    EXPECT_TRUE(contains(v.out, "\"inputs\": 3,")) << v.out;
    EXPECT_TRUE(contains(v.out, "\"inputs_incomplete\": 1")) << v.out;
    ASSERT_EQ(merge(tmp_.path("whole.fmtrace"), {job_}).status, 0);
    v = run_flopmeter("verify " + q(tmp_.path("whole.fmtrace")));
    EXPECT_TRUE(contains(v.out, ": intact; merged from 4 inputs\n")) << v.out;
}

TEST_F(Merge, MergedTraceIsNotMergedAgain)
{
    std::string out = tmp_.path("merged.fmtrace"), again = tmp_.path("again.fmtrace");
    ASSERT_EQ(merge(out, {ranks_[0], ranks_[1]}).status, 0);
    auto r = merge(again, {out, ranks_[2]});
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, out + ": is itself a merged trace")) << r.err;
    EXPECT_FALSE(exists(again));
}

TEST_F(Merge, ExistingOutIsRefused)
{
    std::string out = tmp_.path("merged.fmtrace");
    fmtest::write_file(out, {'k', 'e', 'e', 'p'});
    auto r = merge(out, {ranks_[0], ranks_[1]});
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(contains(r.err, out)) << r.err;
    auto bytes = fmtest::read_file(out);
    EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "keep");
}

// ---- report --csv --------------------------------------------------------------------------

class ReportCsv : public ::testing::Test {
  protected:
    void SetUp() override
    {
        job_ = tmp_.path("job");
        auto r = run_flopmeter("synth --quiet --all-ranks --world-size 4 --steps 130 "
                               "--signatures 60 --launches-per-step 150 --out " + q(job_));
        ASSERT_EQ(r.status, 0) << r.err;
        auto c = run_flopmeter("report --csv " + q(job_));
        ASSERT_EQ(c.status, 0) << c.err;
        raw_ = c.out;
        csv_ = parse_csv(raw_);
        ASSERT_EQ(csv_.error, "") << raw_.substr(0, 2000);
        auto j = run_flopmeter("report --json " + q(job_));
        ASSERT_EQ(j.status, 0) << j.err;
        json_ = j.out;
    }
    // A number of the report's JSON: the first "key": value after the text `after`.
    double json_number(const std::string &after, const std::string &key)
    {
        size_t at = json_.find(after);
        EXPECT_NE(at, std::string::npos) << after;
        at = json_.find("\"" + key + "\": ", at);
        EXPECT_NE(at, std::string::npos) << key;
        return std::stod(json_.substr(at + key.size() + 4));
    }
    TempDir tmp_;
    std::string job_, raw_, json_;
    Csv csv_;
};

TEST_F(ReportCsv, HeaderColumns)
{
    const std::vector<std::string> want = {
        "kernel", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z",
        "shared_mem_dynamic", "arg_hash", "callsite", "phase", "category", "launches",
        "launches_measured", "launches_extrapolated", "launches_unmeasured", "busy_seconds",
        "flop_measured", "flop_extrapolated", "flop", "integer_ops_measured",
        "integer_ops_extrapolated", "share_of_executed_flop"};
    EXPECT_EQ(csv_.header, want);
    EXPECT_EQ(raw_.rfind("kernel,grid_x,", 0), 0u);
}

// One row per (signature, phase) pair with launches: rows are distinct, each has launches,
// and their launches add up, per signature (the report's signature table, in its order), per
// phase and in all, to the report's own counts.
TEST_F(ReportCsv, OneRowPerSignatureAndPhaseWithLaunches)
{
    ASSERT_FALSE(csv_.rows.empty());
    size_t c_launch = column(csv_, "launches"), c_phase = column(csv_, "phase"),
           c_hash = column(csv_, "arg_hash"), c_meas = column(csv_, "launches_measured"),
           c_extra = column(csv_, "launches_extrapolated"),
           c_unmeas = column(csv_, "launches_unmeasured");
    std::map<std::vector<std::string>, int> seen;
    std::vector<std::pair<std::string, uint64_t>> groups; // (arg_hash and name, launches)
    std::map<std::string, uint64_t> by_phase;
    uint64_t total = 0;
    for (const auto &row : csv_.rows) {
        std::vector<std::string> key(row.begin(), row.begin() + (long)c_phase + 1);
        EXPECT_EQ(seen[key]++, 0) << "two rows for " << row[0] << " in " << row[c_phase];
        uint64_t n = std::stoull(row[c_launch]);
        EXPECT_GT(n, 0u) << row[0] << " in " << row[c_phase];
        EXPECT_EQ(n, std::stoull(row[c_meas]) + std::stoull(row[c_extra]) +
                         std::stoull(row[c_unmeas]));
        std::string sig = row[c_hash] + " " + row[0];
        for (size_t i = 1; i < c_phase; i++)
            sig += " " + row[i];
        if (groups.empty() || groups.back().first != sig)
            groups.push_back({sig, 0});
        groups.back().second += n;
        by_phase[row[c_phase]] += n;
        total += n;
    }
    EXPECT_EQ(total, (uint64_t)json_number("\"executed\": {", "total"));
    // the signature table of the JSON, in order: arg_hash and launches of each
    std::vector<std::pair<std::string, uint64_t>> sigs;
    size_t at = json_.find("\"signatures\": [");
    size_t end = json_.find("\"callsites\": [", at);
    ASSERT_NE(at, std::string::npos);
    ASSERT_NE(end, std::string::npos);
    const std::string hash_key = "\"arg_hash\": \"", launches_key = "\"launches\": ";
    while ((at = json_.find(hash_key, at)) < end) {
        std::string hash = json_.substr(at + hash_key.size(), 16);
        at = json_.find(launches_key, at);
        ASSERT_LT(at, end);
        sigs.push_back({hash, std::stoull(json_.substr(at + launches_key.size()))});
    }
    ASSERT_EQ(groups.size(), sigs.size()) << "signatures in the CSV and in the report differ";
    for (size_t i = 0; i < sigs.size(); i++) {
        EXPECT_EQ(groups[i].first.substr(0, 16), sigs[i].first) << "signature " << i;
        EXPECT_EQ(groups[i].second, sigs[i].second) << "signature " << i;
    }
    for (const auto &p : by_phase)
        EXPECT_EQ(p.second, (uint64_t)json_number("\"name\": \"" + p.first + "\"", "launches"))
            << p.first;
    std::cout << csv_.rows.size() << " rows, " << sigs.size() << " signatures, "
              << by_phase.size() << " phases\n";
}

// Synthesized kernel names hold commas ("c10::BFloat16, float"): quoted, and read back intact.
TEST_F(ReportCsv, NamesWithCommasAreQuoted)
{
    int with_comma = 0;
    for (const auto &row : csv_.rows) {
        if (!contains(row[0], ","))
            continue;
        with_comma++;
        std::string quoted = "\r\n\"" + row[0] + "\",";
        EXPECT_TRUE(contains(raw_, quoted)) << row[0];
        EXPECT_TRUE(contains(json_, "\"name\": \"" + row[0] + "\"")) << row[0];
    }
    EXPECT_GT(with_comma, 0) << "no synthesized kernel name with a comma";
}

// Quotes are doubled inside a quoted field, line breaks kept inside it (RFC 4180, 2.6-2.7).
TEST_F(ReportCsv, QuotesAndLineBreaksInNames)
{
    std::string trace = tmp_.path("quotes.fmtrace");
    const std::string name = "kernel<\"a\", b>\n(x, \"y\")";
    Identity id;
    id.world_size = 1;
    write_small_trace(trace, id, name, {{0, 1}, {1, 2}}, 3e12);
    auto r = run_flopmeter("report --csv " + q(trace));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "\r\n\"kernel<\"\"a\"\", b>\n(x, \"\"y\"\")\",")) << r.out;
    Csv csv = parse_csv(r.out);
    ASSERT_EQ(csv.error, "") << r.out;
    ASSERT_EQ(csv.rows.size(), 1u);
    EXPECT_EQ(csv.rows[0][0], name);
    EXPECT_EQ(csv.rows[0][column(csv, "launches")], "20");
    EXPECT_EQ(std::stod(csv.rows[0][column(csv, "flop")]), 6e12);
}

TEST_F(ReportCsv, FlopColumnSumsToTheExecutedTotal)
{
    size_t c_flop = column(csv_, "flop"), c_meas = column(csv_, "flop_measured"),
           c_extra = column(csv_, "flop_extrapolated"),
           c_share = column(csv_, "share_of_executed_flop");
    double flop = 0, measured = 0, share = 0;
    for (const auto &row : csv_.rows) {
        flop += std::stod(row[c_flop]);
        measured += std::stod(row[c_meas]);
        share += std::stod(row[c_share]);
        EXPECT_NEAR(std::stod(row[c_flop]),
                    std::stod(row[c_meas]) + std::stod(row[c_extra]),
                    1e-12 * std::stod(row[c_flop]));
    }
    double executed = json_number("\"executed\": {", "value");
    double executed_measured = json_number("\"executed\": {", "flop_measured");
    ASSERT_GT(executed, 0);
    EXPECT_NEAR(flop, executed, 1e-9 * executed);
    EXPECT_NEAR(measured, executed_measured, 1e-9 * executed_measured);
    EXPECT_NEAR(share, 1.0, 1e-6);
}

// Renders the CSV with the address space limited to what the process uses plus 1 MiB: 0 when
// that failed and wrote nothing, else why not.
int csv_with_1_mib_to_spare(const rp_report *r)
{
    FILE *f = tmpfile();
    unsigned long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    int have = statm && fscanf(statm, "%lu", &pages) == 1;
    if (statm)
        fclose(statm);
    struct rlimit lim = {(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (1u << 20),
                         RLIM_INFINITY};
    if (!f || !have || setrlimit(RLIMIT_AS, &lim) != 0)
        return 3;
    if (rp_render_csv(r, f) != -1)
        return 4;
    return ftell(f) == 0 ? 0 : 5;
}

// Out of memory while writing the CSV is an error (the command exits 1), never a CSV that
// looks complete: a header without rows reads as "nothing ran". In a child process whose
// address space is limited to what it uses plus 1 MiB, a report of 4 million signatures
// cannot have its rows ordered (16 MiB per array): nothing is written, and -1 returned.
TEST(ReportCsvMemory, OutOfMemoryWritesNothingAndFails)
{
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer reserves address space far beyond any such limit";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    GTEST_SKIP() << "AddressSanitizer reserves address space far beyond any such limit";
#endif
#endif
    static rp_model m = {};
    static rp_report r = {};
    m.n_sigs = 4u << 20;
    std::vector<uint32_t> order(m.n_sigs);
    for (uint32_t i = 0; i < m.n_sigs; i++)
        order[i] = i;
    r.m = &m;
    r.sig_order = order.data();
    r.scale = 1;
    FILE *all = tmpfile();
    ASSERT_NE(all, nullptr);
    EXPECT_EQ(rp_render_csv(&r, all), 0); // with memory: the header, no rows
    EXPECT_GT(ftell(all), 0);
    fclose(all);
    EXPECT_EXIT(_exit(csv_with_1_mib_to_spare(&r)), ::testing::ExitedWithCode(0), "");
}

// ---- export --perfetto: an interval without launches ---------------------------------------

// Where no aggregates were written (nothing ran), the rates drop to zero; they do not keep the
// previous interval's value (a counter series keeps its last value in the viewers).
TEST(ExportPerfetto, RatesDropToZeroWhereNothingRan)
{
    TempDir tmp;
    std::string trace = tmp.path("gap.fmtrace"), out = tmp.path("gap.json");
    Identity id;
    id.world_size = 1;
    write_small_trace(trace, id, "k", {{0, 1}, {3, 4}}, 2e12); // nothing ran in [1 s, 3 s)
    auto r = run_flopmeter("export --perfetto " + q(out) + " " + q(trace));
    ASSERT_EQ(r.status, 0) << r.err;
    // the FLOP/s series as a viewer draws it: each value holds until the next one
    std::string check =
        "python3 -c 'import json,sys\n"
        "ev=[e for e in json.load(open(sys.argv[1]))[\"traceEvents\"]"
        " if e[\"ph\"]==\"C\" and e[\"name\"]==\"FLOP/s\"]\n"
        "s=sorted((e[\"ts\"],e[\"args\"][\"fp32.cuda\"]) for e in ev)\n"
        "total=sum(v*(s[i+1][0]-t)/1e6 for i,(t,v) in enumerate(s[:-1]))\n"
        "print(s)\n"
        "sys.exit(0 if abs(total-4e12)<=1e-6*4e12 and s[-1][1]==0 else 1)' " + q(out);
    EXPECT_EQ(system(check.c_str()), 0) << "the FLOP/s counter does not integrate to 4e12";
}

} // namespace
