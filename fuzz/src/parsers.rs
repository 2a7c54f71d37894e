//! Checks of the parsers in bench-core and workloads (no polars): suites,
//! fio job files, result files, histogram blobs, the peer's control frames
//! and UDP datagrams. Each takes the fuzzer's bytes and panics when an
//! invariant fails; an input the parser refuses with a proper error passes.

use std::io::Cursor;
use std::sync::OnceLock;

use base64::Engine;
use bench_core::hist;
use bench_core::result::ResultFile;
use bench_core::suite::parse_suite;
use bench_core::workload::Registry;
use workloads::disk::fio::suite_from_fio_env;
use workloads::net::proto::{
    read_msg, unhex, write_msg, Msg, TcpInfoSum, UdpHeader, COOKIE_LEN, UDP_HEADER,
};
use workloads::net::server::UdpFlow;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(workloads::registry)
}

/// Suite TOML through `parse_suite`, the parser of `skubench run SUITE`:
/// an error names the file; a suite that parses can be planned (its
/// duration, as the runner and progress display compute it) and recorded
/// (its spec as run) without panicking.
pub fn suite_toml(data: &[u8]) {
    // Suites are read with read_to_string: only UTF-8 reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_suite(text, "s.toml", registry(), 2) {
        Ok(suite) => {
            let _ = suite.planned();
            for w in &suite.workloads {
                serde_json::to_string(&w.spec_json()).expect("a spec as run serialises");
            }
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("s.toml"), "error without the file name: {m}");
        }
    }
}

/// A fixed environment for fio's `${VAR}`: one set and one unset variable
/// are reachable, and runs do not depend on the host's environment.
fn fio_env(k: &str) -> Option<String> {
    match k {
        "BS" => Some("4k".into()),
        "SIZE" => Some("64m".into()),
        _ => None,
    }
}

/// fio job files through the translation of `skubench run --fio`: an
/// error names the file; a job file that translates gives a suite that can
/// be planned and recorded without panicking.
pub fn fio_job(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match suite_from_fio_env(text, "j.fio", registry(), 2, false, &fio_env) {
        Ok(suite) => {
            let _ = suite.planned();
            for w in &suite.workloads {
                serde_json::to_string(&w.spec_json()).expect("a spec as run serialises");
            }
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("j.fio"), "error without the file name: {m}");
        }
    }
}

/// Result files through `ResultFile::parse`, what every analysis command
/// reads them with: a file that parses re-serialises, the text parses back
/// to an equal file (numbers within one ULP, see [`json_diff`]), and each
/// histogram decodes or says why.
pub fn result_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(f) = ResultFile::parse(text) else {
        return;
    };
    for r in &f.runs {
        for name in r.histograms.keys() {
            if let Some(Ok(h)) = r.histogram(name) {
                let _ = h.value_at_quantile(0.99);
            }
        }
    }
    let json = f.to_json().expect("a parsed result file serialises");
    let again = ResultFile::parse(&json).expect("a re-serialised result file parses");
    let a = serde_json::to_value(&f).expect("a parsed result file serialises");
    let b = serde_json::to_value(&again).expect("a parsed result file serialises");
    if let Some(at) = json_diff(&a, &b, String::new()) {
        panic!("the re-serialised result file differs at {at}:\n{json}");
    }
}

/// Where two JSON trees differ, if anywhere. Numbers may differ by one
/// unit in the last place: serde_json without its `float_roundtrip`
/// feature reads some shortest-form floats one ULP off (93.86153857922847
/// comes back as …848), which the fuzzer found on the first seed; the
/// feature recompiles polars everywhere, so it is the lead's call
/// (docs/reliability.md).
pub fn json_diff(a: &serde_json::Value, b: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) if x != y => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            let ulps = (x.to_bits() as i64)
                .wrapping_sub(y.to_bits() as i64)
                .unsigned_abs();
            (x.is_sign_negative() != y.is_sign_negative() || ulps > 1)
                .then(|| format!("{at}: {x} vs {y}"))
        }
        (V::Array(x), V::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| json_diff(x, y, format!("{at}[{i}]"))),
        (V::Object(x), V::Object(y)) if x.len() == y.len() => {
            x.iter().find_map(|(k, v)| match y.get(k) {
                Some(w) => json_diff(v, w, format!("{at}.{k}")),
                None => Some(format!("{at}.{k}: missing")),
            })
        }
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

/// Histogram blobs (base64 of HdrHistogram V2, optionally DEFLATE) through
/// `hist::decode`, the decoder of every histogram in a result file.
///
/// The first byte picks the form of the rest: odd, raw V2 bytes, which are
/// base64-encoded first so the fuzzer works on the binary format itself;
/// even, the blob text as a result file holds it. A decoded histogram's
/// total count is the sum of its counts, and it re-encodes and decodes to
/// an equal histogram.
pub fn hist_blob(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = if mode & 1 == 1 {
        base64::engine::general_purpose::STANDARD.encode(rest)
    } else {
        match std::str::from_utf8(rest) {
            Ok(t) => t.to_string(),
            Err(_) => return,
        }
    };
    let Ok(h) = hist::decode(&text) else {
        return;
    };
    let total: u128 = h
        .iter_recorded()
        .map(|v| u128::from(v.count_at_value()))
        .sum();
    assert_eq!(total, u128::from(h.len()), "total count ≠ sum of counts");
    // What the reports read from every histogram.
    let _ = (h.min(), h.max(), h.mean(), h.stdev());
    for q in [0.0, 0.5, 0.99, 0.999, 1.0] {
        let _ = h.value_at_quantile(q);
    }
    let blob = hist::encode(&h).expect("a decoded histogram encodes");
    let again = hist::decode(&blob).expect("a re-encoded histogram decodes");
    assert!(again == h, "the re-encoded histogram differs");
}

