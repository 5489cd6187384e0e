/* sign.c - Ed25519 key handling and trace signatures (see trace_sign.h). */
#define _GNU_SOURCE
#include "flopmeter/trace_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "record_codec.h"
#include "sysio.h"
#include "flopmeter/trace_status.h"
#include "flopmeter/trace_verify.h"

static void message(uint8_t out[FM_SIGN_DOMAIN_LEN + 16 + FM_HASH_LEN], const uint8_t id[16],
                    const uint8_t head[FM_HASH_LEN])
{
    memcpy(out, FM_SIGN_DOMAIN, FM_SIGN_DOMAIN_LEN);
    memcpy(out + FM_SIGN_DOMAIN_LEN, id, 16);
    memcpy(out + FM_SIGN_DOMAIN_LEN + 16, head, FM_HASH_LEN);
}

/* Creates path exclusively with the given mode and writes one PEM object into it. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, int private_key, char *errbuf,
                     size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(errbuf, len, "%s: cannot create: %s", path, strerror(errno));
        return FM_E_IO;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        snprintf(errbuf, len, "%s: cannot open: %s", path, strerror(errno));
        return FM_E_IO;
    }
    int ok = private_key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_PUBKEY(f, key);
    ok = (fflush(f) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        snprintf(errbuf, len, "%s: cannot write the key", path);
        return FM_E_IO;
    }
    return FM_OK;
}

int fm_keygen(const char *private_path, const char *public_path, char *errbuf, size_t len)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &key) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        snprintf(errbuf, len, "cannot generate an Ed25519 key (libcrypto)");
        return FM_E_CRYPTO;
    }
    EVP_PKEY_CTX_free(ctx);
    int rc = write_pem(private_path, 0600, key, 1, errbuf, len);
    if (rc == FM_OK) {
        rc = write_pem(public_path, 0644, key, 0, errbuf, len);
        if (rc != FM_OK)
            unlink(private_path); /* no half-made pair */
    }
    EVP_PKEY_free(key);
    return rc;
}

/* Reads a PEM key of either kind; private == 1 requires a private key. */
static EVP_PKEY *read_key(const char *path, int private_only, char *errbuf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errbuf, len, "%s: cannot open key: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (!key && !private_only) {
        rewind(f);
        key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    }
    fclose(f);
    if (!key) {
        snprintf(errbuf, len, "%s: not a PEM %s key", path, private_only ? "private" : "Ed25519");
        return NULL;
    }
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        snprintf(errbuf, len, "%s: the key is not an Ed25519 key", path);
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

int fm_load_public_key(const char *path, uint8_t out[FM_ED25519_PUBKEY_LEN], char *errbuf,
                       size_t len)
{
    EVP_PKEY *key = read_key(path, 0, errbuf, len);
    if (!key)
        return FM_E_CRYPTO;
    size_t n = FM_ED25519_PUBKEY_LEN;
    int ok = EVP_PKEY_get_raw_public_key(key, out, &n) == 1 && n == FM_ED25519_PUBKEY_LEN;
    EVP_PKEY_free(key);
    if (!ok) {
        snprintf(errbuf, len, "%s: cannot read the public key", path);
        return FM_E_CRYPTO;
    }
    return FM_OK;
}

