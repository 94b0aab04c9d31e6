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

// Client verification (SecureSocket). Revocation is checked where the client was given a CRL:
// a chain whose CAs have none loaded is not refused for the missing list, so a missing CRL
// passes and leaves no error behind for SSL_get_verify_result.
static inline int cssl_verify_tolerating_missing_crl(int ok, X509_STORE_CTX *ctx) {
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL) {
        X509_STORE_CTX_set_error(ctx, X509_V_OK);
        return 1;
    }
    return ok;
}
static inline void cssl_ctx_verify_peer(SSL_CTX *ctx) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, cssl_verify_tolerating_missing_crl);
}

// Chain-building certificates (flash.net's addBinaryChainBuildingCertificate with trusted =
// false): intermediates the client may use to build the path, as if the server had sent them,
// without trusting them. OpenSSL takes the peer's certificates as the only untrusted ones, so
// the verification runs here with both.
static inline int cssl_verify_with_chain_certs(X509_STORE_CTX *ctx, void *arg) {
    STACK_OF(X509) *extra = (STACK_OF(X509) *)arg;
    STACK_OF(X509) *peer = X509_STORE_CTX_get0_untrusted(ctx);
    STACK_OF(X509) *all = peer != NULL ? sk_X509_dup(peer) : sk_X509_new_null();
    if (all == NULL) return 0;
    for (int i = 0; i < sk_X509_num(extra); i++) {
        if (sk_X509_push(all, sk_X509_value(extra, i)) <= 0) { sk_X509_free(all); return 0; }
    }
    X509_STORE_CTX_set0_untrusted(ctx, all);
    int rc = X509_verify_cert(ctx);
    X509_STORE_CTX_set0_untrusted(ctx, peer);
    sk_X509_free(all);
    return rc;
}
static inline STACK_OF(X509) *cssl_cert_stack_new(void) { return sk_X509_new_null(); }
static inline void cssl_cert_stack_free(STACK_OF(X509) *stack) { sk_X509_pop_free(stack, X509_free); }
// Parses one DER certificate (all of `der`, nothing after it); NULL when it is not one.
static inline X509 *cssl_x509_from_der(const unsigned char *der, long length) {
    const unsigned char *cursor = der;
    X509 *cert = d2i_X509(NULL, &cursor, length);
    if (cert != NULL && cursor != der + length) { X509_free(cert); cert = NULL; }
    ERR_clear_error();
    return cert;
}
static inline int cssl_cert_stack_push(STACK_OF(X509) *stack, X509 *cert) {
    if (sk_X509_push(stack, cert) <= 0) { X509_free(cert); return 0; }
    return 1;
}
static inline void cssl_ctx_set_chain_certs(SSL_CTX *ctx, STACK_OF(X509) *stack) {
    SSL_CTX_set_cert_verify_callback(ctx, cssl_verify_with_chain_certs, stack);
}
// Adds a DER certificate to the context's trust store as a trust anchor.
static inline int cssl_ctx_add_trust_der(SSL_CTX *ctx, const unsigned char *der, long length) {
    X509 *cert = cssl_x509_from_der(der, length);
    if (cert == NULL) return 0;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int ok = X509_STORE_add_cert(store, cert) == 1;
    X509_free(cert);
    // A certificate trusted on purpose is an anchor even when it is not self-signed (an
    // intermediate the client pins), as flash.net's `trusted` means.
    if (ok) X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    ERR_clear_error();
    return ok;
}
// How many revocation lists the bytes hold (one DER list, or any number in PEM); 0 for none.
static inline int cssl_crl_count(const unsigned char *bytes, long length) {
    const unsigned char *cursor = bytes;
    X509_CRL *crl = d2i_X509_CRL(NULL, &cursor, length);
    int count = 0;
    if (crl != NULL && cursor == bytes + length) {
        count = 1;
    } else {
        BIO *bio = BIO_new_mem_buf(bytes, (int)length);
        X509_CRL *next;
        while (bio != NULL && (next = PEM_read_bio_X509_CRL(bio, NULL, cssl_no_passphrase, NULL)) != NULL) {
            count += 1;
            X509_CRL_free(next);
        }
        BIO_free(bio);
    }
    X509_CRL_free(crl);
    ERR_clear_error();
    return count;
}
// Adds certificate revocation lists (one DER list, or any number of PEM ones) to the trust
// store and turns on revocation checks for the whole chain; returns how many lists were taken.
static inline int cssl_ctx_add_crl(SSL_CTX *ctx, const unsigned char *bytes, long length) {
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    const unsigned char *cursor = bytes;
    X509_CRL *crl = d2i_X509_CRL(NULL, &cursor, length);
    if (crl != NULL && cursor == bytes + length) {
        if (X509_STORE_add_crl(store, crl) == 1) count = 1;
        X509_CRL_free(crl);
    } else {
        X509_CRL_free(crl);
        BIO *bio = BIO_new_mem_buf(bytes, (int)length);
        if (bio != NULL) {
            while ((crl = PEM_read_bio_X509_CRL(bio, NULL, cssl_no_passphrase, NULL)) != NULL) {
                if (X509_STORE_add_crl(store, crl) == 1) count += 1;
                X509_CRL_free(crl);
            }
            BIO_free(bio);
        }
    }
    ERR_clear_error();
    if (count > 0) X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return count;
}