/// The peer's control frames (4-byte length + JSON) through
/// `proto::read_msg`, as `skubench serve` and the client read them, then
/// the checks the peer applies to what it reads. The input is a byte
/// stream read frame by frame until one fails, as a session ends at its
/// first bad frame. A message that decodes re-encodes with `write_msg` and
/// reads back equal (numbers within one ULP, see [`json_diff`]); the
/// peer's results merge into the client's TCP figures without overflow.
pub fn peer_frames(data: &[u8]) {
    let mut r = Cursor::new(data);
    // A session reads a handful of frames; a bound keeps each run short.
    for _ in 0..16 {
        let Ok(m) = read_msg(&mut r) else {
            return;
        };
        match &m {
            Msg::Hello { client_nonce, .. } => {
                let _ = unhex(client_nonce, 32);
            }
            Msg::Challenge { server_nonce, .. } => {
                let _ = unhex(server_nonce, 32);
            }
            Msg::Auth { mac } | Msg::AuthOk { mac, .. } => {
                let _ = unhex(mac, 32);
            }
            Msg::Start { spec } => {
                let _ = spec.validate();
            }
            Msg::Ready { cookie, .. } => {
                let _ = unhex(cookie, COOKIE_LEN);
            }
            Msg::Results { results } => {
                // What the client does with the peer's TCP_INFO (stream.rs):
                // merges it into its own sockets' figures.
                let mut all = TcpInfoSum {
                    sockets: 2,
                    retransmits: 3,
                    rtt_us_mean: 50.0,
                    rtt_us_max: 80,
                    snd_cwnd_mean: 10.0,
                };
                all.merge(&results.tcp);
            }
            _ => {}
        }
        let mut frame = Vec::new();
        // Defaults filled in can make a message longer than the frame it
        // came in; one over the limit is refused by write_msg, not sent.
        if write_msg(&mut frame, &m).is_ok() {
            let again = read_msg(&mut Cursor::new(&frame)).expect("a written frame reads back");
            let a = serde_json::to_value(&m).expect("a message serialises");
            let b = serde_json::to_value(&again).expect("a message serialises");
            if let Some(at) = json_diff(&a, &b, String::new()) {
                panic!("a message changed through write_msg/read_msg at {at}");
            }
        }
    }
}

/// The session cookie of [`udp_datagram`] (the seeds and dictionary carry it).
pub const UDP_COOKIE: &[u8; 16] = b"skubench-cookie!";
/// Flows (sender threads) of the test in [`udp_datagram`].
const UDP_FLOWS: usize = 4;

/// UDP test datagrams as the receiving peer sees them: the header checks
/// (`UdpHeader::flow_of` for a sender's hello, `UdpHeader::parse` for test
/// datagrams) and the sequence and jitter accounting (`UdpFlow::observe`),
/// as `skubench serve`'s UDP receiver does them.
///
/// The input is a sequence of records: a 2-byte length, an 8-byte arrival
/// time (ns) and up to that many datagram bytes. Only datagrams with the
/// session's cookie and a flow of the test are counted; reordered plus
/// duplicates never exceed the datagrams counted; jitter stays finite and
/// non-negative.
pub fn udp_datagram(data: &[u8]) {
    let mut flows = vec![UdpFlow::default(); UDP_FLOWS];
    let mut counted = [0u64; UDP_FLOWS];
    let mut rest = data;
    while rest.len() >= 10 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let mut arrival = [0u8; 8];
        arrival.copy_from_slice(&rest[2..10]);
        let arrival = i64::from_be_bytes(arrival);
        rest = &rest[10..];
        let (d, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        let hello = UdpHeader::flow_of(d, UDP_COOKIE);
        if hello.is_some() {
            assert_eq!(
                &d[..8],
                &UDP_COOKIE[..8],
                "a hello without the cookie accepted"
            );
        }
        let Some(h) = UdpHeader::parse(d, UDP_COOKIE) else {
            continue;
        };
        assert!(d.len() >= UDP_HEADER, "a short datagram parsed");
        assert_eq!(Some(h.flow), hello, "parse and flow_of disagree");
        let Some(f) = flows.get_mut(h.flow as usize) else {
            continue;
        };
        // The receiver takes the send time as i64, as server.rs does.
        f.observe(h.seq, h.sent_ns as i64, arrival);
        counted[h.flow as usize] += 1;
    }
    for (f, n) in flows.iter().zip(counted) {
        assert!(
            f.reordered + f.duplicates <= n,
            "more losses than datagrams"
        );
        assert!(
            f.jitter.is_finite() && f.jitter >= 0.0,
            "jitter {}",
            f.jitter
        );
        assert_eq!(f.seen(), n > 0);
    }
}
