// test_support.cpp - helpers shared by the unit tests (see test_support.h).
#include "test_support.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sys/wait.h>

#include <gtest/gtest.h>

extern "C" {
#include "bytes.h"
#include "chunk.h"
#include "record_codec.h"
#include "flopmeter/trace_format.h"
#include "flopmeter/trace_totals.h"
}

namespace fmtest {

std::vector<uint8_t> read_file(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string &path, const std::vector<uint8_t> &bytes)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char *>(bytes.data()), (std::streamsize)bytes.size());
}

uint64_t write_sample_trace(const std::string &path, uint32_t chunk_target)
{
    fm_writer_options o;
    fm_writer_options_init(&o);
    o.chunk_target_bytes = chunk_target;
    o.flush_interval_ms = 100000;
    // fixed identity and times: the same bytes on every run, so failures reproduce
    o.have_trace_id = 1;
    for (int i = 0; i < 16; i++)
        o.trace_id[i] = (uint8_t)(0xa0 + i);
    o.created_unix_ns = 1767225600000000000ull;
    fm_writer *w = nullptr;
    char err[256];
    EXPECT_EQ(fm_writer_open(&w, path.c_str(), &o, err, sizeof err), FM_OK) << err;
    if (!w)
        return 0;

    fm_config_entry cfg[] = {{fm_str_c("mode"), fm_str_c("sampled")}};
    fm_record r = {};
    r.kind = FM_REC_RUN_META;
    r.u.run_meta.tool_version = fm_str_c("test");
    r.u.run_meta.run_id = fm_str_c("run-1");
    r.u.run_meta.host = fm_str_c("host");
    r.u.run_meta.pid = 42;
    r.u.run_meta.rank = 3;
    r.u.run_meta.local_rank = -1;
    r.u.run_meta.world_size = 4;
    r.u.run_meta.n_config = 1;
    r.u.run_meta.config = cfg;
    EXPECT_EQ(fm_writer_append(w, &r), FM_OK);

    fm_record d = {};
    d.kind = FM_REC_DEVICE;
    d.u.device.name = fm_str_c("GPU");
    d.u.device.chip = fm_str_c("GH100");
    EXPECT_EQ(fm_writer_append(w, &d), FM_OK);

    uint64_t mod = fm_writer_intern(w, "libx.so", 7);
    uint64_t sym = fm_writer_intern(w, "f", 1);
    fm_frame frames[2] = {{mod, sym, 16}, {mod, 0, 32}};
    fm_record cs = {};
    cs.kind = FM_REC_CALLSITE;
    cs.u.callsite.id = 1;
    cs.u.callsite.n_frames = 2;
    cs.u.callsite.frames = frames;
    EXPECT_EQ(fm_writer_append(w, &cs), FM_OK);

    fm_metric_def metrics[2] = {{fm_writer_intern(w, "m.ffma", 6), 0x01, 2.0},
                                {fm_writer_intern(w, "m.time", 6), FM_CLASS_NONE, 0.0}};
    fm_record g = {};
    g.kind = FM_REC_METRIC_GROUP;
    g.u.metric_group.id = 1;
    g.u.metric_group.chip = fm_str_c("GH100");
    g.u.metric_group.n_metrics = 2;
    g.u.metric_group.metrics = metrics;
    EXPECT_EQ(fm_writer_append(w, &g), FM_OK);

    fm_record ph = {};
    ph.kind = FM_REC_PHASE_DEF;
    ph.u.phase_def.id = 1;
    ph.u.phase_def.name = fm_writer_intern(w, "pretraining", 11);
    ph.u.phase_def.category = FM_PHASE_PRETRAINING;
    EXPECT_EQ(fm_writer_append(w, &ph), FM_OK);

    for (uint64_t i = 1; i <= 40; i++) {
        std::string name = "kernel_" + std::to_string(i);
        fm_record k = {};
        k.kind = FM_REC_KERNEL_SIGNATURE;
        k.u.kernel_signature.id = i;
        k.u.kernel_signature.name = fm_writer_intern(w, name.c_str(), name.size());
        k.u.kernel_signature.grid[0] = i;
        k.u.kernel_signature.block[0] = 128;
        k.u.kernel_signature.arg_hash = 0x0123456789abcdefull * i;
        k.u.kernel_signature.callsite = 1;
        EXPECT_EQ(fm_writer_append(w, &k), FM_OK);

        double values[2] = {100.0 * (double)i, 5000};
        fm_record s = {};
        s.kind = FM_REC_COUNTER_SAMPLE;
        s.u.counter_sample.signature = i;
        s.u.counter_sample.group = 1;
        s.u.counter_sample.passes = 1;
        s.u.counter_sample.n_values = 2;
        s.u.counter_sample.values = values;
        EXPECT_EQ(fm_writer_append(w, &s), FM_OK);

        fm_class_flop cl[2] = {{0x01, 200.0 * (double)i, 0.1 * (double)i}, {0x14, 1e12, 3e12}};
        fm_record a = {};
        a.kind = FM_REC_AGGREGATE;
        a.u.aggregate.interval_end_ns = 1000;
        a.u.aggregate.signature = i;
        a.u.aggregate.phase = 1;
        a.u.aggregate.launches = 10;
        a.u.aggregate.launches_measured = 1;
        a.u.aggregate.launches_extrapolated = 8;
        a.u.aggregate.busy_ns = 12345;
        a.u.aggregate.n_classes = 2;
        a.u.aggregate.classes = cl;
        EXPECT_EQ(fm_writer_append(w, &a), FM_OK);
    }
    fm_record pe = {};
    pe.kind = FM_REC_PHASE_EVENT;
    pe.u.phase_event.phase = 1;
    pe.u.phase_event.action = FM_PHASE_PUSH;
    EXPECT_EQ(fm_writer_append(w, &pe), FM_OK);

    fm_record dc = {};
    dc.kind = FM_REC_DECLARATION;
    dc.u.declaration.key = fm_writer_intern(w, "model.parameters", 16);
    dc.u.declaration.value = 1.5e9;
    EXPECT_EQ(fm_writer_append(w, &dc), FM_OK);

    fm_record dg = {};
    dg.kind = FM_REC_DEGRADATION;
    dg.u.degradation.kind = FM_DEGRADE_COUNTERS_BUSY;
    dg.u.degradation.api_result = -7;
    dg.u.degradation.message = fm_str_c("busy");
    EXPECT_EQ(fm_writer_append(w, &dg), FM_OK);

    fm_writer_stats st;
    fm_writer_get_stats(w, &st);
    fm_writer_final_info fi = {1767225601000000000ull, FM_EXIT_NORMAL, 0};
    EXPECT_EQ(fm_writer_close(w, &fi), FM_OK);
    return st.records;
}

