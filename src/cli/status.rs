//! `img-authz status`: ask a running plugin whether it answers, what it
//! loaded, and its figures; print them for a person (or the raw JSON).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use hyper::{Method, StatusCode};

use img_authz::protocol::STATUS_PATH;
use img_authz::run::unix_request;

/// `img-authz status`: 0 when the plugin answers as an authz plugin.
pub async fn status(socket: &Path, json: bool) -> ExitCode {
    let run = async {
        let (st, body) = unix_request(socket, Method::POST, "/Plugin.Activate")
            .await
            .map_err(|e| e.to_string())?;
        let activate: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let implements_authz = activate
            .get("Implements")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "authz"));
        if st != StatusCode::OK || !implements_authz {
            return Err(format!(
                "{} answers, but not as an authz plugin: {activate}",
                socket.display()
            ));
        }
        let (_, body) = unix_request(socket, Method::GET, STATUS_PATH)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_slice::<serde_json::Value>(&body)
            .map_err(|e| format!("bad status answer: {e}"))
    };
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Ok(s)) => {
            if json {
                println!("{s:#}");
            } else {
                print_status(socket, &s);
            }
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("img-authz status: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!(
                "img-authz status: {} did not answer within 10 s",
                socket.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn print_status(socket: &Path, s: &serde_json::Value) {
    println!(
        "img-authz {} answering on {}",
        s["version"].as_str().unwrap_or("?"),
        socket.display()
    );
    println!("  up for {} s", s["uptime_secs"]);
    if let Some(cfg) = s["config"].as_object() {
        println!("configuration:");
        for (k, v) in cfg {
            println!("  {k}: {v}");
        }
    }
    if let Some(b) = s["bundle"].as_object() {
        println!("policy bundle: {}", b["reference"].as_str().unwrap_or("?"));
        println!("  signer:   {}", b["signer"].as_str().unwrap_or("?"));
        match b["digest"].as_str() {
            Some(d) => println!(
                "  in force: revision {} ({d}), from {}, for {} s (created {})",
                b["revision"],
                b["source"].as_str().unwrap_or("?"),
                b["age_secs"],
                b["created"].as_str().unwrap_or("?")
            ),
            None => println!("  in force: none: every request is denied"),
        }
        println!(
            "  checked:  {} s ago; {} update(s), {} refusal(s)",
            b["last_check_secs_ago"], b["updates"], b["refusals"]
        );
        if let Some(e) = b["last_error"].as_str() {
            println!("  last error: {e}");
        }
    }
    if let Some(why) = s["held"].as_str() {
        println!("DENYING EVERYTHING: {why}");
    }
    if let Some(caches) = s["caches"].as_array() {
        println!("caches:");
        for c in caches {
            println!(
                "  {}: {} entries, {} hits, {} misses",
                c["name"].as_str().unwrap_or("?"),
                c["entries"],
                c["hits"],
                c["misses"]
            );
        }
    }
    if let Some(n) = s["decision_log_dropped"].as_u64().filter(|n| *n > 0) {
        println!("decision log: {n} lines dropped (stderr or the file could not keep up)");
    }
    if let Some(l) = s["decision_log_shipping"].as_object() {
        println!(
            "decision-log shipping: {} shipped, {} dropped, {} buffered ({} bytes), last error: {}",
            l["shipped"], l["dropped"], l["buffered_events"], l["buffered_bytes"], l["last_error"]
        );
    }
    if let Some(ds) = s["decisions"].as_array() {
        println!("decisions:");
        for d in ds {
            println!(
                "  {:>8}  {} {} ({})",
                d["count"],
                d["decision"].as_str().unwrap_or(""),
                d["action"].as_str().unwrap_or(""),
                d["rule"].as_str().unwrap_or("")
            );
        }
    }
}
