//! Representative authorization calls, as dockerd sends them for the Docker
//! CLI's requests, shared by the micro-benchmarks and the load generator.

#![allow(dead_code, reason = "each bench uses a part")]

use std::collections::BTreeMap;

use img_authz::protocol::AuthzRequest;
use serde_json::{json, Value};

/// The API version of the requests (Docker 27/28 CLI).
pub const API: &str = "v1.47";

fn headers(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    let mut h: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    h.insert(
        "User-Agent".into(),
        "Docker-Client/28.0.1 (linux)".to_string(),
    );
    Some(h)
}

/// `docker ps -a`: `GET /containers/json?all=1` (the hot path).
pub fn read() -> AuthzRequest {
    AuthzRequest {
        request_method: "GET".into(),
        request_uri: format!("/{API}/containers/json?all=1"),
        request_headers: headers(&[]),
        ..Default::default()
    }
}

/// The `AuthZRes` call of [`read`]: the same request with dockerd's answer,
/// a list of `n` containers.
pub fn read_response(n: usize) -> AuthzRequest {
    let containers: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "Id": format!("{:064x}", i + 1),
                "Names": [format!("/bench-{i}")],
                "Image": "registry.example.com/team/app:v1",
                "ImageID": format!("sha256:{:064x}", 1000 + i),
                "Command": "/bin/sh -c 'exec app --serve'",
                "Created": 1_732_000_000 + i,
                "Ports": [{"IP": "0.0.0.0", "PrivatePort": 8080, "PublicPort": 18080 + i, "Type": "tcp"}],
                "Labels": {"com.example.team": "bench", "com.example.tier": "web"},
                "State": "running",
                "Status": "Up 3 hours",
                "HostConfig": {"NetworkMode": "default"},
                "NetworkSettings": {"Networks": {"bridge": {
                    "NetworkID": format!("{:064x}", 7), "EndpointID": format!("{:064x}", 9000 + i),
                    "Gateway": "172.17.0.1", "IPAddress": format!("172.17.0.{}", i + 2), "IPPrefixLen": 16,
                    "MacAddress": "02:42:ac:11:00:02"}}},
                "Mounts": [],
            })
        })
        .collect();
    let body = serde_json::to_vec(&containers).expect("serialisable");
    let mut rh = BTreeMap::new();
    rh.insert("Content-Type".to_string(), "application/json".to_string());
    rh.insert("Api-Version".to_string(), "1.47".to_string());
    rh.insert("Server".to_string(), "Docker/28.0.1 (linux)".to_string());
    AuthzRequest {
        response_status_code: Some(200),
        response_headers: Some(rh),
        response_body: Some(body),
        ..read()
    }
}

/// `docker pull REPO:TAG` (or `REPO@sha256:…` when `tag` is a digest): the
/// CLI sends the digest as `tag`.
pub fn pull(repo: &str, tag: &str) -> AuthzRequest {
    // Go's url.QueryEscape, as the CLI's url.Values.Encode() uses it.
    const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let q = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY).to_string();
    AuthzRequest {
        request_method: "POST".into(),
        request_uri: format!("/{API}/images/create?fromImage={}&tag={}", q(repo), q(tag)),
        request_headers: headers(&[
            ("Content-Type", "text/plain"),
            ("Content-Length", "0"),
            ("X-Registry-Auth", "e30="),
        ]),
        ..Default::default()
    }
}

