//! The `mirrorwatch` command line (SPEC section 1).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use mirrorwatch::config::{self, Settings, validate_resolver};
use mirrorwatch::daemon::Source;

#[derive(Parser)]
#[command(
    name = "mirrorwatch",
    version,
    about = "Watches a news site's main domain and its mirrors."
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// Config file (default: /etc/mirrorwatch/mirrorwatch.toml if present, else the embedded Press TV set).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Watch only the sites of shard i of n (stable hash of the site name), e.g. 0/4.
        #[arg(long, value_name = "I/N")]
        shard: Option<config::Shard>,
        /// Name this instance's local vantage (a `vantage` label on every address's series and alerts); one instance per location.
        #[arg(long, value_name = "NAME")]
        vantage: Option<String>,
    },
    /// Validate a config file: exit 0, or print every problem and exit 2.
    CheckConfig { file: PathBuf },
    /// Check one URL once and print a report; exit 0 when its state is up.
    Probe(Box<ProbeArgs>),
    /// Ask a running daemon how every address is: exit 0 when all are up, 1 when any is not, 2 when the daemon cannot be asked.
    Status(Box<StatusArgs>),
    /// Write the man page (mirrorwatch.1) and bash, zsh and fish completions into DIR (for packaging).
    #[command(hide = true)]
    Assets { dir: PathBuf },
    /// Start a simulated mirror network on loopback and watch it (offline first run).
    Demo {
        /// Where to serve the status page, API and metrics.
        #[arg(long, default_value = "127.0.0.1:9874")]
        listen: std::net::SocketAddr,
    },
}

