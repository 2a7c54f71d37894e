//! The client's side of the control protocol.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::proto::{
    self, client_mac, ct_eq, hex, random_bytes, read_msg, server_mac, unhex, write_msg, Limits,
    MarkPhase, Msg, PeerError, PeerResults, TestSpec, COOKIE_LEN, PROTO_VERSION,
};
use super::sys::{self, SockOpts};

/// How long the client waits for a control reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// An authenticated control session with a peer.
#[derive(Debug)]
pub struct ClientSession {
    ctrl: TcpStream,
    peer: SocketAddr,
    /// The peer's limits.
    pub limits: Limits,
    /// The peer's online vCPUs.
    pub peer_vcpus: u32,
    /// The peer's software string.
    pub peer_software: String,
}

/// Where a test's data goes, as the peer announced it.
#[derive(Clone, Debug)]
pub struct Ready {
    /// Data listener (TCP) or socket (UDP) of the test.
    pub addr: SocketAddr,
    /// The cookie data connections present.
    pub cookie: Vec<u8>,
}

impl ClientSession {
    /// Connects to a peer and authenticates both ways with the token.
    pub fn connect(peer: SocketAddr, token: &[u8]) -> Result<Self, PeerError> {
        let ctx = |e: String| format!("peer {peer}: {e}");
        let mut ctrl = sys::tcp_connect(&peer, &SockOpts::default(), Duration::from_secs(10))
            .map_err(|e| {
                ctx(format!(
                    "cannot connect: {e} (is `skubench serve` running there?)"
                ))
            })?;
        let _ = ctrl.set_nodelay(true);
        ctrl.set_read_timeout(Some(REPLY_TIMEOUT))
            .and_then(|_| ctrl.set_write_timeout(Some(REPLY_TIMEOUT)))
            .map_err(|e| ctx(e.to_string()))?;
        let cn = random_bytes(32).map_err(|e| ctx(e.to_string()))?;
        write_msg(
            &mut ctrl,
            &Msg::Hello {
                proto: PROTO_VERSION,
                client_nonce: hex(&cn),
                software: super::server::software(),
            },
        )
        .map_err(|e| ctx(format!("sending hello: {e}")))?;
        let (sn, peer_software) = match read_msg(&mut ctrl) {
            Ok(Msg::Challenge {
                proto,
                server_nonce,
                software,
            }) if proto == PROTO_VERSION => match unhex(&server_nonce, 32) {
                Some(n) => (n, software),
                None => return Err(ctx("malformed challenge".into()).into()),
            },
            Ok(Msg::Challenge { proto, .. }) => {
                return Err(ctx(format!(
                    "the peer speaks protocol {proto}, this client {PROTO_VERSION}"
                ))
                .into())
            }
            Ok(Msg::Error { message }) => return Err(ctx(format!("refused: {message}")).into()),
            Ok(_) => return Err(ctx("unexpected reply to hello".into()).into()),
            Err(e) => return Err(ctx(format!("waiting for the challenge: {e}")).into()),
        };
        write_msg(
            &mut ctrl,
            &Msg::Auth {
                mac: hex(&client_mac(token, &sn, &cn)),
            },
        )
        .map_err(|e| ctx(format!("sending auth: {e}")))?;
        match read_msg(&mut ctrl) {
            Ok(Msg::AuthOk { mac, limits, vcpus }) => {
                let want = server_mac(token, &cn, &sn);
                if !unhex(&mac, 32).is_some_and(|m| ct_eq(&m, &want)) {
                    return Err(ctx(
                        "the peer could not prove it holds the token (wrong peer?)".into()
                    )
                    .into());
                }
                Ok(Self {
                    ctrl,
                    peer,
                    limits,
                    peer_vcpus: vcpus,
                    peer_software,
                })
            }
            Ok(Msg::Error { message }) => Err(ctx(format!("refused: {message}")).into()),
            Ok(_) => Err(ctx("unexpected reply to auth".into()).into()),
            Err(e) => Err(ctx(format!("waiting for the authentication result: {e}")).into()),
        }
    }

    /// The peer's control address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Asks the peer to set up a test.
    pub fn start(&mut self, spec: &TestSpec) -> Result<Ready, PeerError> {
        let peer = self.peer;
        write_msg(&mut self.ctrl, &Msg::Start { spec: spec.clone() })
            .map_err(|e| format!("peer {peer}: sending start: {e}"))?;
        match read_msg(&mut self.ctrl) {
            Ok(Msg::Ready { data_port, cookie }) => Ok(Ready {
                addr: SocketAddr::new(peer.ip(), data_port),
                cookie: unhex(&cookie, COOKIE_LEN)
                    .ok_or_else(|| format!("peer {peer}: malformed cookie"))?,
            }),
            Ok(Msg::Error { message }) => {
                Err(format!("peer {peer}: refused the test: {message}").into())
            }
            Ok(_) => Err(format!("peer {peer}: unexpected reply to start").into()),
            Err(e) => Err(format!("peer {peer}: waiting for ready: {e}").into()),
        }
    }

    /// Tells the peer an edge of the measured phase (no reply).
    pub fn mark(&mut self, phase: MarkPhase) -> std::io::Result<()> {
        write_msg(&mut self.ctrl, &Msg::Mark { phase })
    }

    /// Ends the test and fetches the peer's figures.
    pub fn stop(&mut self) -> Result<PeerResults, PeerError> {
        let peer = self.peer;
        write_msg(&mut self.ctrl, &Msg::Stop)
            .map_err(|e| format!("peer {peer}: sending stop: {e}"))?;
        match read_msg(&mut self.ctrl) {
            Ok(Msg::Results { results }) => Ok(*results),
            Ok(Msg::Error { message }) => Err(format!("peer {peer}: {message}").into()),
            Ok(_) => Err(format!("peer {peer}: unexpected reply to stop").into()),
            Err(e) => Err(format!("peer {peer}: waiting for results: {e}").into()),
        }
    }

    /// Ends the session politely.
    pub fn bye(mut self) {
        let _ = write_msg(&mut self.ctrl, &Msg::Bye);
    }

    /// The raw control connection (tests use it to send bad frames).
    pub fn raw(&mut self) -> &mut TcpStream {
        &mut self.ctrl
    }
}

/// Opens persistent data connection `index` of a test and presents the cookie.
pub fn open_data(ready: &Ready, index: u32, o: &SockOpts) -> Result<TcpStream, PeerError> {
    use std::io::Write;
    let mut s = sys::tcp_connect(&ready.addr, o, Duration::from_secs(10))
        .map_err(|e| format!("data connection {index} to {}: {e}", ready.addr))?;
    let mut hdr = Vec::with_capacity(COOKIE_LEN + 4);
    hdr.extend_from_slice(&ready.cookie);
    hdr.extend_from_slice(&index.to_be_bytes());
    s.write_all(&hdr)
        .map_err(|e| format!("data connection {index} to {}: {e}", ready.addr))?;
    Ok(s)
}

/// The maximum control message size (re-exported for tests).
pub const MAX_MSG: usize = proto::MAX_MSG;