int fm_signature_valid(const uint8_t pubkey[FM_ED25519_PUBKEY_LEN],
                       const uint8_t trace_id[16], const uint8_t head[FM_HASH_LEN],
                       const uint8_t *sig, size_t sig_len)
{
    if (sig_len != FM_ED25519_SIG_LEN)
        return 0;
    uint8_t msg[FM_SIGN_DOMAIN_LEN + 16 + FM_HASH_LEN];
    message(msg, trace_id, head);
    EVP_PKEY *key =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pubkey, FM_ED25519_PUBKEY_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = key && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

void fm_key_fingerprint(const uint8_t pubkey[FM_ED25519_PUBKEY_LEN], char out[33])
{
    uint8_t h[FM_HASH_LEN];
    fm_sha256_2(pubkey, FM_ED25519_PUBKEY_LEN, NULL, 0, h);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Appends a finished chunk to the trace, provided the file still ends where the verification
 * saw it end. */
static int append_chunk(const char *path, uint64_t expected_size, const fm_bytebuf *chunk,
                        char *errbuf, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, len, "%s: cannot open for appending: %s", path, strerror(errno));
        return FM_E_IO;
    }
    struct stat st;
    int rc = FM_OK;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != expected_size) {
        snprintf(errbuf, len, "%s: the file changed while it was being signed", path);
        rc = FM_E_IO;
    } else if (fm_write_all(fd, chunk->data, chunk->len) != 0 || fm_fsync_retry(fd) != 0) {
        snprintf(errbuf, len, "%s: cannot append the signature: %s", path, strerror(errno));
        if (ftruncate(fd, (off_t)expected_size) != 0) {
            /* nothing more can be done; verify will report the damaged tail */
        }
        rc = FM_E_IO;
    }
    if (close(fd) != 0 && rc == FM_OK) {
        snprintf(errbuf, len, "%s: cannot close: %s", path, strerror(errno));
        rc = FM_E_IO;
    }
    return rc;
}

int fm_sign_trace(const char *trace_path, const char *private_key_path, const char *signer,
                  char *errbuf, size_t len)
{
    EVP_PKEY *key = read_key(private_key_path, 1, errbuf, len);
    if (!key)
        return FM_E_CRYPTO;
    fm_verify_result res;
    int rc = fm_verify_file(trace_path, NULL, &res);
    if (rc != FM_OK) {
        snprintf(errbuf, len, "refusing to sign: %s", res.message);
        EVP_PKEY_free(key);
        return rc;
    }

    uint8_t pub[FM_ED25519_PUBKEY_LEN], sig[FM_ED25519_SIG_LEN];
    uint8_t msg[FM_SIGN_DOMAIN_LEN + 16 + FM_HASH_LEN];
    size_t pub_len = sizeof pub, sig_len = sizeof sig;
    message(msg, res.info.trace_id, res.info.head);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_PKEY_get_raw_public_key(key, pub, &pub_len) == 1 &&
             EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, &sig_len, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (!ok || sig_len != FM_ED25519_SIG_LEN) {
        snprintf(errbuf, len, "%s: signing failed (libcrypto)", private_key_path);
        return FM_E_CRYPTO;
    }

    fm_record r = {.kind = FM_REC_SIGNATURE};
    r.u.signature.algorithm = FM_SIGALG_ED25519;
    r.u.signature.public_key.ptr = (const char *)pub;
    r.u.signature.public_key.len = sizeof pub;
    memcpy(r.u.signature.signed_head, res.info.head, FM_HASH_LEN);
    r.u.signature.time_ns = fm_now_unix_ns();
    r.u.signature.signer = fm_str_c(signer);
    r.u.signature.signature.ptr = (const char *)sig;
    r.u.signature.signature.len = sizeof sig;

    fm_bytebuf body, payload;
    fm_chunk_builder b;
    fm_bytebuf_init(&body, FM_MAX_RECORD_BODY);
    fm_bytebuf_init(&payload, FM_MAX_RECORD_BODY + 32);
    const char *why = "";
    rc = fm_record_encode(&r, &body, &payload, &why);
    if (rc == FM_OK)
        rc = fm_chunk_builder_init(&b, 6);
    if (rc == FM_OK) {
        rc = fm_chunk_build(&b, FM_CHUNK_SIGNATURE, res.info.chunks, res.info.head, payload.data,
                            payload.len, 1);
        if (rc == FM_OK)
            rc = append_chunk(trace_path, res.info.bytes_valid, &b.out, errbuf, len);
        else
            snprintf(errbuf, len, "%s: cannot build the signature chunk", trace_path);
        fm_chunk_builder_free(&b);
    } else {
        snprintf(errbuf, len, "%s: cannot encode the signature: %s", trace_path, why);
    }
    fm_bytebuf_free(&body);
    fm_bytebuf_free(&payload);
    return rc;
}
