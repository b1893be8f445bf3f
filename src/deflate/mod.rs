//! permessage-deflate (RFC 7692): the settings a program gives
//! ([`Deflate`]), the negotiation in the opening handshake (the client's
//! offer, the server's answer, the client's check of it), and what both
//! sides agreed ([`Agreed`]). The compression itself is in `codec.rs`.
//!
//! Pure: no socket. Run by the connecting or accepting thread.

mod codec;

pub(crate) use codec::{Compressor, Inflated, Inflater};

/// The extension's name in `Sec-WebSocket-Extensions`.
const NAME: &str = "permessage-deflate";

/// permessage-deflate (RFC 7692) settings, for
/// [`compression`](crate::Builder::compression) on both builders. The
/// defaults: level 6 (zlib's), 15-bit windows, context takeover both ways
/// (each message may refer back to the ones before: the best ratio), and
/// messages under 128 bytes sent uncompressed.
///
/// A client offers the extension with these settings; a server accepts
/// the first offer it can honour. Compression applies to the data
/// messages of [`send`](crate::MessageWebSocket::send) and its kin, to
/// stream-mode writes and to [`send_writer`](crate::MessageWebSocket::send_writer);
/// broadcasts and [`try_send`](crate::MessageWebSocket::try_send) go
/// uncompressed (a broadcast is encoded once for all its connections),
/// which RFC 7692 allows at any time. Control frames are never compressed.
///
/// Memory: a connection allocates its compressor on its first compressed
/// message and its inflater on the first compressed message it receives,
/// so idle connections cost nothing more. While messages flow, a
/// compressor at 15 bits holds about 300 KiB and an inflater about 40 KiB;
/// each window bit less halves the compressor's window. After a second
/// with nothing received both go (back to a small pool the process's
/// connections share), and the connection keeps the last 32 KiB each way
/// to prime them again; with no context takeover nothing is kept between
/// messages.
///
/// ```
/// use wsock::{Deflate, MessageWebSocket};
/// let builder = MessageWebSocket::builder()
///     .compression(Deflate::default().level(9).client_no_context_takeover(true));
/// let plain = MessageWebSocket::builder().compression(None);
/// # drop((builder, plain));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deflate {
    level: u32,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    threshold: usize,
}

impl Default for Deflate {
    fn default() -> Self {
        Deflate {
            level: 6,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            threshold: 128,
        }
    }
}

impl Deflate {
    /// The compression level, 1 (fastest) to 9 (smallest); 6 by default.
    /// Values above 9 count as 9, 0 as 1.
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.clamp(1, 9);
        self
    }

    /// The largest LZ77 window the server compresses with, as a power of
    /// two, 9 to 15 (values outside count as the nearest). A client asks
    /// the server for it (`server_max_window_bits`); a server uses it for
    /// its own messages. Fewer bits: less memory, a worse ratio.
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits.clamp(9, 15);
        self
    }

    /// The largest window the client compresses with (9 to 15): a client
    /// uses it for its own messages; a server asks it of a client that
    /// offers `client_max_window_bits`.
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits.clamp(9, 15);
        self
    }

    /// The server compresses each message on its own
    /// (`server_no_context_takeover`): a client asks for it, a server does
    /// it. Costs ratio, saves keeping the window between messages.
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// The client compresses each message on its own
    /// (`client_no_context_takeover`): a client does it and says so, a
    /// server asks for it.
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Messages with fewer payload bytes than this go uncompressed (below
    /// about 100 bytes deflate rarely pays for its header); 128 by default,
    /// 0 compresses all.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// The client's offer: what it asks of the server, and that it takes
    /// a `client_max_window_bits` answer.
    pub(crate) fn offer(&self) -> String {
        let mut offer = String::from(NAME);
        if self.server_no_context_takeover {
            offer.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            offer.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            offer.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        offer.push_str("; client_max_window_bits");
        offer
    }
}

/// What both sides agreed, from this side's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The window our messages are compressed with; `None`: we send
    /// uncompressed only (the peer asked for 8 bits, which zlib cannot
    /// make; RFC 7692 lets a sender leave any message uncompressed).
    pub(crate) send_window: Option<u8>,
    /// Our compressor starts afresh for each message.
    pub(crate) send_reset: bool,
    /// The peer's compressor starts afresh for each message.
    pub(crate) receive_reset: bool,
    pub(crate) level: u32,
    pub(crate) threshold: usize,
    /// The `Sec-WebSocket-Extensions` value of the server's answer.
    pub(crate) extension: String,
}

impl Agreed {
    /// Messages of this many bytes or more are compressed (`usize::MAX`:
    /// none, when we may not compress at all).
    pub(crate) fn compress_from(&self) -> usize {
        match self.send_window {
            Some(_) => self.threshold,
            None => usize::MAX,
        }
    }
}