/// `docker run` with many options: the create body the CLI sends, with a
/// large HostConfig (every field the CLI fills in, 40 environment
/// variables, 30 labels, 16 published ports, 8 volume and tmpfs mounts,
/// ulimits, DNS). Nothing in it is forbidden by `examples/hardened.toml`.
pub fn create_large(image: &str) -> AuthzRequest {
    let env: Vec<String> = (0..40)
        .map(|i| format!("BENCH_VAR_{i}=value-{i}-{}", "x".repeat(24)))
        .collect();
    let labels: serde_json::Map<String, Value> = (0..30)
        .map(|i| {
            (
                format!("com.example.bench.label{i}"),
                json!(format!("v{i}")),
            )
        })
        .collect();
    let exposed: serde_json::Map<String, Value> = (0..16)
        .map(|i| (format!("{}/tcp", 8000 + i), json!({})))
        .collect();
    let bindings: serde_json::Map<String, Value> = (0..16)
        .map(|i| {
            (
                format!("{}/tcp", 8000 + i),
                json!([{"HostIp": "127.0.0.1", "HostPort": format!("{}", 18000 + i)}]),
            )
        })
        .collect();
    let mut mounts: Vec<Value> = (0..6)
        .map(|i| json!({"Type": "volume", "Source": format!("bench-data-{i}"), "Target": format!("/data/{i}"),
                        "VolumeOptions": {"Labels": {"bench": "1"}}}))
        .collect();
    mounts.push(
        json!({"Type": "tmpfs", "Target": "/run", "TmpfsOptions": {"SizeBytes": 67_108_864}}),
    );
    mounts.push(
        json!({"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 134_217_728}}),
    );
    let body = json!({
        "Hostname": "", "Domainname": "", "User": "1000:1000",
        "AttachStdin": false, "AttachStdout": true, "AttachStderr": true,
        "ExposedPorts": exposed, "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": env, "Cmd": ["app", "--serve", "--port", "8000"], "Image": image,
        "Volumes": {}, "WorkingDir": "/srv", "Entrypoint": null, "OnBuild": null, "Labels": labels,
        "StopSignal": "SIGTERM",
        "Healthcheck": {"Test": ["CMD", "app", "--health"], "Interval": 30_000_000_000u64, "Timeout": 5_000_000_000u64, "Retries": 3},
        "HostConfig": {
            "Binds": null, "ContainerIDFile": "",
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
            "NetworkMode": "default", "PortBindings": bindings,
            "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
            "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0],
            "CapAdd": null, "CapDrop": ["NET_RAW", "MKNOD"], "CgroupnsMode": "private", "Dns": ["10.0.0.53", "10.0.1.53"],
            "DnsOptions": ["ndots:2"], "DnsSearch": ["svc.example.com"], "ExtraHosts": ["db.internal:10.0.0.5", "cache.internal:10.0.0.6"],
            "GroupAdd": ["1001"], "IpcMode": "", "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "",
            "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": true,
            "SecurityOpt": ["no-new-privileges:true"], "Tmpfs": {"/var/cache": "rw,size=64m"},
            "UTSMode": "", "UsernsMode": "", "ShmSize": 67_108_864, "Isolation": "",
            "CpuShares": 512, "Memory": 536_870_912, "NanoCpus": 1_500_000_000, "CgroupParent": "",
            "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
            "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
            "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
            "Devices": [], "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 268_435_456,
            "MemorySwap": 1_073_741_824, "MemorySwappiness": null, "OomKillDisable": false, "PidsLimit": 512,
            "Ulimits": [{"Name": "nofile", "Soft": 65536, "Hard": 65536}, {"Name": "nproc", "Soft": 4096, "Hard": 8192}],
            "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
            "Mounts": mounts, "MaskedPaths": null, "ReadonlyPaths": null, "Init": true,
        },
        "NetworkingConfig": {"EndpointsConfig": {"default": {"Aliases": ["app", "bench-app"]}}},
    });
    let bytes = serde_json::to_vec(&body).expect("serialisable");
    AuthzRequest {
        request_method: "POST".into(),
        request_uri: format!("/{API}/containers/create?name=bench-app"),
        request_headers: headers(&[
            ("Content-Type", "application/json"),
            ("Content-Length", &bytes.len().to_string()),
        ]),
        request_body: Some(bytes),
        ..Default::default()
    }
}

/// The call as dockerd puts it on the wire (JSON, bodies in base64).
pub fn wire(req: &AuthzRequest) -> Vec<u8> {
    serde_json::to_vec(req).expect("serialisable")
}

/// `repo:tag` or `repo@sha256:…` split into the CLI's `fromImage` and `tag`.
pub fn split_ref(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}