std::vector<uint8_t> stored_record(const fm_record &r)
{
    fm_bytebuf body, out;
    fm_bytebuf_init(&body, 0);
    fm_bytebuf_init(&out, 0);
    const char *why = "";
    EXPECT_EQ(fm_record_encode(&r, &body, &out, &why), FM_OK) << why;
    std::vector<uint8_t> bytes(out.data, out.data + out.len);
    fm_bytebuf_free(&body);
    fm_bytebuf_free(&out);
    return bytes;
}

// The sums of the AGGREGATE records among stored records, read as a newer minor version's
// reader would (so that records no writer would write pass).
static void add_totals(const std::vector<std::vector<uint8_t>> &records, fm_totals *totals)
{
    fm_bytebuf arena;
    fm_bytebuf_init(&arena, FM_MAX_ARRAY_BYTES);
    for (const auto &b : records) {
        fm_dec d = {b.data(), b.data() + b.size(), 0};
        fm_record rec;
        const char *why = "";
        if (fm_record_decode(&d, 0xffff, &arena, &rec, &why) == FM_OK &&
            rec.kind == FM_REC_AGGREGATE)
            fm_totals_add_aggregate(totals, &rec.u.aggregate);
    }
    fm_bytebuf_free(&arena);
}

// Appends one chunk of the payload and moves prev on to its hash.
static void add_chunk(std::vector<uint8_t> &out, uint32_t type, uint64_t seq, uint8_t prev[32],
                      const std::vector<uint8_t> &payload, uint32_t records)
{
    fm_chunk_builder cb;
    fm_chunk_builder_init(&cb, 6);
    EXPECT_EQ(fm_chunk_build(&cb, type, seq, prev, payload.data(), payload.size(), records),
              FM_OK);
    out.insert(out.end(), cb.out.data, cb.out.data + cb.out.len);
    fm_sha256_2(cb.out.data, cb.out.len, nullptr, 0, prev);
    fm_chunk_builder_free(&cb);
}

