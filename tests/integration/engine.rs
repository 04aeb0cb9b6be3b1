//! Issue 4/9: what changes with the engine people run now, dockerd 28 with
//! the containerd image store (`STACK_DOCKERD=28`; `make test` runs this
//! suite on 20.10 and on 28). Tests that only make sense on one engine say
//! why through `Stack::runs_if`.

use std::path::Path;
use std::process::Command;

use crate::stack::{stack, unique};

fn repo(name: &str) -> String {
    stack().repo(&format!("engine/{}", unique(name)))
}

/// `docker save` of `image` on `host`.
fn save(host: &str, image: &str) -> Vec<u8> {
    let out = Command::new("docker")
        .args(["-H", host, "save", image])
        .env("DOCKER_CONFIG", stack().dir.join("docker-config"))
        .output()
        .expect("docker save");
    assert!(
        out.status.success(),
        "docker save {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An OCI image layout (as `docker save` writes on the containerd store)
/// whose only image is named `name` by the annotation containerd's import
/// reads: the name `docker load` gives the content, whatever it is.
fn renamed_layout(dir: &Path, name: &str) -> Vec<u8> {
    let index = dir.join("index.json");
    let text = std::fs::read_to_string(&index).expect("index.json of the saved layout");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("index.json is JSON");
    let m = v["manifests"]
        .as_array_mut()
        .and_then(|a| a.first_mut())
        .expect("one image in the layout");
    m["annotations"] = serde_json::json!({ "io.containerd.image.name": name });
    std::fs::write(&index, v.to_string()).expect("write index.json");
    // Without manifest.json the load goes by index.json alone.
    let _ = std::fs::remove_file(dir.join("manifest.json"));
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-c", "."])
        .output()
        .expect("tar");
    assert!(tar.status.success());
    tar.stdout
}

/// On the containerd image store `docker load` names content by an
/// annotation of the archive, digests included: unsigned content loaded as
/// `repo@<signed digest>` and `repo:tag` shows the signed digest among its
/// RepoDigests. Only a RepoDigest equal to the image's own target digest
/// may count there; a rule that accepts any RepoDigest makes this fail.
#[test]
fn a_load_naming_unsigned_content_by_a_signed_digest_never_runs() {
    let s = stack();
    if !s.runs_if(
        s.engine.containerd_store(),
        "a_load_naming_unsigned_content_by_a_signed_digest_never_runs",
        "only the containerd image store takes image names (and digests) from a loaded archive; \
         the classic store's load sets tags only (trust.rs covers that)",
    ) {
        return;
    }
    let p = &s.permissive;
    let r = repo("forged");
    let tag = format!("{r}:v1");
    let signed = s.signed_image(&tag);
    let unsigned = format!("{r}:unsigned");
    s.image(&unsigned);

    // The unsigned content into the daemon that may load, and out again as
    // the OCI layout this store writes.
    s.docker_stdin(p, &["load"], Some(&save(&s.publisher, &unsigned)))
        .allowed();
    let layout = tempfile::tempdir().expect("tempdir");
    let tar = save(p, &unsigned);
    let mut untar = Command::new("tar")
        .arg("-C")
        .arg(layout.path())
        .arg("-x")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("tar");
    {
        use std::io::Write;
        let mut si = untar.stdin.take().expect("stdin");
        si.write_all(&tar).expect("tar input");
    }
    assert!(untar.wait().expect("tar").success());

    let forged = format!("{r}@{signed}");
    for name in [&forged, &tag] {
        let t = renamed_layout(layout.path(), name);
        s.docker_stdin(p, &["load"], Some(&t)).allowed();
    }
    // The forgery reached dockerd: the signed digest is a RepoDigest of the
    // unsigned image the tag now names.
    let digests = s.docker(
        p,
        &[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{range .RepoDigests}}{{.}} {{end}}",
            &tag,
        ],
    );
    digests.allowed();
    assert!(
        digests.stdout.contains(&forged) && !digests.stdout.starts_with(&signed),
        "the loaded image does not carry the forged RepoDigest: {}",
        digests.stdout
    );
    let out = s.docker(p, &["run", "--rm", &tag, "cat", "/etc/marker"]);
    out.denied("content-binding");
    assert!(out.text().contains("is not the signed"), "{}", out.text());
}

/// `docker run --pull`: `always` checks the registry's current content,
/// `missing` runs the signed local copy, `never` asks nothing of the
/// registry. The same on both engines.
#[test]
fn run_pull_always_missing_and_never() {
    let s = stack();
    let r = repo("runpull");
    let tag = format!("{r}:v1");
    s.signed_image(&tag);
    let out = s.guarded(&["run", "--rm", "--pull", "never", &tag, "true"]);
    assert!(
        !out.ok && !out.text().contains("authorization denied"),
        "--pull never of an absent image must fail in dockerd, not pull: {}",
        out.text()
    );
    s.guarded(&["run", "--rm", "--pull", "missing", &tag, "true"])
        .allowed();
    s.guarded(&["run", "--rm", "--pull", "always", &tag, "true"])
        .allowed();
    // The tag moves to unsigned content at the registry.
    s.image(&tag);
    let out = s.guarded(&["run", "--rm", "--pull", "always", &tag, "true"]);
    out.denied("content-binding");
    // The signed copy that is here still runs without a pull.
    s.guarded(&["run", "--rm", "--pull", "never", &tag, "true"])
        .allowed();
    s.guarded(&["run", "--rm", "--pull", "missing", &tag, "true"])
        .allowed();
    // An unsigned repository is refused at the pull.
    let u = format!("{}:v1", repo("runpull-unsigned"));
    s.image(&u);
    s.guarded(&["run", "--rm", "--pull", "always", &u, "true"])
        .denied("signature");
}

/// `--platform` on pull and run: the platform's manifest is what is pulled
/// and checked.
#[test]
fn platform_pulls_are_checked() {
    let s = stack();
    let r = repo("platform");
    let tag = format!("{r}:v1");
    s.signed_image(&tag);
    s.guarded(&["pull", "--platform", "linux/amd64", &tag])
        .allowed();
    s.guarded(&["run", "--rm", "--platform", "linux/amd64", &tag, "true"])
        .allowed();
    let u = format!("{}:v1", repo("platform-unsigned"));
    s.image(&u);
    s.guarded(&["pull", "--platform", "linux/amd64", &u])
        .denied("signature");
}

/// A container keeps running, and starts again, after its tag was pulled
/// anew: on the containerd store the old image then has no name (hence no
/// RepoDigest) and the container's image ID, the digest it was created
/// from, is what is checked. Cosign signatures stay on the old digest.
#[test]
fn a_repull_does_not_strand_existing_containers() {
    let s = stack();
    let r = s.repo(&format!("cosign/key/{}", unique("repull")));
    let tag = format!("{r}:v1");
    let first = s.image(&tag);
    s.cosign(&first, &["--key", "p256"]);
    s.guarded(&["pull", &tag]).allowed();
    let name = unique("c");
    s.guarded(&["run", "-d", "--name", &name, &tag, "sleep", "300"])
        .allowed();
    let second = s.image(&tag);
    assert_ne!(first, second);
    s.cosign(&second, &["--key", "p256"]);
    s.guarded(&["pull", &tag]).allowed();
    s.guarded(&["stop", "-t", "0", &name]).allowed();
    s.guarded(&["start", &name]).allowed();
    s.guarded(&["restart", "-t", "0", &name]).allowed();
    s.guarded(&["rm", "-f", &name]).allowed();
}

/// Image mounts (`--mount type=image`, API 1.48+): the mounted image is
/// checked like the one that runs.
#[test]
fn image_mounts_need_a_signed_image() {
    let s = stack();
    if !s.runs_if(
        s.engine.major() >= 28,
        "image_mounts_need_a_signed_image",
        "image mounts came with API 1.48 (dockerd 28); dockerd 20.10 (API 1.41) has no such mount type",
    ) {
        return;
    }
    let p = &s.permissive;
    let r = repo("imgmount");
    let tag = format!("{r}:v1");
    s.signed_image(&tag);
    let other = format!("{r}:v2");
    s.signed_image(&other);
    s.docker(p, &["pull", &tag]).allowed();
    s.docker(p, &["pull", &other]).allowed();
    let out = s.docker(
        p,
        &[
            "run",
            "--rm",
            "--mount",
            &format!("type=image,source={other},target=/m"),
            &tag,
            "cat",
            "/m/etc/marker",
        ],
    );
    out.allowed();
    assert!(out.stdout.starts_with("marker"), "{}", out.text());
    // Unsigned content under the signed name (a tag, allowed here).
    let unsigned = format!("{}:v1", repo("imgmount-unsigned"));
    s.image(&unsigned);
    s.docker_stdin(p, &["load"], Some(&save(&s.publisher, &unsigned)))
        .allowed();
    s.docker(p, &["tag", &unsigned, &other]).allowed();
    s.docker(
        p,
        &[
            "run",
            "--rm",
            "--mount",
            &format!("type=image,source={other},target=/m"),
            &tag,
            "true",
        ],
    )
    .denied("content-binding");
}

/// A multi-platform image: what is signed is the index (as `docker trust
/// sign` signs it), and the index digest is what dockerd records (the image
/// ID on the containerd store, a RepoDigest on the classic one). A platform
/// manifest pulled by its own digest is not a signed target.
#[test]
fn a_signed_multi_platform_index_pulls_and_runs() {
    let s = stack();
    let r = repo("index");
    let amd64 = s.image(&format!("{r}:amd64"));
    let arm64 = s.image(&format!("{r}:arm64"));
    let tag = format!("{r}:v1");
    let cli = |args: &[&str]| {
        let out = Command::new("docker")
            .env("DOCKER_CONFIG", s.dir.join("docker-config"))
            .args(args)
            .output()
            .expect("docker manifest");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    cli(&["manifest", "create", "--insecure", &tag, &amd64, &arm64]);
    cli(&["manifest", "annotate", "--arch", "arm64", &tag, &arm64]);
    let pushed = cli(&["manifest", "push", "--insecure", &tag]);
    let index = s.sign(&tag);
    assert!(
        pushed.ends_with(&index),
        "the signed digest {index} is not the pushed index {pushed}"
    );
    s.guarded(&["pull", &tag]).allowed();
    let out = s.guarded(&["run", "--rm", &tag, "cat", "/etc/marker"]);
    out.allowed();
    let inspect = s.guarded(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{range .RepoDigests}}{{.}} {{end}}",
        &tag,
    ]);
    inspect.allowed();
    if s.engine.containerd_store() {
        assert!(
            inspect.stdout.starts_with(&index),
            "the containerd store's image ID is not the index digest {index}: {}",
            inspect.stdout
        );
    }
    assert!(
        inspect.stdout.contains(&format!("{r}@{index}")),
        "{}",
        inspect.stdout
    );
    s.guarded(&["pull", &amd64]).denied("signature");
    s.guarded(&["pull", &format!("{r}@{index}")]).allowed();
}

