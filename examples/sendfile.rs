//! Stream mode end to end: sends a file with `io::copy` into a
//! `StreamWebSocket`; a wsock server on 127.0.0.1 writes what it reads to a
//! new file. A progress bar (indicatif, on stderr when it is a terminal)
//! follows the stream's own byte counter from another thread, so nothing
//! wraps the stream. Prints bytes, seconds, MB/s and both files' checksums.
//!
//! Run it with `cargo run --release --example sendfile [FILE]`; without a
//! FILE it sends 256 MiB of generated data.
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use wsock::{Server, StreamWebSocket};

/// FNV-1a over a file: enough to see that both copies are the same.
fn checksum(path: &Path) -> io::Result<u64> {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut file = BufReader::new(File::open(path)?);
    let mut buf = [0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hash);
        }
        for &b in &buf[..n] {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

fn generated(size: u64) -> io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("wsock-sendfile-{}.bin", std::process::id()));
    let mut file = io::BufWriter::new(File::create(&path)?);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..size / 8 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        file.write_all(&state.to_le_bytes())?;
    }
    file.flush()?;
    Ok(path)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (source, generated_source) = match std::env::args_os().nth(1) {
        Some(path) => (PathBuf::from(path), false),
        None => (generated(256 << 20)?, true),
    };
    let target = std::env::temp_dir().join(format!("wsock-received-{}.bin", std::process::id()));

    let server = Server::bind("127.0.0.1:0")?;
    let url = format!("ws://{}/upload", server.local_addr()?);
    let to = target.clone();
    let receiver = std::thread::spawn(move || -> io::Result<u64> {
        let mut stream = server.accept()?.accept_stream()?;
        let mut file = io::BufWriter::new(File::create(&to)?);
        let n = io::copy(&mut stream, &mut file)?; // until the sender's close
        file.flush()?;
        Ok(n)
    });

    let started = Instant::now();
    let mut stream = StreamWebSocket::connect(&url)?;
    let bar = ProgressBar::new(std::fs::metadata(&source)?.len()).with_style(
        ProgressStyle::with_template(
            "{wide_bar} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec}",
        )?,
    );
    // Another thread reads the counter ten times a second until `done` is dropped.
    let (written, bar_at) = (stream.bytes_written_counter(), bar.clone());
    let (done, stop) = mpsc::channel::<()>();
    let ticker = std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) =
            stop.recv_timeout(Duration::from_millis(100))
        {
            bar_at.set_position(written.get());
        }
    });
    let sent = io::copy(&mut File::open(&source)?, &mut stream)?;
    stream.close(1000, "file sent")?;
    drop(done);
    ticker.join().expect("the progress thread panicked");
    bar.finish_and_clear(); // the line below says it all
    let received = receiver.join().expect("the receiving thread panicked")?;
    let seconds = started.elapsed().as_secs_f64();

    println!(
        "sent {sent} bytes, received {received} bytes in {seconds:.2} s: {:.0} MB/s",
        sent as f64 / 1e6 / seconds
    );
    let (a, b) = (checksum(&source)?, checksum(&target)?);
    println!(
        "checksum (FNV-1a) sent {a:016x}, received {b:016x}: {}",
        if a == b { "same" } else { "DIFFERENT" }
    );
    std::fs::remove_file(&target)?;
    if generated_source {
        std::fs::remove_file(&source)?;
    }
    if a != b || sent != received {
        return Err("the received file differs".into());
    }
    Ok(())
}