std::vector<uint8_t> hand_built_trace(const std::vector<std::vector<uint8_t>> &records,
                                      uint64_t flags, unsigned minor,
                                      const std::function<void(fm_rec_final &)> &falsify,
                                      const std::function<void(std::vector<uint8_t> &)> &patch_final)
{
    fm_file_header fh = {};
    fh.major = FM_FORMAT_MAJOR;
    fh.minor = minor;
    fh.header_size = FM_FILE_HEADER_SIZE;
    fh.flags = flags;
    uint8_t hdr[FM_FILE_HEADER_SIZE];
    fm_file_header_pack(&fh, hdr);
    std::vector<uint8_t> out(hdr, hdr + sizeof hdr), payload;
    uint8_t prev[32];
    fm_sha256_2(hdr, sizeof hdr, nullptr, 0, prev);
    for (const auto &b : records)
        payload.insert(payload.end(), b.begin(), b.end());
    add_chunk(out, FM_CHUNK_RECORDS, 0, prev, payload, (uint32_t)records.size());

    fm_totals totals;
    fm_totals_init(&totals);
    add_totals(records, &totals);
    fm_class_flop classes[256];
    fm_record f = {};
    f.kind = FM_REC_FINAL;
    f.u.final.chunk_count = 1;
    f.u.final.record_count = records.size();
    f.u.final.launches_total = totals.launches;
    f.u.final.n_classes = fm_totals_classes(&totals, classes);
    f.u.final.classes = classes;
    memcpy(f.u.final.chain_head, prev, 32);
    if (falsify)
        falsify(f.u.final);
    std::vector<uint8_t> final_record = stored_record(f);
    if (patch_final)
        patch_final(final_record);
    add_chunk(out, FM_CHUNK_FINAL, 1, prev, final_record, 1);
    return out;
}

ReadResult read_all(const std::vector<uint8_t> &bytes)
{
    ReadResult res{};
    fm_reader *r = nullptr;
    char err[640] = "";
    res.status = fm_reader_open_memory(&r, bytes.data(), bytes.size(), "mem", err, sizeof err);
    if (res.status != FM_OK) {
        res.error = err;
        return res;
    }
    fm_record rec;
    while ((res.status = fm_reader_next(r, &rec)) == FM_OK) {
        res.records++;
        res.kinds.push_back(rec.kind);
    }
    res.info = *fm_reader_get_info(r);
    res.error = fm_reader_error(r);
    res.error_offset = fm_reader_error_offset(r);
    fm_reader_close(r);
    return res;
}

std::vector<size_t> chunk_offsets(const std::vector<uint8_t> &bytes)
{
    std::vector<size_t> offs;
    size_t pos = FM_FILE_HEADER_SIZE;
    while (pos + FM_CHUNK_HEADER_SIZE <= bytes.size()) {
        offs.push_back(pos);
        pos += FM_CHUNK_HEADER_SIZE + fm_get_u32(bytes.data() + pos + FM_CH_OFF_COMP_LEN);
    }
    return offs;
}

RunResult run_flopmeter(const std::string &args)
{
    TempDir tmp;
    std::string out = tmp.path("out"), err = tmp.path("err");
    std::string cmd = std::string("'") + FLOPMETER_BIN + "' " + args + " >'" + out + "' 2>'" +
                      err + "'";
    int st = system(cmd.c_str());
    RunResult r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    auto o = read_file(out), e = read_file(err);
    r.out.assign(o.begin(), o.end());
    r.err.assign(e.begin(), e.end());
    return r;
}

} // namespace fmtest