/// One extension parameter: name, and value if any.
type Param<'a> = (&'a str, Option<&'a str>);

/// The parameters of one `permessage-deflate` offer or answer in a
/// `Sec-WebSocket-Extensions` element; `None` for another extension.
fn parse_element(element: &str) -> Option<Vec<Param<'_>>> {
    let mut parts = element.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case(NAME) {
        return None;
    }
    Some(
        parts
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
                None => (p, None),
            })
            .collect(),
    )
}

/// A parameter's value without the quotes of a quoted string (RFC 7692
/// 7.1: `"10"` is `10`); unbalanced quotes are kept, so the value is
/// refused.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// The parameters as flags and window bits; an error names what is wrong.
#[derive(Debug, Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

fn window_bits(name: &str, value: Option<&str>) -> Result<u8, String> {
    let value = value.ok_or(format!("{name} has no value"))?;
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) if !value.starts_with('0') => Ok(bits),
        _ => Err(format!(
            "{name}={value:?} is not a window size of 8 to 15 bits"
        )),
    }
}

fn read_params(params: &[Param<'_>]) -> Result<Params, String> {
    let mut out = Params::default();
    for (i, &(name, value)) in params.iter().enumerate() {
        if params[..i]
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Err(format!("{name} appears twice"));
        }
        let flag = |on: &mut bool| match value {
            None => {
                *on = true;
                Ok(())
            }
            Some(v) => Err(format!("{name} takes no value (it has {v:?})")),
        };
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" => flag(&mut out.server_no_context_takeover)?,
            "client_no_context_takeover" => flag(&mut out.client_no_context_takeover)?,
            "server_max_window_bits" => {
                out.server_max_window_bits = Some(window_bits(name, value)?)
            }
            "client_max_window_bits" => {
                out.client_max_window_bits = Some(match value {
                    None => None,
                    Some(_) => Some(window_bits(name, value)?),
                })
            }
            _ => return Err(format!("unknown parameter {name}")),
        }
    }
    Ok(out)
}

/// The window we compress with when the peer allows `allowed` bits and we
/// want at most `ours`; `None` if zlib cannot go that low.
fn our_window(allowed: u8, ours: u8) -> Option<u8> {
    (allowed >= 9).then_some(allowed.min(ours))
}

impl Deflate {
    /// The server's choice among the client's offers (all its
    /// `Sec-WebSocket-Extensions` values): the first `permessage-deflate`
    /// offer it can honour, and the answer; `None` if there is none.
    pub(crate) fn answer(&self, offers: &[&str]) -> Option<Agreed> {
        let elements = offers.iter().flat_map(|v| v.split(','));
        for params in elements.filter_map(parse_element) {
            let offer = match read_params(&params) {
                Ok(offer) => offer,
                Err(why) => {
                    log::debug!("declining a permessage-deflate offer: {why}");
                    continue;
                }
            };
            let mut answer = String::from(NAME);
            let send_reset = offer.server_no_context_takeover || self.server_no_context_takeover;
            if send_reset {
                answer.push_str("; server_no_context_takeover");
            }
            let receive_reset = offer.client_no_context_takeover || self.client_no_context_takeover;
            if receive_reset {
                answer.push_str("; client_no_context_takeover");
            }
            let allowed = offer.server_max_window_bits.unwrap_or(15);
            let send_window = our_window(allowed, self.server_max_window_bits);
            if let Some(bits) = offer.server_max_window_bits {
                // 8 bits: answered as asked; we then send uncompressed.
                let bits = send_window.unwrap_or(bits);
                answer.push_str(&format!("; server_max_window_bits={bits}"));
            }
            if let Some(offered) = offer.client_max_window_bits {
                let want = self.client_max_window_bits.min(offered.unwrap_or(15));
                if want < 15 {
                    answer.push_str(&format!("; client_max_window_bits={want}"));
                }
            }
            return Some(Agreed {
                send_window,
                send_reset,
                receive_reset,
                level: self.level,
                threshold: self.threshold,
                extension: answer,
            });
        }
        None
    }

