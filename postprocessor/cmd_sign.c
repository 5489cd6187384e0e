/* cmd_sign.c - `flopmeter keygen` and `flopmeter sign`: Ed25519 keys, and signatures appended
 * to complete, intact traces. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "flopmeter/trace_sign.h"
#include "flopmeter/trace_status.h"

static const char keygen_usage[] =
    "usage: flopmeter keygen --out NAME\n"
    "\n"
    "Creates an Ed25519 key pair: NAME.key (private, PKCS#8 PEM, mode 0600) and NAME.pub\n"
    "(public, PEM). Existing files are never overwritten. Keys from\n"
    "`openssl genpkey -algorithm ed25519` work as well.\n";

static const char sign_usage[] =
    "usage: flopmeter sign --key KEY.pem [--signer TEXT] TRACE\n"
    "\n"
    "Verifies TRACE, then appends a signature over its chain head (and so over every byte of\n"
    "it) made with the Ed25519 private key KEY.pem. Incomplete or damaged traces are refused.\n"
    "A trace may carry several signatures; each covers everything before it.\n"
    "\n"
    "  --key KEY.pem    the private key\n"
    "  --signer TEXT    who signs, stored with the signature (free text)\n";

int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'}, {0, 0, 0, 0}};
    if (cli_wants_help(argc, argv)) {
        fputs(keygen_usage, stdout);
        return EXIT_OK;
    }
    const char *out = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'o') {
            cli_error("keygen: unknown option or missing value '%s' (see flopmeter keygen --help)",
                      argv[optind - 1]);
            return EXIT_BAD_INPUT;
        }
        out = optarg;
    }
    if (!out || optind != argc) {
        cli_error("keygen: expected --out NAME and nothing else (see flopmeter keygen --help)");
        return EXIT_BAD_INPUT;
    }
    char priv[4096], pub[4096], err[512];
    if ((size_t)snprintf(priv, sizeof priv, "%s.key", out) >= sizeof priv ||
        (size_t)snprintf(pub, sizeof pub, "%s.pub", out) >= sizeof pub) {
        cli_error("keygen: name too long");
        return EXIT_BAD_INPUT;
    }
    int rc = fm_keygen(priv, pub, err, sizeof err);
    if (rc != FM_OK) {
        cli_error("%s", err);
        return cli_exit_for_status(rc);
    }
    uint8_t key[FM_ED25519_PUBKEY_LEN];
    char fp[33];
    if (fm_load_public_key(pub, key, err, sizeof err) != FM_OK) {
        cli_error("%s", err);
        return EXIT_INTERNAL;
    }
    fm_key_fingerprint(key, fp);
    printf("private key: %s\npublic key:  %s\nfingerprint: %s\n", priv, pub, fp);
    return EXIT_OK;
}

int cmd_sign(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"signer", required_argument, NULL, 's'},
                                         {0, 0, 0, 0}};
    if (cli_wants_help(argc, argv)) {
        fputs(sign_usage, stdout);
        return EXIT_OK;
    }
    const char *key = NULL, *signer = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key = optarg; break;
        case 's': signer = optarg; break;
        default:
            cli_error("sign: unknown option or missing value '%s' (see flopmeter sign --help)",
                      argv[optind - 1]);
            return EXIT_BAD_INPUT;
        }
    }
    if (!key || optind != argc - 1) {
        cli_error("sign: expected --key KEY.pem and one TRACE (see flopmeter sign --help)");
        return EXIT_BAD_INPUT;
    }
    char err[1024];
    int rc = fm_sign_trace(argv[optind], key, signer, err, sizeof err);
    if (rc != FM_OK) {
        cli_error("%s", err);
        return cli_exit_for_status(rc);
    }
    printf("%s: signed\n", argv[optind]);
    return EXIT_OK;
}
