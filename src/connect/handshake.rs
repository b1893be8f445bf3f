//! The client's opening handshake over an open transport: the upgrade
//! request (with credentials), the answer read with `httparse` (HTTP/1.0
//! and 1.1 alike), checked as RFC 6455 section 4.1 says; a redirect, or a
//! refusal with its status, headers and body.
//!
//! Run by the connecting thread, within the connect budget.

use std::io;

use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;

use super::*;

/// The largest response head read.
const MAX_HEAD: usize = 16 << 10;
/// The most of a refusal's body kept for the error.
const MAX_BODY: usize = 64 << 10;
/// How long a refusal's body of unsaid length (no `Content-Length`, not
/// chunked) may pause before what came so far is taken as all of it.
const BODY_IDLE: Duration = Duration::from_millis(200);
const MAX_HEADERS: usize = 124;

/// An HTTP answer's head.
pub(super) struct Head {
    pub code: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every line of a header, joined with commas as RFC 9110 (5.3)
    /// allows for a list: a second line is not overlooked.
    fn header_list(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

/// What the server answered the upgrade request with.
pub(super) enum Answer {
    /// 101: the connection is a WebSocket; `tail` holds the bytes read
    /// past the head (the first frames).
    Upgraded {
        head: Head,
        negotiated: Negotiated,
        tail: Vec<u8>,
    },
    /// A redirect to this location.
    Redirect(String),
}

/// Sends the upgrade request for `target` and reads the answer.
pub(super) fn upgrade(
    transport: &Transport,
    target: &Target,
    options: &Options,
    credentials: Option<&Credentials>,
    other_host: bool,
    deadline: Deadline,
) -> Result<Answer> {
    let key = generate_key();
    let request = request(target, options, credentials, other_host, &key)?;
    let shown = &target.shown;
    transport
        .write_all_by(request.as_bytes(), deadline)
        .map_err(|e| io_or_timeout(shown, "sending the upgrade request", e, options))?;
    let (head, mut buf, used) = read_head(transport, shown, options, deadline)?;
    match head.code {
        101 => {
            let negotiated =
                check_upgrade(&head, &key, options).map_err(|reason| Error::Handshake {
                    peer: shown.clone(),
                    status: Status::InvalidServerResponse,
                    reason,
                })?;
            let tail = buf.split_off(used);
            Ok(Answer::Upgraded {
                head,
                negotiated,
                tail,
            })
        }
        // With max_redirects(0) a redirect is an answer like any other:
        // its status, with the Location header on the error.
        301 | 302 | 303 | 307 | 308
            if options.max_redirects > 0 && head.header("Location").is_some() =>
        {
            Ok(Answer::Redirect(
                head.header("Location").unwrap_or_default().to_owned(),
            ))
        }
        code => {
            let body = read_body(transport, &head, buf.split_off(used), deadline);
            Err(Error::UnexpectedStatus {
                url: shown.clone(),
                code,
                body: Some(String::from_utf8_lossy(&body).into_owned()),
                headers: head.headers,
                proxy: false,
            })
        }
    }
}

/// The request's bytes.
fn request(
    target: &Target,
    options: &Options,
    credentials: Option<&Credentials>,
    other_host: bool,
    key: &str,
) -> Result<String> {
    let url = &target.url;
    let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
    let mut out = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if !options.protocols.is_empty() {
        out.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            options.protocols.join(", ")
        ));
    }
    // The builder refuses user headers of these names (`Builder::header`).
    if let Some(deflate) = &options.compression {
        out.push_str(&format!(
            "Sec-WebSocket-Extensions: {}\r\n",
            deflate.offer()
        ));
    }
    let has_authorization = options
        .headers
        .0
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
    if let (Some(c), false) = (credentials, has_authorization) {
        out.push_str(&format!("Authorization: {}\r\n", basic(c)));
    }
    for (name, value) in &options.headers.0 {
        // A redirect to another host gets no secrets of the first.
        if other_host && crate::options::is_secret_header(name) {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    Ok(out)
}

/// The `Authorization` value of HTTP Basic (RFC 7617).
pub(super) fn basic(c: &Credentials) -> String {
    let pair = format!("{}:{}", c.user, c.password);
    format!("Basic {}", data_encoding::BASE64.encode(pair.as_bytes()))
}

/// Reads an HTTP answer's head: the head, every byte read, and how many of
/// them the head used.
fn read_head(
    transport: &Transport,
    shown: &str,
    options: &Options,
    deadline: Deadline,
) -> Result<(Head, Vec<u8>, usize)> {
    read_head_with(
        &mut |buf: &mut [u8], wait: Duration| {
            transport.set_read_timeout(Some(wait))?;
            transport.read(buf)
        },
        shown,
        options,
        deadline,
    )
}

/// [`read_head`] from any source: `read(buf, wait)` reads, waiting at
/// most `wait`.
pub(super) fn read_head_with(
    read: &mut dyn FnMut(&mut [u8], Duration) -> io::Result<usize>,
    shown: &str,
    options: &Options,
    deadline: Deadline,
) -> Result<(Head, Vec<u8>, usize)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if deadline.has_passed() {
            return Err(Error::Timeout {
                what: format!("the opening handshake with {shown}"),
                after: options.connect_timeout,
            });
        }
        match read(&mut chunk, deadline.slice(HANDSHAKE_SLICE).max(MIN_WAIT)) {
            Ok(0) => {
                let e = io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the server closed the connection before it answered",
                );
                return Err(Error::io(shown, "during the opening handshake", e));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if crate::transport::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted =>
            {
                continue
            }
            Err(e) => {
                return Err(io_or_timeout(
                    shown,
                    "during the opening handshake",
                    e,
                    options,
                ))
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let invalid = |reason: String| Error::Handshake {
            peer: shown.to_owned(),
            status: Status::InvalidServerResponse,
            reason,
        };
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(used)) => {
                let head = Head {
                    code: response.code.unwrap_or(0),
                    headers: response
                        .headers
                        .iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value).into_owned();
                            (h.name.to_ascii_lowercase(), value)
                        })
                        .collect(),
                };
                return Ok((head, buf, used));
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(invalid(format!(
                    "the answer's head is over {MAX_HEAD} bytes"
                )));
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(invalid(format!("not an HTTP answer: {e}"))),
        }
    }
}

