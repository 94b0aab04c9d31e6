// CLibSSL: the OpenSSL 3 headers (Debian's libssl-dev) for UVNet's TLS engine. Every helper
// here is a static inline function, prefixed `cssl_`, and exists only because Swift cannot
// express it directly: OpenSSL spells many calls as macros over SSL_CTX_ctrl/BIO_ctrl, and
// callbacks that must be C function pointers are simplest written in C.
#ifndef CLIBSSL_SHIM_H
#define CLIBSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <string.h>
#include <time.h>

// The passphrase callback for every PEM read: with none, OpenSSL asks for an encrypted key's
// passphrase on the terminal, which would hang a relay at start or on reload; refuse instead.
static inline int cssl_no_passphrase(char *buf, int size, int rwflag, void *userdata) {
    (void)buf; (void)size; (void)rwflag; (void)userdata;
    return -1;
}

// Macros over SSL_CTX_ctrl / SSL_ctrl / BIO_ctrl.
static inline int cssl_ctx_set_protocol_range(SSL_CTX *ctx, int min, int max) {
    return SSL_CTX_set_min_proto_version(ctx, min) == 1 && SSL_CTX_set_max_proto_version(ctx, max) == 1;
}
static inline long cssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long cssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
static inline int cssl_set_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
static inline long cssl_bio_set_mem_eof_return(BIO *bio, int value) { return BIO_set_mem_eof_return(bio, value); }
static inline int cssl_bio_reset(BIO *bio) { return (int)BIO_reset(bio); }
// The bytes a memory BIO has allocated (it keeps its largest size until freed).
static inline size_t cssl_bio_mem_capacity(BIO *bio) {
    BUF_MEM *mem = NULL;
    BIO_get_mem_ptr(bio, &mem);
    return mem != NULL ? mem->max : 0;
}
// SSL_OP_* are built by a macro Swift can't import. Renegotiation (a cheap way to make a server
// work hard) and compression (CRIME) off; the server's cipher order wins; a server that keeps no
// sessions sends no tickets.
static inline void cssl_ctx_set_common_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
}
static inline void cssl_ctx_set_no_tickets(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
}
static inline int cssl_tls12(void) { return TLS1_2_VERSION; }
static inline int cssl_tls13(void) { return TLS1_3_VERSION; }

// Loads a PEM certificate chain (leaf first, then the CA certificates the relay sends with it)
// from memory, as SSL_CTX_use_certificate_chain_file does from a file. Returns the number of
// certificates taken, 0 when there is no leaf or a certificate after it does not parse (a
// chain cut short there would load, and fail only in the clients' handshakes).
static inline int cssl_ctx_use_chain_pem(SSL_CTX *ctx, const void *pem, int length) {
    BIO *bio = BIO_new_mem_buf(pem, length);
    if (bio == NULL) return 0;
    int count = 0;
    X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, cssl_no_passphrase, NULL);
    if (leaf != NULL && SSL_CTX_use_certificate(ctx, leaf) == 1 && SSL_CTX_clear_chain_certs(ctx) == 1) {
        count = 1;
        X509 *ca;
        while ((ca = PEM_read_bio_X509(bio, NULL, cssl_no_passphrase, NULL)) != NULL) {
            if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) { X509_free(ca); count = 0; break; }
            count += 1;
        }
        // The loop ends on "no start line" at the end of the data: not an error. Anything else
        // (a damaged certificate) is, and stays queued for the caller's message.
        unsigned long last = ERR_peek_last_error();
        if (count > 0) {
            if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) ERR_clear_error();
            else count = 0;
        }
    }
    X509_free(leaf);
    BIO_free(bio);
    return count;
}

// Loads a PEM private key (any algorithm, unencrypted) from memory.
static inline int cssl_ctx_use_key_pem(SSL_CTX *ctx, const void *pem, int length) {
    BIO *bio = BIO_new_mem_buf(pem, length);
    if (bio == NULL) return 0;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, cssl_no_passphrase, NULL);
    int ok = key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1;
    EVP_PKEY_free(key);
    BIO_free(bio);
    return ok;
}

