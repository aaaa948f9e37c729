//! QUIC encrypts with AES-GCM when both ends are Plexus nodes: the patched
//! libp2p-tls (`patches/libp2p-tls/PATCH.md`) offers it before
//! ChaCha20-Poly1305, which costs more per byte on CPUs with AES
//! instructions. The client's order decides, so the client's list is what
//! counts; the server must follow it and still accept all three suites.

use libp2p::identity::Keypair;
use rustls::{
    crypto::CryptoProvider,
    CipherSuite,
    CipherSuite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    },
};

/// The suites `provider` offers or accepts, first choice first.
fn suites(provider: &CryptoProvider) -> Vec<CipherSuite> {
    provider.cipher_suites.iter().map(|s| s.suite()).collect()
}

#[test]
fn quic_offers_aes_gcm_first_and_still_accepts_chacha20() {
    let key = Keypair::generate_ed25519();
    let client = libp2p_tls::make_client_config(&key, None).unwrap();
    let offered = suites(client.crypto_provider());
    assert_eq!(
        offered,
        [
            TLS13_AES_128_GCM_SHA256,
            TLS13_AES_256_GCM_SHA384,
            TLS13_CHACHA20_POLY1305_SHA256
        ],
        "the client's first choice is the suite a connection uses"
    );

    let server = libp2p_tls::make_server_config(&key).unwrap();
    assert!(!server.ignore_client_order, "the client's order decides");
    let accepted = suites(server.crypto_provider());
    assert!(
        accepted.contains(&TLS13_CHACHA20_POLY1305_SHA256),
        "peers that prefer ChaCha20 (without AES instructions) still connect"
    );
}