/// Checks a 101 as RFC 6455 (4.1) and RFC 7692 say; returns the
/// subprotocol chosen and what permessage-deflate agreed.
fn check_upgrade(
    head: &Head,
    key: &str,
    options: &Options,
) -> std::result::Result<Negotiated, String> {
    let has_token = |name: &str, token: &str| {
        head.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has_token("Upgrade", "websocket") {
        return Err("the 101 has no \"Upgrade: websocket\"".into());
    }
    if !has_token("Connection", "upgrade") {
        return Err("the 101 has no \"Connection: Upgrade\"".into());
    }
    let expected = derive_accept_key(key.as_bytes());
    if head.header("Sec-WebSocket-Accept").map(str::trim) != Some(expected.as_str()) {
        return Err("the 101's Sec-WebSocket-Accept does not answer our key".into());
    }
    let deflate = match (
        head.header_list("Sec-WebSocket-Extensions"),
        &options.compression,
    ) {
        (None, _) => None,
        (Some(ext), Some(deflate)) => Some(deflate.accept(&ext)?),
        (Some(ext), None) => {
            return Err(format!(
                "the server chose extensions we did not offer: {ext:?}"
            ))
        }
    };
    let chosen = head.header_list("Sec-WebSocket-Protocol");
    let protocol = match chosen.as_deref().map(str::trim) {
        None => None,
        Some(p) if options.protocols.iter().any(|o| o == p) => Some(p.to_owned()),
        Some(p) => {
            return Err(format!(
                "the server chose subprotocol {p:?}, which we did not offer (we offered {:?})",
                options.protocols
            ))
        }
    };
    Ok(Negotiated { protocol, deflate })
}

/// Reads (bounded by [`MAX_BODY`] and the deadline) the body of a refusal:
/// as far as its `Content-Length` says, to its last chunk, or (with
/// neither) up to the close, but no longer than [`BODY_IDLE`] without a
/// byte: a server that keeps the connection open after a body of unsaid
/// length does not hold the connect for its whole budget.
fn read_body(transport: &Transport, head: &Head, mut body: Vec<u8>, deadline: Deadline) -> Vec<u8> {
    let length = head
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let until_close = length.is_none() && !chunked;
    let no_body = matches!(head.code, 100..=199 | 204 | 304);
    let wanted = if no_body {
        0
    } else {
        length.unwrap_or(MAX_BODY).min(MAX_BODY)
    };
    let slice = if until_close {
        BODY_IDLE
    } else {
        HANDSHAKE_SLICE
    };
    let mut chunk = [0u8; 4096];
    while body.len() < wanted && !(chunked && dechunk(&body).is_some()) && !deadline.has_passed() {
        let _ = transport.set_read_timeout(Some(deadline.slice(slice).max(MIN_WAIT)));
        match transport.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if until_close && crate::transport::is_timeout(&e) => break,
            Err(e)
                if crate::transport::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if chunked {
        body = dechunk(&body).unwrap_or(body);
    }
    body.truncate(wanted);
    body
}

/// A complete chunked body decoded; `None` while incomplete.
fn dechunk(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = raw;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if rest.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// A socket error during the handshake, or a Timeout if it is one.
pub(super) fn io_or_timeout(shown: &str, what: &str, e: io::Error, options: &Options) -> Error {
    if crate::transport::is_timeout(&e) {
        return Error::Timeout {
            what: format!("the opening handshake with {shown}"),
            after: options.connect_timeout,
        };
    }
    Error::io(shown, what, e)
}

/// The shortest read timeout set (zero would mean none).
const MIN_WAIT: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_once_complete() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n0\r\n\r\n").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(
            dechunk(b"5;x=1\r\nhello\r\n1\r\n!\r\n0\r\n\r\n").as_deref(),
            Some(&b"hello!"[..])
        );
        assert!(dechunk(b"5\r\nhel").is_none());
        assert!(dechunk(b"zz\r\n").is_none());
    }

    #[test]
    fn basic_credentials_encode_as_rfc_7617_says() {
        let c = Credentials {
            user: "Aladdin".into(),
            password: "open sesame".into(),
        };
        assert_eq!(basic(&c), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }
}