/// `containers/create` as dockerd 28 reads it (API 1.44 and later): the new
/// fields of a harmless container are decoded and allowed, and the host
/// access hidden in the new mount shapes (volume subpaths over a local
/// bind volume, recursive-read-only bind options) is still denied.
#[test]
fn api_1_44_and_later_create_fields() {
    let s = stack();
    if !s.runs_if(
        s.engine.major() >= 28,
        "api_1_44_and_later_create_fields",
        "dockerd 20.10 serves API 1.41 at most and refuses /v1.51",
    ) {
        return;
    }
    let r = repo("api144");
    let image = format!("{r}:v1");
    s.signed_image(&image);
    s.guarded(&["pull", "-q", &image]).allowed();
    let create =
        |body: String| crate::raw::json(&s.guarded, "POST", "/v1.51/containers/create", &body);
    let (status, text) = create(format!(
        r#"{{"Image":"{image}","Cmd":["true"],
            "Healthcheck":{{"Test":["NONE"],"StartInterval":1000000000}},
            "NetworkingConfig":{{"EndpointsConfig":{{"none":{{"GwPriority":1}}}}}},
            "HostConfig":{{"NetworkMode":"none","Annotations":{{"a":"b"}}}}}}"#
    ));
    assert_eq!(status, 201, "a plain API 1.51 create is allowed:\n{text}");
    crate::raw::assert_denied(
        &create(format!(
            r#"{{"Image":"{image}","Cmd":["true"],"HostConfig":{{"Mounts":[{{"Type":"volume",
                "Source":"{}","Target":"/v","VolumeOptions":{{"Subpath":"etc",
                "DriverConfig":{{"Name":"local","Options":{{"type":"none","o":"bind","device":"/"}}}}}}}}]}}}}"#,
            unique("v")
        )),
        "hardening",
    );
    crate::raw::assert_denied(
        &create(format!(
            r#"{{"Image":"{image}","Cmd":["true"],"HostConfig":{{"Mounts":[{{"Type":"bind",
                "Source":"/etc","Target":"/v","BindOptions":{{"ReadOnlyNonRecursive":true,
                "CreateMountpoint":true}}}}]}}}}"#
        )),
        "hardening",
    );
}
