//! A wscat-like tool: connect to a WebSocket URL, print what arrives, send
//! each line of stdin as a text message. `--listen PORT` serves one
//! connection instead; `-x TEXT` sends one message, prints one reply and
//! exits (for shell pipelines).
//!
//! ```text
//! cargo run --example wscat -- ws://127.0.0.1:9001/
//! cargo run --example wscat -- --listen 9001
//! cargo run --example wscat -- -x hello wss://echo.example.org/
//! ```
//!
//! Flags: `--binary` (send lines as binary), `--subprotocol P`, `--header
//! 'Name: value'`, `--ca FILE` (trust a PEM CA), `--insecure` (no
//! certificate checks), `--proxy URL`. Exit codes: 0 after a normal close,
//! 1 for a failure (its status is printed), 2 for bad arguments.
use std::io::BufRead;
use std::process::ExitCode;

use wsock::{Message, MessageWebSocket, Server};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(why)) => {
            eprintln!("wscat: {why}\nusage: wscat [flags] URL | wscat --listen PORT (see examples/wscat.rs)");
            ExitCode::from(2)
        }
        Err(Failure::Ws(e)) => {
            eprintln!("wscat: {e} (status {:?})", e.status());
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Ws(wsock::Error),
}

impl From<wsock::Error> for Failure {
    fn from(e: wsock::Error) -> Self {
        Failure::Ws(e)
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let mut builder = MessageWebSocket::builder();
    let (mut url, mut listen, mut once, mut binary) = (None, None, None, false);
    let mut it = args.iter();
    let value = |flag: &str, it: &mut std::slice::Iter<String>| {
        it.next()
            .cloned()
            .ok_or_else(|| Failure::Usage(format!("{flag} needs a value")))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--listen" | "-l" => listen = Some(value(arg, &mut it)?),
            "-x" | "--execute" => once = Some(value(arg, &mut it)?),
            "--binary" | "-b" => binary = true,
            "--subprotocol" | "-s" => builder = builder.protocols([value(arg, &mut it)?]),
            "--header" | "-H" => {
                let h = value(arg, &mut it)?;
                let (name, v) = h
                    .split_once(':')
                    .ok_or_else(|| Failure::Usage(format!("{h:?} is not 'Name: value'")))?;
                builder = builder.header(name.trim(), v.trim());
            }
            "--ca" => {
                let file = value(arg, &mut it)?;
                let pem =
                    std::fs::read(&file).map_err(|e| Failure::Usage(format!("{file}: {e}")))?;
                builder = builder.root_certificate_pem(&pem);
            }
            "--insecure" | "-k" => builder = builder.danger_accept_invalid_certs(true),
            "--proxy" => builder = builder.proxy(value(arg, &mut it)?.as_str()),
            flag if flag.starts_with('-') => {
                return Err(Failure::Usage(format!("unknown flag {flag}")))
            }
            _ => url = Some(arg.clone()),
        }
    }
    let ws = match (listen, url) {
        (Some(port), None) => {
            let server = Server::bind((
                "127.0.0.1",
                port.parse::<u16>()
                    .map_err(|_| Failure::Usage(format!("bad port {port}")))?,
            ))?;
            let addr = server.local_addr().map_err(wsock::Error::from)?;
            eprintln!("listening on ws://{addr}/");
            server.accept()?.accept_message()?
        }
        (None, Some(url)) => builder.connect(&url)?,
        _ => return Err(Failure::Usage("give a URL or --listen PORT".into())),
    };
    let to_message = move |line: String| {
        if binary {
            Message::Binary(line.into_bytes().into())
        } else {
            Message::Text(line.into())
        }
    };
    if let Some(text) = once {
        ws.send(to_message(text))?;
        print(&ws.recv()?);
        return Ok(ws.close(1000, "")?);
    }
    // stdin to messages on another thread; when it ends, close.
    let tx = ws.sender();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(to_message(line)).is_err() {
                return;
            }
        }
        let _ = tx.close(1000, "");
    });
    for message in ws.messages() {
        print(&message?);
    }
    if let Some(f) = ws.close_frame() {
        eprintln!("closed: {} {:?}", f.code, f.reason);
    }
    Ok(())
}

fn print(m: &Message) {
    match m.as_text() {
        Some(text) => println!("< {text}"),
        None => println!(
            "< ({} bytes binary) {:02x?}",
            m.len(),
            &m.as_bytes()[..m.len().min(32)]
        ),
    }
}
