//! `wss://` on one machine with no setup: a throwaway certificate for
//! `localhost` is made at start (with rcgen), a TLS server echoes, and a
//! client that trusts that certificate does one round trip and prints the
//! TLS session.
//!
//! Run it with `cargo run --example tls_echo`.
use wsock::{MessageWebSocket, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A leaf certificate (not a CA) for the name the client will use.
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])?.self_signed(&key)?;
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());

    let server = Server::bind_tls("127.0.0.1:0", cert_pem.as_bytes(), key_pem.as_bytes())?;
    let url = format!("wss://localhost:{}/echo", server.local_addr()?.port());
    std::thread::spawn(move || -> Result<(), wsock::Error> {
        let ws = server.accept()?.accept_message()?;
        for message in ws.messages() {
            ws.send(message?)?;
        }
        Ok(())
    });

    let ws = MessageWebSocket::builder()
        .root_certificate_pem(cert_pem.as_bytes()) // trust it, beside the usual roots
        .connect(&url)?;
    let tls = ws.info().tls.expect("a wss:// connection");
    println!(
        "connected to {url} over {} ({})",
        tls.version, tls.cipher_suite
    );
    ws.send_text("hello over TLS")?;
    println!("received: {}", ws.recv()?.as_text().unwrap_or("<binary>"));
    ws.close(1000, "done")?;
    Ok(())
}