#[derive(clap::Args)]
struct StatusArgs {
    /// The daemon's base URL (default: the configured `server.listen`, https when `[server.tls]` is set).
    #[arg(long)]
    url: Option<url::Url>,
    /// Config to take the listen address from (default as for `run`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Extra trust anchors (PEM) for a daemon serving HTTPS.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// How long to wait for the daemon.
    #[arg(long, default_value = "5s")]
    timeout: humantime::Duration,
    /// Print one JSON object per address (site, url, state, problems, since) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ProbeArgs {
    url: url::Url,
    /// Judge URL as a mirror of this main-site URL (adds parity).
    #[arg(long)]
    reference: Option<url::Url>,
    /// Resolver to use (repeatable; forms as in the config). Default: the config defaults.
    #[arg(long = "resolver")]
    resolvers: Vec<String>,
    /// Extra trust anchors (PEM).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Round timeout, e.g. "10s".
    #[arg(long, default_value = "10s")]
    timeout: humantime::Duration,
    /// Probe through this proxy (socks5://, socks5h:// or http:// CONNECT, as in [[vantages]]).
    #[arg(long)]
    proxy: Option<String>,
    /// Also ask the registry (RDAP, or WHOIS where there is none) about the registered domain, and judge it.
    #[arg(long)]
    registry: bool,
    /// The RDAP bootstrap file (with --registry).
    #[arg(long, default_value = config::registry::IANA_BOOTSTRAP)]
    registry_bootstrap: url::Url,
    /// A WHOIS server for a TLD without RDAP, TLD=HOST:PORT (repeatable; with --registry).
    #[arg(long = "whois-server", value_name = "TLD=HOST:PORT")]
    whois_servers: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The log filter without RUST_LOG.
/// hickory-server only runs the demo's simulated DNS: a client that drops a
/// DoH connection mid-handshake is no news there.
const DEFAULT_LOG: &str = "warn,mirrorwatch=info,hickory_server=error";

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    // Dependency crates at warn (the demo world's DNS server would log
    // every query at info), mirrorwatch's own lines at info. RUST_LOG
    // overrides.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    // Before any thread starts (glibc reads the limit when it makes arenas).
    mirrorwatch::ground::memory::limit_arenas();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::CheckConfig { file } => match config::load(&file) {
            Ok(c) => {
                println!(
                    "{}: ok ({} sites, {} addresses)",
                    file.display(),
                    c.sites.len(),
                    c.targets().len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Run {
            config,
            shard,
            vantage,
        } => {
            let mut source = match config {
                Some(path) => Source::File(path),
                None => Source::Default,
            };
            if let Some(shard) = shard {
                source = Source::Sharded(Box::new(source), shard);
            }
            if let Some(name) = vantage {
                source = Source::Vantage(Box::new(source), name);
            }
            let cfg = match source.load() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            runtime(|| mirrorwatch::daemon::run(source, cfg))
        }
        Command::Demo { listen } => runtime(|| mirrorwatch::demo::run(listen)),
        Command::Status(args) => status(*args),
        Command::Assets { dir } => match assets(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("writing assets to {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        },
        Command::Probe(args) => {
            let ProbeArgs {
                url,
                reference,
                resolvers,
                ca_file,
                timeout,
                proxy,
                registry,
                registry_bootstrap,
                whois_servers,
                json,
            } = *args;
            let mut whois = std::collections::BTreeMap::new();
            for w in &whois_servers {
                match w.split_once('=') {
                    Some((tld, addr)) if !tld.is_empty() && addr.contains(':') => {
                        whois.insert(tld.trim_matches('.').to_ascii_lowercase(), addr.to_string());
                    }
                    _ => {
                        eprintln!("--whois-server: `{w}` is not TLD=HOST:PORT");
                        return ExitCode::from(2);
                    }
                }
            }
            let registry = registry.then(|| mirrorwatch::probe::RegistryAsk {
                bootstrap_url: registry_bootstrap,
                whois,
                timeout: timeout.into(),
            });
            let vantage = match proxy.as_deref().map(config::vantage::parse_proxy) {
                None => None,
                Some(Ok(p)) => Some(config::Vantage {
                    name: "proxy".into(),
                    proxy: Some(p),
                }),
                Some(Err(why)) => {
                    eprintln!("--proxy: {why}");
                    return ExitCode::from(2);
                }
            };
            let timeout: std::time::Duration = timeout.into();
            let (min, max) = config::values::limits::TIMEOUT;
            if timeout < min || timeout > max {
                eprintln!(
                    "--timeout: {} is out of range; expected from {} to {}",
                    humantime::format_duration(timeout),
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                );
                return ExitCode::from(2);
            }
            let mut settings = Settings {
                timeout,
                ca_file,
                ..Settings::default()
            };
            if !resolvers.is_empty() {
                let mut parsed = Vec::new();
                for r in &resolvers {
                    match validate_resolver(r) {
                        Ok(spec) => parsed.push(spec),
                        Err(why) => {
                            eprintln!("--resolver: {why}");
                            return ExitCode::from(2);
                        }
                    }
                }
                if let Err((_, why)) = config::values::doh_hosts_resolvable(&parsed) {
                    eprintln!("--resolver: {why}");
                    return ExitCode::from(2);
                }
                settings.resolvers = parsed;
            }
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("starting the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(mirrorwatch::probe::probe(
                url, reference, settings, vantage, registry,
            )) {
                Ok(result) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&result.json()).unwrap_or_default()
                        );
                    } else {
                        print!("{}", result.text());
                    }
                    if result.state == mirrorwatch::verdict::state::State::Up {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("probe failed: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn runtime<F, Fut>(f: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(f()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mirrorwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `mirrorwatch status`: see `mirrorwatch::admin`.
fn status(args: StatusArgs) -> ExitCode {
    let base = match args.url {
        Some(u) => u,
        None => {
            let source = match args.config {
                Some(path) => Source::File(path),
                None => Source::Default,
            };
            let cfg = match source.load() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let mut addr = cfg.server.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(if addr.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            let scheme = if cfg.server.tls.is_some() {
                "https"
            } else {
                "http"
            };
            match url::Url::parse(&format!("{scheme}://{addr}/")) {
                Ok(u) => u,
                Err(e) => {
                    eprintln!("listen address {addr}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let auth = std::env::var("MIRRORWATCH_USER")
        .ok()
        .map(|u| (u, std::env::var("MIRRORWATCH_PASSWORD").unwrap_or_default()));
    let ask = mirrorwatch::admin::Ask {
        base,
        ca_file: args.ca_file.as_deref(),
        auth,
        timeout: args.timeout.into(),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(mirrorwatch::admin::fetch(&ask)) {
        Err(e) => {
            eprintln!("mirrorwatch status: {e}");
            ExitCode::from(2)
        }
        Ok((status, _)) => {
            use std::io::IsTerminal;
            if args.json {
                for line in mirrorwatch::admin::json_lines(&status) {
                    println!("{line}");
                }
            } else {
                let colour =
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                print!("{}", mirrorwatch::admin::render(&status, colour));
            }
            ExitCode::from(mirrorwatch::admin::exit_code(&status))
        }
    }
}

/// The man page and shell completions, generated from the CLI definition
/// (clap_mangen, clap_complete), so they never drift from it.
fn assets(dir: &std::path::Path) -> std::io::Result<()> {
    use clap_complete::Shell;
    std::fs::create_dir_all(dir)?;
    let cmd = Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    // One page per subcommand too (`man mirrorwatch-probe`), with its options.
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("mirrorwatch-{}", sub.get_name());
        let mut sub_page = Vec::new();
        clap_mangen::Man::new(sub.clone().name(name.clone())).render(&mut sub_page)?;
        std::fs::write(dir.join(format!("{name}.1")), sub_page)?;
    }
    std::fs::write(dir.join("mirrorwatch.1"), page)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = Cli::command();
        clap_complete::generate_to(shell, &mut cmd, "mirrorwatch", dir)?;
    }
    Ok(())
}
