//! SKU discovery from the cloud's instance metadata service (Azure IMDS).
//!
//! Called only when the user asks (`--sku auto`), with a short timeout. A
//! plain HTTP/1.1 GET over a socket: the one request does not justify an
//! HTTP client dependency (and its TLS stack) in every build.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Azure's IMDS endpoint (link-local; only reachable from inside a VM).
pub const AZURE_ENDPOINT: &str = "http://169.254.169.254";

/// What the metadata service told us.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Instance {
    /// VM size, e.g. `Standard_D2s_v5`.
    pub vm_size: String,
    /// Region, e.g. `eastus`.
    pub region: Option<String>,
    /// Image: publisher:offer:sku:version.
    pub image: Option<String>,
}

/// Errors of discovery.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    /// The endpoint string is not `http://host[:port]`.
    #[error("metadata endpoint `{0}`: expected http://HOST[:PORT]")]
    BadEndpoint(String),
    /// Connecting or reading failed (not on a cloud VM, or blocked).
    #[error("instance metadata service at {endpoint} not reachable: {source}")]
    Unreachable {
        /// Endpoint.
        endpoint: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The answer was not what Azure IMDS returns.
    #[error("instance metadata service at {endpoint}: {source}")]
    BadAnswer {
        /// Endpoint.
        endpoint: String,
        /// What was wrong.
        #[source]
        source: AnswerError,
    },
}

/// What is wrong with a metadata service's answer.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// No blank line ends the HTTP header.
    #[error("no HTTP header")]
    NoHeader,
    /// A status other than 200; holds the status line.
    #[error("HTTP status `{0}`")]
    Status(String),
    /// A chunked body, which this one-request client does not decode.
    #[error("chunked responses are not supported")]
    Chunked,
    /// The body is not JSON.
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The JSON has no `compute` object.
    #[error("no `compute` object")]
    NoCompute,
    /// The `compute` object has no (non-empty) `vmSize`.
    #[error("no `compute.vmSize`")]
    NoVmSize,
}

/// Asks the metadata service at `endpoint` for the VM size, region and image.
pub fn discover(endpoint: &str, timeout: Duration) -> Result<Instance, ImdsError> {
    let hostport = endpoint
        .strip_prefix("http://")
        .map(|s| s.trim_end_matches('/'))
        .filter(|s| !s.is_empty() && !s.contains('/'))
        .ok_or_else(|| ImdsError::BadEndpoint(endpoint.to_string()))?;
    let with_port = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let unreachable = |source| ImdsError::Unreachable {
        endpoint: endpoint.to_string(),
        source,
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(unreachable)?
        .next()
        .ok_or_else(|| ImdsError::BadEndpoint(endpoint.to_string()))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(unreachable)?;
    s.set_read_timeout(Some(timeout)).map_err(unreachable)?;
    s.set_write_timeout(Some(timeout)).map_err(unreachable)?;
    let req = format!(
        "GET /metadata/instance?api-version=2021-02-01 HTTP/1.1\r\nHost: {hostport}\r\nMetadata: true\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(unreachable)?;
    let mut buf = Vec::new();
    s.take(1 << 20).read_to_end(&mut buf).map_err(unreachable)?;
    parse_response(&buf).map_err(|source| ImdsError::BadAnswer {
        endpoint: endpoint.to_string(),
        source,
    })
}

/// Parses an HTTP response carrying Azure IMDS instance JSON.
pub fn parse_response(raw: &[u8]) -> Result<Instance, AnswerError> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or(AnswerError::NoHeader)?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200") {
        return Err(AnswerError::Status(status.to_string()));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(AnswerError::Chunked);
    }
    let v: serde_json::Value = serde_json::from_str(body.trim()).map_err(AnswerError::Json)?;
    let c = v.get("compute").ok_or(AnswerError::NoCompute)?;
    let s = |k: &str| {
        c.get(k)
            .and_then(|x| x.as_str())
            .filter(|x| !x.is_empty())
            .map(String::from)
    };
    let vm_size = s("vmSize").ok_or(AnswerError::NoVmSize)?;
    let image = c
        .get("storageProfile")
        .and_then(|p| p.get("imageReference"))
        .and_then(|r| {
            let g = |k: &str| r.get(k).and_then(|x| x.as_str()).unwrap_or_default();
            let parts = [g("publisher"), g("offer"), g("sku"), g("version")];
            parts.iter().any(|p| !p.is_empty()).then(|| parts.join(":"))
        });
    Ok(Instance {
        vm_size,
        region: s("location"),
        image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    const BODY: &str = r#"{"compute":{"vmSize":"Standard_D2s_v5","location":"eastus","storageProfile":{"imageReference":{"publisher":"Canonical","offer":"ubuntu-24_04-lts","sku":"server","version":"latest"}}}}"#;

    #[test]
    fn discovers_from_a_fake_metadata_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = [0u8; 1024];
            let n = c.read(&mut req).unwrap();
            let req = String::from_utf8_lossy(&req[..n]).to_string();
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}", BODY.len());
            c.write_all(resp.as_bytes()).unwrap();
            req
        });
        let i = discover(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2)).unwrap();
        let req = t.join().unwrap();
        assert!(req.contains("Metadata: true"), "{req}");
        assert!(req.starts_with("GET /metadata/instance?api-version="));
        assert_eq!(i.vm_size, "Standard_D2s_v5");
        assert_eq!(i.region.as_deref(), Some("eastus"));
        assert_eq!(
            i.image.as_deref(),
            Some("Canonical:ubuntu-24_04-lts:server:latest")
        );
    }

    #[test]
    fn unreachable_and_bad_answers_are_errors() {
        // A port nothing listens on (bound then dropped).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = discover(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not reachable"), "{e}");
        assert!(matches!(
            discover("https://x", Duration::from_millis(10)),
            Err(ImdsError::BadEndpoint(_))
        ));
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n")
            .unwrap_err()
            .to_string()
            .contains("404"));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n{\"compute\":{}}")
            .unwrap_err()
            .to_string()
            .contains("vmSize"));
        for (raw, message) in [
            (&b"HTTP/1.1 200 OK"[..], "no HTTP header"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}",
                "chunked responses are not supported",
            ),
            (
                b"HTTP/1.1 200 OK\r\n\r\n{\"other\":1}",
                "no `compute` object",
            ),
            (
                b"HTTP/1.1 200 OK\r\n\r\n{\"compute\":{\"vmSize\":\"\"}}",
                "no `compute.vmSize`",
            ),
        ] {
            assert_eq!(parse_response(raw).unwrap_err().to_string(), message);
        }
        let e = parse_response(b"HTTP/1.1 200 OK\r\n\r\n{nope").unwrap_err();
        assert!(e.to_string().starts_with("invalid JSON: "), "{e}");
    }
}
