// test_sign.cpp - Ed25519 keys and trace signatures: who signed, and that nothing changed
// after signing, including a consistent rewrite of the whole tail that the chain alone cannot
// reveal.
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "test_support.h"

extern "C" {
#include "bytes.h"
#include "chunk.h"
#include "flopmeter/trace_sign.h"
#include "flopmeter/trace_verify.h"
}

namespace {

using fmtest::TempDir;
using Bytes = std::vector<uint8_t>;

class Sign : public ::testing::Test {
  protected:
    void SetUp() override
    {
        trace_ = tmp_.path("t.fmtrace");
        fmtest::write_sample_trace(trace_);
        char err[512];
        ASSERT_EQ(fm_keygen(tmp_.path("a.key").c_str(), tmp_.path("a.pub").c_str(), err,
                            sizeof err),
                  FM_OK)
            << err;
        ASSERT_EQ(fm_keygen(tmp_.path("b.key").c_str(), tmp_.path("b.pub").c_str(), err,
                            sizeof err),
                  FM_OK)
            << err;
    }

    fm_verify_result verify_with(const std::string &pub)
    {
        fm_verify_options o = {};
        char err[512];
        if (!pub.empty()) {
            EXPECT_EQ(fm_load_public_key(pub.c_str(), o.trusted_key, err, sizeof err), FM_OK);
            o.have_trusted_key = 1;
        }
        fm_verify_result res;
        fm_verify_file(trace_.c_str(), &o, &res);
        return res;
    }