// The peer's leaf certificate (a reference the caller frees): also after a handshake that
// refused it, when OpenSSL has the chain the peer sent but keeps no verified peer.
static inline X509 *cssl_peer_leaf(SSL *ssl) {
    X509 *leaf = SSL_get1_peer_certificate(ssl);
    if (leaf != NULL) return leaf;
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    if (chain == NULL || sk_X509_num(chain) == 0) return NULL;
    leaf = sk_X509_value(chain, 0);
    return X509_up_ref(leaf) == 1 ? leaf : NULL;
}

// A certificate's fields for SecureSocket.serverCertificate.
static inline int cssl_x509_name_text(const X509_NAME *name, char *buffer, int size) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return 0;
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    int length = BIO_read(bio, buffer, size - 1);
    BIO_free(bio);
    if (length < 0) length = 0;
    buffer[length] = 0;
    return length;
}
static inline int cssl_x509_subject(X509 *cert, char *buffer, int size) { return cssl_x509_name_text(X509_get_subject_name(cert), buffer, size); }
static inline int cssl_x509_issuer(X509 *cert, char *buffer, int size) { return cssl_x509_name_text(X509_get_issuer_name(cert), buffer, size); }
static inline long long cssl_asn1_time_seconds(const ASN1_TIME *time) {
    struct tm tm;
    if (time == NULL || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
    return (long long)timegm(&tm);
}
static inline long long cssl_x509_not_before(X509 *cert) { return cssl_asn1_time_seconds(X509_get0_notBefore(cert)); }
static inline long long cssl_x509_not_after(X509 *cert) { return cssl_asn1_time_seconds(X509_get0_notAfter(cert)); }
// The serial number as upper-case hex into `buffer`; 0 when it does not fit.
static inline int cssl_x509_serial_hex(X509 *cert, char *buffer, int size) {
    BIGNUM *number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    if (number == NULL) return 0;
    char *hex = BN_bn2hex(number);
    BN_free(number);
    if (hex == NULL) return 0;
    int length = (int)strlen(hex);
    int ok = length < size;
    if (ok) memcpy(buffer, hex, (size_t)length + 1);
    OPENSSL_free(hex);
    return ok ? length : 0;
}
// The DER encoding of a certificate into a buffer the caller frees with cssl_free.
static inline int cssl_x509_der(X509 *cert, unsigned char **der) { *der = NULL; return i2d_X509(cert, der); }
static inline void cssl_free(void *pointer) { OPENSSL_free(pointer); }

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

// A test CRL from `issuer` revoking one serial number, valid from an hour ago for a day.
static inline X509_CRL *cssl_make_crl(X509 *issuer, EVP_PKEY *issuer_key, long revoked_serial) {
    X509_CRL *crl = X509_CRL_new();
    X509_REVOKED *entry = X509_REVOKED_new();
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    ASN1_TIME *last = X509_gmtime_adj(NULL, -3600);
    ASN1_TIME *next = X509_gmtime_adj(NULL, 86400);
    int ok = crl != NULL && entry != NULL && serial != NULL && last != NULL && next != NULL
        && X509_CRL_set_version(crl, 1)
        && X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer))
        && X509_CRL_set1_lastUpdate(crl, last)
        && X509_CRL_set1_nextUpdate(crl, next)
        && ASN1_INTEGER_set(serial, revoked_serial)
        && X509_REVOKED_set_serialNumber(entry, serial)
        && X509_REVOKED_set_revocationDate(entry, last)
        && X509_CRL_add0_revoked(crl, entry);
    if (ok) entry = NULL;  // the CRL owns it now
    ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, issuer_key, EVP_sha256()) > 0;
    X509_REVOKED_free(entry);
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    if (!ok) { X509_CRL_free(crl); return NULL; }
    return crl;
}
static inline BIO *cssl_pem_crl(X509_CRL *crl) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL && PEM_write_bio_X509_CRL(bio, crl) != 1) { BIO_free(bio); return NULL; }
    return bio;
}
static inline int cssl_crl_der(X509_CRL *crl, unsigned char **der) { *der = NULL; return i2d_X509_CRL(crl, der); }

#endif