// Adds every certificate of a PEM bundle in memory to the context's trust store; returns how many.
static inline int cssl_ctx_add_trust_pem(SSL_CTX *ctx, const void *pem, int length) {
    BIO *bio = BIO_new_mem_buf(pem, length);
    if (bio == NULL) return 0;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    X509 *cert;
    while ((cert = PEM_read_bio_X509(bio, NULL, cssl_no_passphrase, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, cert) == 1) count += 1;
        X509_free(cert);
    }
    ERR_clear_error();
    BIO_free(bio);
    return count;
}

// The leaf's notAfter as seconds since 1970 (0 when there is none): for the expiry metric.
static inline long long cssl_ctx_leaf_not_after(SSL_CTX *ctx) {
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    if (leaf == NULL) return 0;
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1) return 0;
    return (long long)timegm(&tm);
}

// ALPN is optional (PROTOCOL.md §6): pick the first of the server's protocols the client
// offers, and when none matches, go on without ALPN rather than failing the handshake.
static const unsigned char cssl_server_alpn[] = "\x0bgamerelay/1\x08http/1.1";
static inline int cssl_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                   const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    if (SSL_select_next_proto((unsigned char **)out, outlen, cssl_server_alpn, sizeof(cssl_server_alpn) - 1,
                              in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}
static inline void cssl_ctx_enable_server_alpn(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, cssl_alpn_select, NULL);
}

// Test certificates: a P-256 key, and a certificate for it signed by `issuer_key` (itself when
// NULL). Used by tests and the fuzz target, which must not depend on the openssl command.
static inline EVP_PKEY *cssl_make_p256_key(void) {
    return EVP_EC_gen("P-256");
}
static inline int cssl_add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}
static inline X509 *cssl_make_certificate(const char *common_name, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                                          int is_ca, const char *subject_alt_names, long serial,
                                          long not_before_offset, long not_after_offset) {
    X509 *cert = X509_new();
    if (cert == NULL) return NULL;
    int ok = X509_set_version(cert, 2)
        && ASN1_INTEGER_set(X509_get_serialNumber(cert), serial)
        && X509_gmtime_adj(X509_getm_notBefore(cert), not_before_offset) != NULL
        && X509_gmtime_adj(X509_getm_notAfter(cert), not_after_offset) != NULL
        && X509_set_pubkey(cert, key)
        && X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
                                      (const unsigned char *)common_name, -1, -1, 0)
        && X509_set_issuer_name(cert, X509_get_subject_name(issuer != NULL ? issuer : cert));
    X509 *signer = issuer != NULL ? issuer : cert;
    if (ok && is_ca) {
        ok = cssl_add_ext(cert, signer, NID_basic_constraints, "critical,CA:TRUE")
            && cssl_add_ext(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (ok && !is_ca) {
        ok = cssl_add_ext(cert, signer, NID_basic_constraints, "critical,CA:FALSE")
            && cssl_add_ext(cert, signer, NID_ext_key_usage, "serverAuth");
    }
    if (ok && subject_alt_names != NULL) ok = cssl_add_ext(cert, signer, NID_subject_alt_name, subject_alt_names);
    if (ok) ok = cssl_add_ext(cert, cert, NID_subject_key_identifier, "hash");
    if (ok && issuer != NULL) ok = cssl_add_ext(cert, signer, NID_authority_key_identifier, "keyid:always");
    if (ok) ok = X509_sign(cert, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) { X509_free(cert); return NULL; }
    return cert;
}

// PEM text of a certificate or key into a memory BIO the caller reads and frees.
static inline BIO *cssl_pem_certificate(X509 *cert) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL && PEM_write_bio_X509(bio, cert) != 1) { BIO_free(bio); return NULL; }
    return bio;
}
static inline BIO *cssl_pem_key(EVP_PKEY *key) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) { BIO_free(bio); return NULL; }
    return bio;
}
static inline BIO *cssl_pem_key_encrypted(EVP_PKEY *key, const char *passphrase) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL && PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)passphrase) != 1) {
        BIO_free(bio);
        return NULL;
    }
    return bio;
}
static inline long cssl_bio_contents(BIO *bio, const char **data) {
    char *pointer = NULL;
    long length = BIO_get_mem_data(bio, &pointer);
    *data = pointer;
    return length;
}

#endif
