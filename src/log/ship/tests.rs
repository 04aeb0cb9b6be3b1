use super::*;
use std::io::Read as _;

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .unwrap();
    s
}

#[test]
fn batch_is_a_gzip_json_array() {
    let body = gzip_array(b"{\"a\":1}\n{\"b\":2}\n{\"cut").unwrap();
    assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip magic");
    let v: serde_json::Value = serde_json::from_str(&gunzip(&body)).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"a":1},{"b":2}]),
        "the cut line is left out"
    );
    assert_eq!(gunzip(&gzip_array(b"").unwrap()), "[]");
}

#[test]
fn event_shape_and_the_bundle_revision_hook() {
    use crate::policy::{Check, Decision};
    let req = crate::protocol::AuthzRequest {
        user: "bob".into(),
        request_method: "POST".into(),
        request_uri: "/v1.41/images/load".into(),
        ..Default::default()
    };
    let d = Decision::deny(Check::Load, "no loads", "use a registry");
    let labels = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let e = Entry::new(
        &req,
        Some(&crate::request::Action::Load),
        &d,
        Duration::from_micros(3),
    );
    let v = serde_json::to_value(Event::new(&e, &labels)).unwrap();
    assert_eq!(v["decision_id"], e.decision_id.as_str());
    assert_eq!(v["labels"]["env"], "prod");
    assert_eq!(v["input"]["user"], "bob");
    assert_eq!(v["input"]["action"], "load");
    assert_eq!(v["result"]["allow"], false);
    assert_eq!(v["result"]["rule"], "load");
    assert_eq!(v["result"]["reason"], "no loads");
    assert_eq!(v["metrics"]["timer_decision_ns"], 3000);
    super::super::set_bundle_revision(Some("42".into()));
    let e = Entry::new(
        &req,
        Some(&crate::request::Action::Load),
        &d,
        Duration::ZERO,
    );
    super::super::set_bundle_revision(None);
    let v = serde_json::to_value(Event::new(&e, &labels)).unwrap();
    assert_eq!(v["bundles"]["img-authz"]["revision"], "42");
    assert_eq!(serde_json::to_value(&e).unwrap()["bundle_revision"], "42");
    let e = Entry::new(
        &req,
        Some(&crate::request::Action::Load),
        &d,
        Duration::ZERO,
    );
    assert!(serde_json::to_value(Event::new(&e, &labels))
        .unwrap()
        .get("bundles")
        .is_none());
}

#[test]
fn only_a_refused_body_is_dropped() {
    assert_eq!(verdict(200), Verdict::Delivered);
    assert_eq!(verdict(204), Verdict::Delivered);
    for s in [500, 502, 503, 408, 429, 401, 403, 404, 301] {
        assert_eq!(verdict(s), Verdict::Retry, "{s}");
    }
    for s in [400, 413, 415, 422] {
        assert_eq!(verdict(s), Verdict::Rejected, "{s}");
    }
}

#[test]
fn backoff_doubles_with_jitter_up_to_the_cap() {
    let ms = Duration::from_millis;
    let mut b = Backoff::new(ms(100), ms(1000));
    assert_eq!(b.next_with(0), ms(50), "lowest: half");
    assert_eq!(b.next_with(100_000_000), ms(200), "random at its top");
    let third = b.next_with(12_345_678);
    assert!(third >= ms(200) && third <= ms(400), "{third:?}");
    // The fourth wait is 800 ms before jitter, [400, 800] ms after it.
    assert_eq!(b.next_with(0), ms(400));
    for _ in 0..30 {
        let d = b.next_wait();
        assert!(d >= ms(500) && d <= ms(1000), "capped: {d:?}");
    }
    b.reset();
    assert_eq!(b.next_with(0), ms(50));
}

