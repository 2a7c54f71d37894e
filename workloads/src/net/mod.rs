//! Network workloads (iperf3/netperf-class) and the `skubench serve` peer.
//!
//! - [`stream`]: `net.tcp_stream`, bulk TCP in either or both directions.
//! - [`udp`]: `net.udp_stream`, UDP at a rate with loss/jitter/reordering.
//! - [`rr`]: `net.tcp_rr` (request/response) and `net.tcp_crr` (connection rate).
//! - [`flows`]: `net.tcp_flows` (thousands of stream or RR flows on event
//!   loops, with per-flow fairness) and `net.tcp_cps` (connections per
//!   second with connect-time percentiles).
//! - [`under_load`]: `net.rr_under_load`, RR latency with and without a
//!   saturating stream beside it.
//! - [`server`]: the peer; [`client`] and [`proto`]: the control protocol.
//!
//! Every client workload talks to a peer over an authenticated control
//! session: `prepare` connects (or starts an in-process peer on loopback
//! when `peer` is omitted), worker 0 of each step asks the peer for a test
//! and opens the data connections before the clock starts, worker 0 marks
//! the measured phase on the peer, and `metrics` stops the test and merges
//! the peer's figures into the result.

pub mod client;
pub mod common;
mod evloop;
pub mod flows;
pub mod proto;
pub mod rr;
pub mod server;
pub mod stream;
pub mod sys;
pub mod udp;
pub mod under_load;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bench_core::error::ValueError;
use bench_core::workload::WorkloadFactory;

pub use server::{ServeConfig, Server};

/// The net workload factories.
pub fn factories() -> Vec<Box<dyn WorkloadFactory>> {
    vec![
        Box::new(stream::TcpStreamFactory),
        Box::new(udp::UdpStreamFactory),
        Box::new(rr::RrFactory::RR),
        Box::new(rr::RrFactory::CRR),
        Box::new(flows::FlowsFactory),
        Box::new(flows::CpsFactory),
        Box::new(under_load::UnderLoadFactory),
    ]
}

/// Options of `skubench serve`, as given on the command line.
#[derive(Clone, Debug)]
pub struct ServeArgs {
    /// Address to bind (an IP).
    pub bind: String,
    /// Control port.
    pub port: u16,
    /// The token itself.
    pub token: Option<String>,
    /// A file whose first line is the token.
    pub token_file: Option<PathBuf>,
    /// Sessions served at once.
    pub max_sessions: usize,
    /// Longest test.
    pub max_duration: Duration,
    /// Longest idle time of a control connection.
    pub idle_timeout: Duration,
    /// Data ports, `A-B` or `A` (default: ephemeral).
    pub data_ports: Option<String>,
}

/// Why `serve` failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad options (exit code 2).
    #[error("{0}")]
    Input(String),
    /// The peer could not run (exit code 3).
    #[error("{0}")]
    Failed(String),
}

/// Resolves `args` (token from `--token`, `--token-file` or `$SKUBENCH_TOKEN`)
/// into a peer configuration.
pub fn serve_config(args: &ServeArgs) -> Result<ServeConfig, ServeError> {
    let ip: IpAddr = args
        .bind
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| ServeError::Input(format!("--bind: `{}` is not an IP address", args.bind)))?;
    let token = match (&args.token, &args.token_file) {
        (Some(_), Some(_)) => {
            return Err(ServeError::Input(
                "--token and --token-file exclude each other".into(),
            ))
        }
        (Some(t), None) => t.clone(),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| ServeError::Input(format!("--token-file {}: {e}", f.display())))?;
            text.lines().next().unwrap_or("").trim().to_string()
        }
        (None, None) => std::env::var("SKUBENCH_TOKEN").unwrap_or_default(),
    };
    if token.is_empty() {
        return Err(ServeError::Input(
            "a shared token is required: --token T, --token-file F or $SKUBENCH_TOKEN".into(),
        ));
    }
    if args.max_sessions == 0 || args.max_sessions > 4096 {
        return Err(ServeError::Input(format!(
            "--max-sessions: {} is out of range 1..=4096",
            args.max_sessions
        )));
    }
    if args.max_duration.is_zero() || args.idle_timeout.is_zero() {
        return Err(ServeError::Input(
            "--max-duration and --idle-timeout must be positive".into(),
        ));
    }
    let mut cfg = ServeConfig::new(SocketAddr::new(ip, args.port), token.into_bytes());
    cfg.max_sessions = args.max_sessions;
    cfg.max_duration = args.max_duration;
    cfg.idle_timeout = args.idle_timeout;
    cfg.data_ports = match &args.data_ports {
        Some(r) => {
            Some(parse_port_range(r).map_err(|m| ServeError::Input(format!("--data-ports: {m}")))?)
        }
        None => None,
    };
    cfg.log = true;
    Ok(cfg)
}