    TempDir tmp_;
    std::string trace_;
};

TEST_F(Sign, KeyFilesArePemAndThePrivateOneIsPrivate)
{
    struct stat st;
    ASSERT_EQ(stat(tmp_.path("a.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto pem = fmtest::read_file(tmp_.path("a.pub"));
    EXPECT_EQ(std::string(pem.begin(), pem.begin() + 26), "-----BEGIN PUBLIC KEY-----");
    char err[512];
    EXPECT_EQ(fm_keygen(tmp_.path("a.key").c_str(), tmp_.path("c.pub").c_str(), err, sizeof err),
              FM_E_IO); // never overwrites
    uint8_t k1[32], k2[32];
    ASSERT_EQ(fm_load_public_key(tmp_.path("a.pub").c_str(), k1, err, sizeof err), FM_OK);
    ASSERT_EQ(fm_load_public_key(tmp_.path("a.key").c_str(), k2, err, sizeof err), FM_OK);
    EXPECT_EQ(memcmp(k1, k2, 32), 0); // the public half of the private key
}

TEST_F(Sign, SignedTraceVerifiesWithTheRightKeyOnly)
{
    char err[512];
    ASSERT_EQ(fm_sign_trace(trace_.c_str(), tmp_.path("a.key").c_str(), "lab A", err, sizeof err),
              FM_OK)
        << err;
    auto res = verify_with(tmp_.path("a.pub"));
    EXPECT_EQ(res.status, FM_OK) << res.message;
    EXPECT_EQ(res.signatures, 1u);
    EXPECT_EQ(res.signatures_valid, 1u);
    EXPECT_TRUE(res.trusted_signature_found);

    res = verify_with(tmp_.path("b.pub"));
    EXPECT_EQ(res.status, FM_E_CRYPTO);
    EXPECT_NE(std::string(res.message).find("no valid signature by the trusted key"),
              std::string::npos);

    EXPECT_EQ(verify_with("").status, FM_OK); // without a trusted key: intact and signed
}

TEST_F(Sign, UnsignedTraceFailsWhenAKeyIsRequired)
{
    EXPECT_EQ(verify_with(tmp_.path("a.pub")).status, FM_E_CRYPTO);
}

TEST_F(Sign, SeveralSignaturesEachCoverWhatCameBefore)
{
    char err[512];
    ASSERT_EQ(fm_sign_trace(trace_.c_str(), tmp_.path("a.key").c_str(), "A", err, sizeof err),
              FM_OK);
    ASSERT_EQ(fm_sign_trace(trace_.c_str(), tmp_.path("b.key").c_str(), "B", err, sizeof err),
              FM_OK);
    auto res = verify_with(tmp_.path("a.pub"));
    EXPECT_EQ(res.status, FM_OK) << res.message;
    EXPECT_EQ(res.signatures_valid, 2u);
    EXPECT_EQ(verify_with(tmp_.path("b.pub")).status, FM_OK);
}

TEST_F(Sign, AnyChangeAfterSigningIsDetected)
{
    char err[512];
    ASSERT_EQ(fm_sign_trace(trace_.c_str(), tmp_.path("a.key").c_str(), nullptr, err, sizeof err),
              FM_OK);
    Bytes signed_bytes = fmtest::read_file(trace_);
    auto offs = fmtest::chunk_offsets(signed_bytes);
    size_t sig_chunk = offs.back();
    // flipping a byte of the signature chunk's stored signature, or its header
    for (size_t pos = sig_chunk; pos < signed_bytes.size(); pos += 7) {
        Bytes b = signed_bytes;
        b[pos] ^= 0x20;
        fmtest::write_file(trace_, b);
        EXPECT_NE(verify_with(tmp_.path("a.pub")).status, FM_OK) << pos;
    }
    // dropping the signature leaves an intact but unsigned trace
    fmtest::write_file(trace_, Bytes(signed_bytes.begin(), signed_bytes.begin() + (long)sig_chunk));
    EXPECT_EQ(verify_with("").status, FM_OK);
    EXPECT_EQ(verify_with(tmp_.path("a.pub")).status, FM_E_CRYPTO);
}

// Decompresses chunk bytes, lets patch() edit the payload, and rebuilds the chunk on prev.
Bytes rebuild_chunk(const uint8_t *chunk, const uint8_t prev[32],
                    const std::function<void(Bytes &)> &patch)
{
    fm_chunk_header h;
    const char *why;
    EXPECT_EQ(fm_chunk_header_parse(chunk, &h, &why), FM_OK);
    Bytes raw(h.raw_len);
    z_stream zs = {};
    inflateInit(&zs);
    EXPECT_EQ(fm_chunk_inflate(&zs, chunk + FM_CHUNK_HEADER_SIZE, h.comp_len, raw.data(),
                               raw.size()),
              FM_OK);
    inflateEnd(&zs);
    patch(raw);
    fm_chunk_builder cb;
    fm_chunk_builder_init(&cb, 6);
    EXPECT_EQ(fm_chunk_build(&cb, h.type, h.seq, prev, raw.data(), raw.size(), h.records), FM_OK);
    Bytes out(cb.out.data, cb.out.data + cb.out.len);
    fm_chunk_builder_free(&cb);
    return out;
}

// The attack the chain alone cannot reveal: change something, then recompute every later
// hash, the FINAL record's chain head and even the head the signature names. The chain is
// consistent again; only the signature shows the change.
TEST_F(Sign, ConsistentRewriteOfTheWholeTailBreaksTheSignature)
{
    char err[512];
    ASSERT_EQ(fm_sign_trace(trace_.c_str(), tmp_.path("a.key").c_str(), nullptr, err, sizeof err),
              FM_OK);
    Bytes orig = fmtest::read_file(trace_);
    auto offs = fmtest::chunk_offsets(orig);
    Bytes b(orig.begin(), orig.begin() + FM_FILE_HEADER_SIZE);
    b[FM_FH_OFF_CREATED] ^= 0x01; // the change: one bit of the creation time
    uint8_t prev[32];
    fm_sha256_2(b.data(), FM_FILE_HEADER_SIZE, nullptr, 0, prev);
    for (size_t i = 0; i < offs.size(); i++) {
        const uint8_t *c = orig.data() + offs[i];
        uint32_t type = fm_get_u16(c + FM_CH_OFF_TYPE);
        Bytes rebuilt = rebuild_chunk(c, prev, [&](Bytes &raw) {
            if (type == FM_CHUNK_FINAL) // chain_head: the last 32 bytes of the body
                memcpy(raw.data() + raw.size() - 32, prev, 32);
            if (type == FM_CHUNK_SIGNATURE) {
                // body: kind, length (varint), algorithm, 33-byte key, then the signed head
                size_t p = 1;
                while (raw[p] & 0x80)
                    p++;
                memcpy(raw.data() + p + 1 + 1 + 33, prev, 32);
            }
        });
        b.insert(b.end(), rebuilt.begin(), rebuilt.end());
        fm_sha256_2(rebuilt.data(), rebuilt.size(), nullptr, 0, prev);
    }
    fmtest::write_file(trace_, b);
    auto res = verify_with("");
    EXPECT_EQ(res.status, FM_E_CHAIN) << res.message;
    EXPECT_NE(std::string(res.message).find("signature does not verify"), std::string::npos)
        << res.message;

    // without the signature the rewritten trace is consistent: the documented limit
    auto offs2 = fmtest::chunk_offsets(b);
    fmtest::write_file(trace_, Bytes(b.begin(), b.begin() + (long)offs2.back()));
    EXPECT_EQ(verify_with("").status, FM_OK);
}

TEST_F(Sign, IncompleteOrDamagedTracesAreNotSigned)
{
    Bytes b = fmtest::read_file(trace_);
    auto offs = fmtest::chunk_offsets(b);
    fmtest::write_file(trace_, Bytes(b.begin(), b.begin() + (long)offs.back()));
    char err[512];
    EXPECT_EQ(fm_sign_trace(trace_.c_str(), tmp_.path("a.key").c_str(), nullptr, err, sizeof err),
              FM_E_TRUNCATED);
    EXPECT_NE(std::string(err).find("refusing to sign"), std::string::npos) << err;
    // the refused trace is unchanged
    EXPECT_EQ(fmtest::read_file(trace_).size(), offs.back());
}

TEST_F(Sign, KeysFromOpensslWorkAndOtherKeyTypesAreRefused)
{
    if (system("openssl version >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "the openssl command is not installed";
    std::string ed = tmp_.path("ed.pem"), edpub = tmp_.path("ed.pub.pem"),
                rsa = tmp_.path("rsa.pem");
    ASSERT_EQ(system(("openssl genpkey -algorithm ed25519 -out '" + ed + "' 2>/dev/null").c_str()), 0);
    ASSERT_EQ(system(("openssl pkey -in '" + ed + "' -pubout -out '" + edpub + "' 2>/dev/null").c_str()), 0);
    char err[512];
    ASSERT_EQ(fm_sign_trace(trace_.c_str(), ed.c_str(), "openssl key", err, sizeof err), FM_OK)
        << err;
    EXPECT_EQ(verify_with(edpub).status, FM_OK);

    ASSERT_EQ(system(("openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 -out '" + rsa +
                      "' 2>/dev/null").c_str()),
              0);
    EXPECT_EQ(fm_sign_trace(trace_.c_str(), rsa.c_str(), nullptr, err, sizeof err), FM_E_CRYPTO);
    EXPECT_NE(std::string(err).find("not an Ed25519 key"), std::string::npos) << err;
    uint8_t k[32];
    EXPECT_EQ(fm_load_public_key(tmp_.path("none").c_str(), k, err, sizeof err), FM_E_CRYPTO);
    fmtest::write_file(tmp_.path("junk.pem"), {'x', 'y'});
    EXPECT_EQ(fm_load_public_key(tmp_.path("junk.pem").c_str(), k, err, sizeof err), FM_E_CRYPTO);
}

} // namespace