#[test]
fn settings_from_the_environment() {
    let dir = Path::new("/var/lib/img-authz");
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert!(Settings::from_vars(vars(&[]), dir).unwrap().is_none());
    let s = Settings::from_vars(
        vars(&[
            ("IMG_AUTHZ_DECISION_LOG_URL", "http://127.0.0.1:9/logs"),
            (
                "IMG_AUTHZ_DECISION_LOG_LABELS",
                "env=prod, dc = ams1 ,hostname=web-1",
            ),
            ("IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES", "4096"),
        ]),
        dir,
    )
    .unwrap()
    .unwrap();
    assert_eq!(s.labels["env"], "prod");
    assert_eq!(s.labels["dc"], "ams1");
    assert_eq!(s.labels["hostname"], "web-1", "an operator's hostname wins");
    assert_eq!(s.labels["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s.labels["id"].len(), 36);
    assert_eq!(s.buffer_bytes, 4096);
    assert_eq!(s.buffer_dir, dir.join("decision-log"));
    assert_eq!(s.flush, Duration::from_millis(DEFAULT_FLUSH_MS));
    for bad in [
        &[(
            "IMG_AUTHZ_DECISION_LOG_URL",
            "http://collector.example/logs",
        )][..],
        &[("IMG_AUTHZ_DECISION_LOG_URL", "ftp://127.0.0.1/")],
        &[("IMG_AUTHZ_DECISION_LOG_URL", "not a url")],
        &[
            ("IMG_AUTHZ_DECISION_LOG_URL", "https://c.example/logs"),
            ("IMG_AUTHZ_DECISION_LOG_LABELS", "env"),
        ],
        &[
            ("IMG_AUTHZ_DECISION_LOG_URL", "https://c.example/logs"),
            ("IMG_AUTHZ_DECISION_LOG_LABELS", "id=x"),
        ],
        &[
            ("IMG_AUTHZ_DECISION_LOG_URL", "https://c.example/logs"),
            ("IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES", "12"),
        ],
    ] {
        let pairs: &'static [(&'static str, &'static str)] = bad;
        assert!(
            Settings::from_vars(vars(pairs), dir).is_err(),
            "{bad:?} accepted"
        );
    }
}

/// A collector that answers 307 must not get the batch re-sent to
/// wherever it points (here a second loopback listener).
#[tokio::test]
async fn redirects_are_not_followed() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    second.set_nonblocking(true).unwrap();
    let port = first.local_addr().unwrap().port();
    let to = format!("http://{}/stolen", second.local_addr().unwrap());
    let answer = std::thread::spawn(move || {
        let (c, _) = first.accept().unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h.trim_end().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let mut c = c;
        write!(
            c,
            "HTTP/1.1 307 X\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
    });
    let url = format!("http://127.0.0.1:{port}/logs");
    let mut s = Settings::from_vars(
        |k| (k == "IMG_AUTHZ_DECISION_LOG_URL").then(|| url.clone()),
        Path::new("/nonexistent"),
    )
    .unwrap()
    .unwrap();
    s.timeout = Duration::from_secs(2);
    let body = gzip_array(b"{\"decision_id\":\"x\"}\n").unwrap();
    let got = post(&client(&s).unwrap(), &s, body).await;
    answer.join().unwrap();
    assert!(
        second.accept().is_err(),
        "the batch followed the redirect to another listener"
    );
    let status = got.unwrap();
    assert_eq!(verdict(status.as_u16()), Verdict::Retry, "{status}");
}
/// Secrets in query parameters (build args, credentials in URLs) stay
/// on the host: neither the file line nor the shipped event has them.
#[test]
fn secrets_in_the_uri_are_redacted() {
    use crate::policy::{Check, Decision};
    let uris = [
        (
            "/v1.41/build?t=app&buildargs=%7B%22NPM_TOKEN%22%3A%22s3cr3t-npm%22%2C%22HTTP_PROXY%22%3Anull%7D",
            &["NPM_TOKEN", "HTTP_PROXY", "t=app"][..],
        ),
        (
            "/v1.41/build?remote=https%3A%2F%2Fbob%3As3cr3t-git%40git.example%2Frepo.git&t=x",
            &["git.example", "repo.git"][..],
        ),
        (
            "/v1.41/build?remote=https://s3cr3t-tok@git.example/r.git",
            &["git.example"][..],
        ),
        (
            "/v1.41/images/create?fromSrc=http%3A%2F%2Fu%3As3cr3t-src%40h.example%2Fa.tar&repo=x",
            &["h.example", "repo=x"][..],
        ),
        (
            "/v1.41/plugins/pull?remote=x&access_token=s3cr3t-t",
            &["access_token"][..],
        ),
        (
            "/v1.41/build?bu%69ldargs=%7B%22K%22%3A%22s3cr3t-esc%22%7D",
            &["K"][..],
        ),
        ("/v1.41/build?buildargs=s3cr3t-notjson", &["buildargs"][..]),
    ];
    let d = Decision::deny(Check::Build, "no", "");
    let labels = BTreeMap::new();
    for (uri, kept) in uris {
        let req = crate::protocol::AuthzRequest {
            request_method: "POST".into(),
            request_uri: uri.into(),
            ..Default::default()
        };
        let e = Entry::new(
            &req,
            Some(&crate::request::Action::Load),
            &d,
            Duration::ZERO,
        );
        let line = serde_json::to_string(&e).unwrap();
        let event = serde_json::to_string(&Event::new(&e, &labels)).unwrap();
        for out in [&line, &event] {
            assert!(!out.contains("s3cr3t"), "{uri}: {out}");
            let v: serde_json::Value = serde_json::from_str(out).unwrap();
            let u = v["uri"].as_str().or(v["input"]["uri"].as_str()).unwrap();
            for k in kept {
                assert!(u.contains(k), "{uri}: {k} lost in {u}");
            }
        }
    }
}

/// Every field of a decision-log line reaches the shipped event, with its
/// value: a field added to `Entry` and mapped nowhere fails here (and
/// `Event::new`'s exhaustive destructuring does not compile without it).
#[test]
fn every_field_of_the_file_line_is_shipped() {
    let e = Entry {
        decision_id: "d-1".into(),
        time: "2026-12-06T00:00:00Z".into(),
        bundle_revision: Some(Arc::new("42".into())),
        user: "bob",
        method: "POST",
        uri: "/v1.41/images/create?fromImage=r.example.com/app&tag=v1",
        action: "pull",
        image: Some("r.example.com/app:v1"),
        digest: Some("sha256:abc"),
        decision: crate::policy::Outcome::AuditAllow,
        rule: "signature",
        cause: Some("not-signed"),
        policy_rule: Some("apps"),
        reason: "not signed",
        latency_us: 7,
    };
    let labels = BTreeMap::new();
    let line = serde_json::to_value(&e).unwrap();
    let event = serde_json::to_value(Event::new(&e, &labels)).unwrap();
    // Where each field of the line goes in OPA's shape.
    let place = |k: &str| -> Option<&str> {
        Some(match k {
            "decision_id" => "/decision_id",
            "time" => "/timestamp",
            "bundle_revision" => "/bundles/img-authz/revision",
            "user" => "/input/user",
            "method" => "/input/method",
            "uri" => "/input/uri",
            "action" => "/input/action",
            "image" => "/input/image",
            "digest" => "/input/digest",
            "decision" => "/result/decision",
            "rule" => "/result/rule",
            "cause" => "/result/cause",
            "policy_rule" => "/result/policy_rule",
            "reason" => "/result/reason",
            "latency_us" => "/metrics/timer_decision_ns",
            _ => return None,
        })
    };
    let fields = line.as_object().unwrap();
    assert_eq!(fields.len(), 15, "every optional field set: {line}");
    for (k, v) in fields {
        let at = place(k).unwrap_or_else(|| {
            panic!("decision-log field {k:?} is not shipped: map it in Event::new and here")
        });
        let got = event
            .pointer(at)
            .unwrap_or_else(|| panic!("{k} missing at {at}: {event}"));
        let want = if k == "latency_us" {
            serde_json::json!(v.as_u64().unwrap() * 1000)
        } else {
            v.clone()
        };
        assert_eq!(got, &want, "{k} at {at}");
    }
    assert_eq!(event["result"]["allow"], true, "audit is allowed");
}

/// The proxy variables a child process is given to ship under.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Decisions go to the collector the operator named, never through a
/// proxy from the environment (which would see them; `client` sets
/// `no_proxy`). The shipping runs in a child process (this test binary,
/// [`proxy_child`] alone) given every proxy variable, pointing at a
/// loopback listener that records connections: the environment of this
/// process, shared by the tests running in parallel, is not touched.
#[test]
fn the_shipper_ignores_proxy_variables() {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::sync::atomic::AtomicBool;
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    collector.set_nonblocking(true).unwrap();
    proxy.set_nonblocking(true).unwrap();
    let url = format!("http://{}/logs", collector.local_addr().unwrap());
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    // The collector: one request, answered 200; its gzip body.
    let served = std::thread::spawn(move || -> Option<Vec<u8>> {
        let c = loop {
            match collector.accept() {
                Ok((c, _)) => break c,
                Err(_) if stopped.load(Ordering::SeqCst) => return None,
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        c.set_nonblocking(false).unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h.trim_end().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let mut c = c;
        write!(
            c,
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        Some(body)
    });
    let module = module_path!();
    let name = format!(
        "{}::proxy_child",
        module.split_once("::").map_or(module, |(_, m)| m)
    );
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args([name.as_str(), "--exact", "--ignored", "--test-threads=1"])
        .env("IAZ_TEST_COLLECTOR", &url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for v in PROXY_VARS {
        child.env(v, &proxy_url);
    }
    let out = child.output().unwrap();
    stop.store(true, Ordering::SeqCst);
    let body = served.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the child did not ship:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        proxy.accept().is_err(),
        "the shipper connected to the proxy from the environment"
    );
    let body = body.expect("the collector got nothing");
    let v: serde_json::Value = serde_json::from_str(&gunzip(&body)).unwrap();
    assert_eq!(v, serde_json::json!([{"decision_id": "through-no-proxy"}]));
}

/// Run by [`the_shipper_ignores_proxy_variables`] in a child process whose
/// environment names a proxy; alone (no collector given) it does nothing.
#[tokio::test]
#[ignore = "a child process of the_shipper_ignores_proxy_variables"]
async fn proxy_child() {
    let Ok(url) = std::env::var("IAZ_TEST_COLLECTOR") else {
        return;
    };
    assert!(
        PROXY_VARS.iter().all(|v| std::env::var(v).is_ok()),
        "the proxy variables are set"
    );
    let mut s = Settings::from_vars(
        |k| (k == "IMG_AUTHZ_DECISION_LOG_URL").then(|| url.clone()),
        Path::new("/nonexistent"),
    )
    .unwrap()
    .unwrap();
    s.timeout = Duration::from_secs(5);
    let body = gzip_array(b"{\"decision_id\":\"through-no-proxy\"}\n").unwrap();
    let status = post(&client(&s).unwrap(), &s, body).await.unwrap();
    assert_eq!(status.as_u16(), 200);
}
