import Crypto

/// The two digests STUN's long-term credentials use, from swift-crypto: HMAC-SHA1 for
/// MESSAGE-INTEGRITY and MD5 for the key.
enum HMACSHA1 {
    /// HMAC-SHA1 of `bytes` under `key`: 20 bytes.
    static func authenticationCode(for bytes: [UInt8], key: [UInt8]) -> [UInt8] {
        Array(HMAC<Insecure.SHA1>.authenticationCode(for: bytes, using: SymmetricKey(data: key)))
    }

    /// MD5 of `bytes`: 16 bytes.
    static func md5(_ bytes: [UInt8]) -> [UInt8] {
        Array(Insecure.MD5.hash(data: bytes))
    }
}