    /// The client's check of the server's `Sec-WebSocket-Extensions`
    /// answer to [`offer`](Self::offer): what was agreed, or why the answer
    /// is not one the offer allows.
    pub(crate) fn accept(&self, answer: &str) -> Result<Agreed, String> {
        let elements: Vec<&str> = answer.split(',').map(str::trim).collect();
        let [element] = elements[..] else {
            return Err(format!(
                "the server accepted several extensions ({answer:?}); we offered permessage-deflate once"
            ));
        };
        let params = parse_element(element).ok_or(format!(
            "the server chose an extension we did not offer: {element:?}"
        ))?;
        let params = read_params(&params)
            .map_err(|why| format!("the server's permessage-deflate answer is invalid: {why}"))?;
        if self.server_no_context_takeover && !params.server_no_context_takeover {
            return Err(
                "the server's permessage-deflate answer leaves out server_no_context_takeover, which we asked for".into(),
            );
        }
        match params.server_max_window_bits {
            None if self.server_max_window_bits < 15 => {
                return Err(format!(
                    "the server's permessage-deflate answer leaves out server_max_window_bits, which we asked to be {}",
                    self.server_max_window_bits
                ))
            }
            Some(bits) if bits > self.server_max_window_bits => {
                return Err(format!(
                    "the server's permessage-deflate answer has server_max_window_bits={bits}, over the {} we asked for",
                    self.server_max_window_bits
                ))
            }
            _ => {}
        }
        let allowed = match params.client_max_window_bits {
            None => 15,
            Some(Some(bits)) => bits,
            Some(None) => return Err(
                "the server's permessage-deflate answer has client_max_window_bits without a value"
                    .into(),
            ),
        };
        Ok(Agreed {
            send_window: our_window(allowed, self.client_max_window_bits),
            send_reset: params.client_no_context_takeover || self.client_no_context_takeover,
            receive_reset: params.server_no_context_takeover,
            level: self.level,
            threshold: self.threshold,
            extension: element.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_offer_is_accepted_as_it_stands() {
        let d = Deflate::default();
        assert_eq!(d.offer(), "permessage-deflate; client_max_window_bits");
        let agreed = d.answer(&[&d.offer()]).unwrap();
        assert_eq!(agreed.extension, "permessage-deflate");
        assert_eq!(agreed.send_window, Some(15));
        assert!(!agreed.send_reset && !agreed.receive_reset);
        let client = d.accept(&agreed.extension).unwrap();
        assert_eq!(client.send_window, Some(15));
    }

    #[test]
    fn a_server_honours_what_the_offer_asks() {
        let d = Deflate::default();
        let offer = "permessage-deflate; server_no_context_takeover; \
                     client_no_context_takeover; server_max_window_bits=10; client_max_window_bits";
        let a = d.answer(&[offer]).unwrap();
        assert_eq!(
            a.extension,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"
        );
        assert_eq!(
            (a.send_window, a.send_reset, a.receive_reset),
            (Some(10), true, true)
        );
        // Asking for a smaller client window needs the client's consent.
        let small = Deflate::default().client_max_window_bits(9);
        assert_eq!(
            small
                .answer(&["permessage-deflate; client_max_window_bits"])
                .unwrap()
                .extension,
            "permessage-deflate; client_max_window_bits=9"
        );
        assert_eq!(
            small.answer(&["permessage-deflate"]).unwrap().extension,
            "permessage-deflate"
        );
    }

    #[test]
    fn a_server_takes_the_first_offer_it_can_honour() {
        let d = Deflate::default();
        let offers = [
            "x-webkit-deflate-frame, permessage-deflate; bogus",
            "permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=12",
        ];
        let a = d.answer(&offers).unwrap();
        assert_eq!(a.send_window, Some(12));
        assert!(d
            .answer(&["permessage-deflate; client_no_context_takeover=1"])
            .is_none());
        assert!(d.answer(&["x-webkit-deflate-frame"]).is_none());
        // Eight bits: accepted, and our messages go uncompressed.
        let eight = d
            .answer(&["permessage-deflate; server_max_window_bits=8"])
            .unwrap();
        assert_eq!(eight.send_window, None);
        assert_eq!(
            eight.extension,
            "permessage-deflate; server_max_window_bits=8"
        );
    }

    #[test]
    fn a_client_refuses_answers_its_offer_did_not_allow() {
        let d = Deflate::default()
            .server_max_window_bits(10)
            .server_no_context_takeover(true);
        let offer = d.offer();
        assert!(
            offer.contains("server_max_window_bits=10")
                && offer.contains("server_no_context_takeover")
        );
        let ok = d
            .accept("permessage-deflate; server_no_context_takeover; server_max_window_bits=9")
            .unwrap();
        assert!(ok.receive_reset);
        for bad in [
            "permessage-deflate; server_max_window_bits=9",
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; mystery",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10, permessage-deflate",
            "x-webkit-deflate-frame",
        ] {
            assert!(d.accept(bad).is_err(), "{bad}");
        }
        let plain = Deflate::default();
        let a = plain
            .accept("permessage-deflate; client_no_context_takeover; client_max_window_bits=\"12\"")
            .unwrap();
        assert_eq!((a.send_window, a.send_reset), (Some(12), true));
        assert_eq!(
            plain
                .accept("permessage-deflate; client_max_window_bits=8")
                .unwrap()
                .send_window,
            None
        );
        assert!(plain
            .accept("permessage-deflate; client_max_window_bits=08")
            .is_err());
    }
}