/// Parses `A-B` or `A` into an inclusive port range of ports ≥ 1.
pub fn parse_port_range(text: &str) -> Result<(u16, u16), ValueError> {
    let port = |t: &str| -> Result<u16, ValueError> {
        match t.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("`{}` is not a port (1-65535)", t.trim()).into()),
            Ok(p) => Ok(p),
        }
    };
    let (lo, hi) = match text.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(text)?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(format!("`{text}`: the range is empty ({lo} > {hi})").into());
    }
    Ok((lo, hi))
}

/// `skubench serve`: runs the peer until `stop` is set.
pub fn serve(args: &ServeArgs, stop: &AtomicBool) -> Result<(), ServeError> {
    let cfg = serve_config(args)?;
    let bind = cfg.bind;
    server::serve(cfg, stop).map_err(|e| ServeError::Failed(format!("serving on {bind}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            bind: "127.0.0.1".into(),
            port: 0,
            token: Some("t".into()),
            token_file: None,
            max_sessions: 64,
            max_duration: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            data_ports: None,
        }
    }

    #[test]
    fn serve_options_are_checked_before_binding() {
        let c = serve_config(&args()).unwrap();
        assert_eq!(c.bind, "127.0.0.1:0".parse::<SocketAddr>().unwrap());
        assert_eq!(c.token, b"t");
        let bad = |f: &dyn Fn(&mut ServeArgs), want: &str| {
            let mut a = args();
            f(&mut a);
            match serve_config(&a) {
                Err(ServeError::Input(m)) => assert!(m.contains(want), "{m}"),
                other => panic!("expected an input error with {want}, got {other:?}"),
            }
        };
        bad(&|a| a.bind = "localhost".into(), "--bind");
        bad(&|a| a.token_file = Some("/x".into()), "exclude");
        bad(
            &|a| {
                a.token = None;
                a.token_file = Some("/nonexistent/skubench-token".into());
            },
            "--token-file",
        );
        bad(&|a| a.token = Some(String::new()), "token is required");
        bad(&|a| a.max_sessions = 0, "--max-sessions");
        bad(&|a| a.idle_timeout = Duration::ZERO, "positive");
        bad(&|a| a.data_ports = Some("5300-5200".into()), "empty");
        bad(&|a| a.data_ports = Some("0-10".into()), "not a port");
        bad(
            &|a| a.data_ports = Some("5200-70000".into()),
            "--data-ports",
        );
        bad(&|a| a.data_ports = Some("http".into()), "--data-ports");
        let mut a = args();
        a.data_ports = Some("5202-5210".into());
        assert_eq!(serve_config(&a).unwrap().data_ports, Some((5202, 5210)));
        a.data_ports = Some("5202".into());
        assert_eq!(serve_config(&a).unwrap().data_ports, Some((5202, 5202)));
        let mut a = args();
        a.bind = "[::1]".into();
        assert!(serve_config(&a).unwrap().bind.is_ipv6());
    }
}
