//! blackbox_exporter under test: the Debian package's binary, started in its
//! own mount namespace where /etc/resolv.conf names the benchmark DNS (its
//! HTTP prober resolves through the system resolver, which must be on port
//! 53), driven through `/probe?module=https&target=...` like Prometheus does.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::procs::{Guard, spawn_owned};
use crate::world::DNS_ADDR;

pub const BINARY: &str = "prometheus-blackbox-exporter";

pub struct Blackbox {
    pub guard: Guard,
    pub base: String,
}

impl Blackbox {
    pub async fn start(dir: &Path, ca: &Path, timeout: Duration) -> anyhow::Result<Self> {
        let config = dir.join("blackbox.yml");
        // The module does what mirrorwatch's round does at least: resolve
        // (A and AAAA: preferred ip6 with fallback, the default), connect,
        // verify the chain against the CA, GET, read the whole body, 2xx.
        std::fs::write(
            &config,
            format!(
                "modules:\n  https:\n    prober: http\n    timeout: {}s\n    http:\n      \
                 valid_status_codes: []\n      fail_if_not_ssl: true\n      tls_config:\n        \
                 ca_file: {}\n",
                timeout.as_secs(),
                ca.display()
            ),
        )?;
        let resolv = dir.join("resolv.conf");
        std::fs::write(
            &resolv,
            format!(
                "nameserver {}\noptions timeout:2 attempts:1\n",
                DNS_ADDR.ip()
            ),
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("blackbox.log"))?;
        let mut command = std::process::Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount --bind \"$1\" /etc/resolv.conf && exec \"$2\" --config.file=\"$3\" --web.listen-address=\"$4\"")
            .arg("sh")
            .arg(&resolv)
            .arg(BINARY)
            .arg(&config)
            .arg(&listen)
            .stdout(std::process::Stdio::null())
            .stderr(log);
        let guard =
            spawn_owned(&mut command).context("starting blackbox_exporter under unshare")?;
        let b = Blackbox {
            guard,
            base: format!("http://{listen}"),
        };
        if !crate::answers_ok(&format!("{}/-/healthy", b.base), Duration::from_secs(20)).await {
            bail!(
                "blackbox_exporter did not start; see {}",
                dir.join("blackbox.log").display()
            );
        }
        Ok(b)
    }

    /// One probe; true when blackbox says `probe_success 1`.
    pub async fn probe(base: String, target: String) -> bool {
        let url = format!("{base}/probe?module=https&target={target}");
        match crate::http().get(url).send().await {
            Ok(r) => r
                .text()
                .await
                .is_ok_and(|t| t.lines().any(|l| l == "probe_success 1")),
            Err(_) => false,
        }
    }
}
