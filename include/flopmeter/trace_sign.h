/* trace_sign.h - Ed25519 keys and trace signatures (OpenSSL libcrypto).
 *
 * A signature is appended to a complete, intact trace as a SIGNATURE chunk that continues the
 * hash chain; it signs FM_SIGN_DOMAIN, the trace id and the chain head it covers, so it vouches
 * for every byte before it. Keys are PEM files: PKCS#8 for private keys, SubjectPublicKeyInfo
 * for public keys, as `openssl genpkey -algorithm ed25519` writes them. */
#ifndef FLOPMETER_TRACE_SIGN_H
#define FLOPMETER_TRACE_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes a new key pair (private key with mode 0600). Refuses to overwrite. */
int fm_keygen(const char *private_path, const char *public_path, char *errbuf, size_t len);

/* Reads the raw 32-byte public key from a public-key PEM file (or from a private key file). */
int fm_load_public_key(const char *path, uint8_t out[FM_ED25519_PUBKEY_LEN], char *errbuf,
                       size_t len);

/* Verifies the trace, then appends a signature by the private key. signer is free text (may
 * be NULL). Refuses traces that are incomplete or fail verification. */
int fm_sign_trace(const char *trace_path, const char *private_key_path, const char *signer,
                  char *errbuf, size_t len);

/* Checks one Ed25519 signature over (domain, trace id, head). Returns 1 when valid. */
int fm_signature_valid(const uint8_t pubkey[FM_ED25519_PUBKEY_LEN],
                       const uint8_t trace_id[16], const uint8_t head[FM_HASH_LEN],
                       const uint8_t *sig, size_t sig_len);

/* Lower-case hex SHA-256 fingerprint of a public key, first 16 bytes (32 hex digits + NUL). */
void fm_key_fingerprint(const uint8_t pubkey[FM_ED25519_PUBKEY_LEN], char out[33]);

#ifdef __cplusplus
}
#endif
#endif
