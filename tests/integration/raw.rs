//! Raw HTTP over the daemon's unix socket, for request shapes the docker CLI
//! never sends but an attacker can.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Send `head` (request line and headers, without the blank line) and
/// `body` verbatim; return the status code and the response text.
pub fn send(host: &str, head: &str, body: &[u8]) -> (u16, String) {
    let path = host.strip_prefix("unix://").unwrap_or(host);
    let mut s = UnixStream::connect(path).expect("daemon socket");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut msg = head.replace('\n', "\r\n");
    if !msg.ends_with("\r\n") {
        msg.push_str("\r\n");
    }
    msg.push_str("Host: docker\r\nConnection: close\r\n\r\n");
    let mut bytes = msg.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).expect("request sent");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// A JSON request with an exact Content-Length.
pub fn json(host: &str, method: &str, uri: &str, body: &str) -> (u16, String) {
    send(
        host,
        &format!(
            "{method} {uri} HTTP/1.1\nContent-Type: application/json\nContent-Length: {}",
            body.len()
        ),
        body.as_bytes(),
    )
}

/// Assert a 403 from the plugin.
#[track_caller]
pub fn assert_denied((status, text): &(u16, String), rule: &str) {
    assert_eq!(*status, 403, "expected a 403 deny:\n{text}");
    assert!(text.contains("authorization denied by plugin"), "{text}");
    assert!(text.contains(rule), "expected {rule:?} in:\n{text}");
}
