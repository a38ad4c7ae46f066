//! `hvtool`: build the hypervisor and guests, boot them under QEMU, run benchmarks.
//!
//! ```text
//! hvtool run   [--guest NAME|FILE] [--iso] [--memory MIB] [--superpages] [--log LEVEL] [-- CMDLINE]
//! hvtool boot  KERNEL [--ramdisk FILE] [--memory MIB] [--superpages] [-- CMDLINE]
//! hvtool up    A.cfg [B.cfg …] [--machine-memory MIB] [--iso] [--log LEVEL]
//! hvtool build
//! hvtool bench-boot      [--guest NAME|FILE] [--marker TEXT] [--runs N]
//! hvtool bench-superpage [--memory MIB]
//! hvtool bench-density   [--domain-memory MIB] [--counts N,N,…]
//! hvtool initramfs [--busybox FILE] [--out FILE]
//! hvtool fetch-linux
//! hvtool bench-linux
//! hvtool demo-linux
//! hvtool bench-hugepages
//! hvtool bench-hotpaths  [--runs N]
//! hvtool tb-pages        [--guest NAME|FILE] [--top N]
//! ```
//!
//! Every way a run can end has its own exit status ([`tools::status::Status`], listed by
//! `hvtool --help` and in the README): the guest's poweroff, reboot or crash, a kernel the
//! hypervisor refused, a hypervisor failure, a QEMU failure, a usage error, a time-out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tools::artifacts;
use tools::qemu::{self, BootMethod, Console, Machine, Outcome, RunConfig};
use tools::status::Status;

/// The largest `--memory` (MiB): 1 TiB, far beyond what TCG runs, but small enough that the
/// machine size (guest + 256 MiB for the hypervisor) cannot overflow.
const MAX_MEMORY_MIB: u32 = 1 << 20;

#[derive(Parser)]
#[command(
    name = "hvtool",
    about = "Build and run the Xen-PV hypervisor under QEMU"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// How the hypervisor itself is booted: shared by every command that boots it.
#[derive(clap::Args, Clone)]
struct HvOpts {
    /// Hypervisor log level (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    log: String,
    /// Boot through a GRUB multiboot2 ISO instead of QEMU -kernel (pc machine only).
    #[arg(long)]
    iso: bool,
    /// Machine shape: pc (i440FX + SeaBIOS, the default) or microvm (+ qboot: no PCI, a few
    /// milliseconds of firmware). bench-boot measures both unless one is named.
    #[arg(long, value_parser = ["pc", "microvm"])]
    machine: Option<String>,
    /// Extra hypervisor options (repeatable), e.g. --hv-opt max_mem=128M.
    #[arg(long = "hv-opt")]
    hv_opts: Vec<String>,
}

impl HvOpts {
    /// `log=LEVEL` and the extra options, for the hypervisor command line.
    fn args(&self) -> Vec<String> {
        std::iter::once(format!("log={}", self.log))
            .chain(self.hv_opts.iter().cloned())
            .collect()
    }

    /// The machine asked for, if any.
    fn machine(&self) -> Option<Machine> {
        self.machine.as_deref().map(|m| match m {
            "microvm" => Machine::Microvm,
            _ => Machine::Pc,
        })
    }

    /// The loader and the machine (default `pc`); a usage error for a GRUB ISO on `microvm`.
    fn shape(&self) -> (BootMethod, Machine) {
        let machine = self.machine().unwrap_or_default();
        if machine == Machine::Microvm && self.iso {
            usage("--iso boots the GRUB ISO from a CD-ROM, which only the pc machine has".into())
        }
        (self.method(), machine)
    }

    fn method(&self) -> BootMethod {
        if self.iso {
            BootMethod::Iso
        } else {
            BootMethod::Kernel
        }
    }
}

/// Options shared by the commands that boot one guest.
#[derive(clap::Args, Clone)]
struct BootOpts {
    /// Guest memory in MiB (1 to 1048576).
    #[arg(long, default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_MEMORY_MIB)))]
    memory: u32,
    /// Build the domain with superpages allowed (order-9 population, 2 MiB mappings).
    #[arg(long)]
    superpages: bool,
    #[command(flatten)]
    hv: HvOpts,
    /// Seconds before QEMU is killed (0 = never, for `boot`).
    #[arg(long)]
    timeout: Option<u64>,
    /// The guest command line.
    #[arg(last = true)]
    cmdline: Vec<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the hypervisor and all guests.
    Build,
    /// Boot one of our guests (default: the demo) and show its output.
    Run {
        /// A guest name from guests/src/bin, or a kernel file.
        #[arg(long, default_value = "demo")]
        guest: String,
        /// Optional ramdisk.
        #[arg(long)]
        ramdisk: Option<PathBuf>,
        #[command(flatten)]
        opts: BootOpts,
    },
    /// Boot time: QEMU start to the guest application's first line, median of several runs.
    BenchBoot {
        /// A guest name from guests/src/bin, or a kernel file.
        #[arg(long, default_value = "demo")]
        guest: String,
        /// Text of the application's first line (default: the demo's).
        #[arg(long, default_value = "demo: booting")]
        marker: String,
        /// Number of runs.
        #[arg(long, default_value_t = 7)]
        runs: usize,
        #[command(flatten)]
        opts: BootOpts,
    },
    /// Many unikernels: N `worker` domains of one shared kernel (N = 1, 10, 100 and as many
    /// as fit in 2 GiB of guest RAM): creation time, first-line time, memory overhead.
    BenchDensity {
        /// Memory of each domain, MiB.
        #[arg(long, default_value_t = 4)]
        domain_memory: u64,
        /// Domain counts to run (default 1, 10, 100 and the most that fit in 2 GiB).
        #[arg(long, value_delimiter = ',')]
        counts: Vec<usize>,
    },
    /// Superpages: cycles to map+unmap 2 MiB by one PSE entry vs one and 512 4 KiB PTEs
    /// (the `bench_superpage` guest, superpages on); ends with the guest's RESULT line.
    BenchSuperpage {
        #[command(flatten)]
        opts: BootOpts,
    },
    /// Boot several domains from xl.cfg files side by side (console on this terminal;
    /// 3 x Ctrl-A moves the input to the next domain, then to the debug keys).
    Up {
        /// Domain configuration files (xl.cfg syntax).
        #[arg(required = true)]
        configs: Vec<PathBuf>,
        /// Machine memory in MiB; the domains' maxmem must fit in it.
        #[arg(long, default_value_t = tools::up::DEFAULT_MACHINE_MIB)]
        machine_memory: u64,
        #[command(flatten)]
        hv: HvOpts,
        /// Capture the console (print it) instead of attaching this terminal, and stop
        /// after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Build the Linux test initramfs (busybox, tests/linux/init, the static checks).
    Initramfs {
        /// A static busybox (default: Debian's busybox-static, fetched and cached).
        #[arg(long)]
        busybox: Option<PathBuf>,
        /// Where to write it (default: target/linux/initramfs.cpio.gz).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fetch (or find cached) Debian's current kernel and busybox; print their paths.
    FetchLinux,
    /// Debian's Linux to /init and its fork/exec rate: under this hypervisor, natively under
    /// QEMU, and as dom0 of Xen 4.17; ends with a RESULT line.
    BenchLinux,
    /// Debian's kernel with superpages: hugepages in the guest and the hypervisor's counters
    /// (MMSTAT on the `m` debug key and at teardown), told for a person; then poweroff.
    DemoLinux,
    /// 1 GiB faulted in, touched and unmapped with 2 MiB hugetlb pages vs 4 KiB pages in one
    /// Linux guest (superpages), plus 512 MiB of random access each; guest time and the
    /// hypervisor's MMU time per phase; ends with a RESULT line.
    BenchHugepages,
    /// Hot paths against Xen 4.17: the `bench_hotpaths` guest booted alternately under this
    /// hypervisor (superpages on) and as Xen's dom0, each side's best figure per path; ends
    /// with `RESULT ours_P=N xen_P=N ... worst_ratio=R`.
    BenchHotpaths {
        /// Boots per side (interleaved; Xen's runs are bimodal under load, so several).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[command(flatten)]
        opts: BootOpts,
    },
    /// Where a guest's exits spend QEMU's translation-block lookups: boots it (default: the
    /// `bench_hotpaths` guest, superpages on) with QEMU's `-d exec,nochain` log and prints,
    /// from its first hypercall on, the blocks executed per hypervisor function and the
    /// transitions between blocks on different pages by caller -> callee (each a lookup
    /// under TCG, where a jump within a page is chained). For laying out hot code
    /// (`hv/linker.ld`).
    TbPages {
        /// A guest name from guests/src/bin, or a kernel file.
        #[arg(long, default_value = tools::bench_hotpaths::HOTPATHS_GUEST)]
        guest: String,
        /// Lines per table.
        #[arg(long, default_value_t = 40)]
        top: usize,
        #[command(flatten)]
        opts: BootOpts,
    },
    /// Boot any PV kernel with the serial console on this terminal (input too).
    Boot {
        /// The PV kernel (ELF).
        kernel: PathBuf,
        /// Optional ramdisk.
        #[arg(long)]
        ramdisk: Option<PathBuf>,
        #[command(flatten)]
        opts: BootOpts,
    },
}

fn config(
    hv: PathBuf,
    guest: PathBuf,
    ramdisk: Option<PathBuf>,
    o: &BootOpts,
    console: Console,
) -> RunConfig {
    let mut cfg = RunConfig::new(hv, guest);
    cfg.ramdisk = ramdisk;
    cfg.hv_args = vec![format!("mem={}M", o.memory)];
    if o.superpages {
        cfg.hv_args.push("superpages".into());
    }
    // Log level and extra options last: an extra option overrides the ones above.
    cfg.hv_args.extend(o.hv.args());
    if !o.cmdline.is_empty() {
        cfg.guest_cmdline = Some(o.cmdline.join(" "));
    }
    (cfg.method, cfg.machine) = o.hv.shape();
    cfg.machine_mib = o.memory + 256;
    cfg.console = console;
    cfg.timeout = match o.timeout {
        Some(0) => Duration::from_secs(u64::MAX / 4),
        Some(s) => Duration::from_secs(s),
        None => Duration::from_secs(120),
    };
    cfg
}

fn report(outcome: Outcome, elapsed: Duration) -> i32 {
    let status = outcome.exit_status();
    eprintln!(
        "hvtool: {} after {:.2} s (exit status {status})",
        outcome.describe(),
        elapsed.as_secs_f64()
    );
    status
}

/// Runs `bench-hotpaths`: `runs` boots per side, interleaved, then the table and RESULT.
fn bench_linux() -> Result<()> {
    use tools::bench_linux::{
        cpu_line, figures, result_line, run_native, run_ours, run_xen, Figures,
    };
    let a = artifacts::build()?;
    let kernel = tools::linux::debian_kernel()?;
    let initramfs = tools::linux::test_initramfs()?;
    println!(
        "bench-linux: {} + {} ({} MiB guest, one run each)",
        kernel.display(),
        initramfs.display(),
        tools::bench_linux::GUEST_MIB
    );
    let show = |name: &str, r: &Result<tools::qemu::RunResult>| -> Figures {
        match r {
            Ok(r) => {
                let f = figures(r);
                if let Err(e) = tools::bench_linux::save_log(name, r) {
                    println!("{name}: could not save the log: {e:#}");
                }
                for line in tools::bench_linux::timing_lines(r) {
                    println!("{name}: {line}");
                }
                println!(
                    "{name}: {:?} after {:.2} s, {f:?}",
                    r.outcome,
                    r.elapsed.as_secs_f64()
                );
                if f.init_s.is_none() {
                    let tail: Vec<&str> = r
                        .lines
                        .iter()
                        .rev()
                        .take(5)
                        .map(|l| l.text.as_str())
                        .collect();
                    println!("{name}: did not reach /init; last lines: {tail:?}");
                }
                f
            }
            Err(e) => {
                println!("{name}: could not run: {e:#}");
                Figures::default()
            }
        }
    };
    // `BENCH_LINUX_ONLY=ours,native` (for measuring) runs only the systems named.
    let only = std::env::var("BENCH_LINUX_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|w| w.trim() == name);
    let ours = if wanted("ours") {
        show("ours", &run_ours(&a.hv(), &kernel, &initramfs))
    } else {
        Figures::default()
    };
    let native = if wanted("native") {
        show("native", &run_native(&kernel, &initramfs))
    } else {
        Figures::default()
    };
    let xen = if wanted("xen") {
        show("xen", &run_xen(&kernel, &initramfs))
    } else {
        Figures::default()
    };
    println!("{}", cpu_line(ours, native, xen));
    println!("{}", result_line(ours, native, xen));
    Ok(())
}

/// Runs `demo-linux`; the exit status is the run's.
fn demo_linux() -> Result<i32> {
    use tools::demo_linux::{config, summary, GUEST_MIB};
    let a = artifacts::build()?;
    let kernel = tools::linux::debian_kernel()?;
    let initramfs = tools::linux::test_initramfs()?;
    println!(
        "demo-linux: {} (Debian's package, unmodified) with a busybox initramfs, {GUEST_MIB} MiB, \
         superpages on; only the lines that tell the story are shown",
        kernel.display()
    );
    let r = qemu::run(&config(&a.hv(), &kernel, &initramfs))?;
    println!("---- summary ----");
    for line in summary(&r) {
        println!("{line}");
    }
    Ok(report(r.outcome, r.elapsed))
}

/// Runs `bench-hugepages`: one boot, the phases' figures, the RESULT line.
fn bench_hugepages() -> Result<()> {
    use tools::bench_hugepages::{config, goal_line, phases, result_line, GUEST_MIB, PHASES};
    let a = artifacts::build()?;
    let kernel = tools::linux::debian_kernel()?;
    let initramfs = tools::linux::test_initramfs()?;
    println!(
        "bench-hugepages: {} with superpages, {GUEST_MIB} MiB, one run (QEMU TCG: the random \
         runs do not charge page walks as hardware does, they are informative only)",
        kernel.display()
    );
    let r = qemu::run(&config(&a.hv(), &kernel, &initramfs))?;
    for line in r
        .lines
        .iter()
        .map(|l| l.text.as_str())
        .filter(|t| t.contains("HUGEBENCH:") || t.contains("MMCHECK") || t.contains("HUGE"))
    {
        println!("{line}");
    }
    let p = phases(&r);
    for ((name, _, _), f) in PHASES.iter().zip(&p) {
        let v = |x: Option<f64>| x.map_or("na".into(), |x| format!("{x:.1} ms"));
        println!(
            "{name}: guest {}, hypervisor MMU {}, 2 MiB mappings made {}",
            v(f.guest_ms),
            v(f.hv_mmu_ms),
            f.pse_made.map_or("na".into(), |n| n.to_string())
        );
    }
    println!(
        "run: {} after {:.1} s",
        r.outcome.describe(),
        r.elapsed.as_secs_f64()
    );
    println!("{}", goal_line(&p[0], &p[1]));
    println!("{}", result_line(&p[0], &p[1]));
    Ok(())
}

fn bench_hotpaths(ours: &RunConfig, xen: &tools::xen::XenBoot, runs: usize) -> Result<()> {
    use tools::bench_hotpaths::{best, ratio, report, run_ours, run_xen, PATHS};
    let (mut ours_runs, mut xen_runs) = (Vec::new(), Vec::new());
    let brief = |f: &tools::bench_hotpaths::Figures| {
        let v = |i: usize| f[i].map_or("na".into(), |c: u64| c.to_string());
        format!(
            "null {} mmu1 {} mmu512 {} evtchn {}",
            v(0),
            v(2),
            v(4),
            v(8)
        )
    };
    for i in 1..=runs {
        let o = run_ours(ours)?;
        println!("run {i}/{runs} ours: {}", brief(&o));
        ours_runs.push(o);
        let x = run_xen(xen)?;
        println!("run {i}/{runs} xen : {}", brief(&x));
        xen_runs.push(x);
    }
    let (o, x) = (best(&ours_runs), best(&xen_runs));
    println!(
        "median cycles per path (rdtsc in the guest), best of {runs} runs per side: this machine \
         is shared and noisy (QEMU TCG), so compare best runs and rerun before trusting a ratio"
    );
    let (table, result) = report(&o, &x);
    print!("{table}");
    let mmu512 = PATHS.iter().position(|p| *p == "mmu512").unwrap_or(0);
    if let Some(r) = ratio(o[mmu512], x[mmu512]) {
        println!("per-entry mmu_update cost in a 512 batch: {r:.2} x Xen's (goal <= 0.80)");
    }
    println!("{result}");
    Ok(())
}

/// Stops with a usage error (status 2) saying `msg`.
fn usage(msg: String) -> ! {
    Cli::command().error(ErrorKind::ValueValidation, msg).exit()
}

/// A file the user named must exist.
fn existing_file(what: &str, path: &Path) {
    if !path.is_file() {
        usage(format!("{what} {} does not exist", path.display()));
    }
}

/// A guest name from guests/src/bin, or a kernel file; checked before anything is built.
enum GuestChoice {
    Named(String),
    File(PathBuf),
}

fn choose_guest(guest: &str) -> GuestChoice {
    let path = PathBuf::from(guest);
    if path.is_file() {
        return GuestChoice::File(path);
    }
    let names = artifacts::guest_names();
    if names.iter().any(|n| n == guest) {
        return GuestChoice::Named(guest.into());
    }
    usage(format!(
        "no guest named {guest:?} and no such file; the guests are: {}",
        names.join(", ")
    ))
}

impl GuestChoice {
    fn kernel(self, a: &artifacts::Artifacts) -> PathBuf {
        match self {
            GuestChoice::Named(n) => a.guest(&n),
            GuestChoice::File(p) => p,
        }
    }
}

fn main() {
    let help = format!("Exit status:\n{}", Status::table());
    let matches = Cli::command()
        .mut_subcommands(|c| c.after_help(help.clone()))
        .after_help(help.clone())
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hvtool: error: {e:#}");
            Status::ToolError.code()
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32> {
    let code = match cli.command {
        Cmd::Build => {
            let a = artifacts::build()?;
            println!("{}", a.hv().display());
            0
        }
        Cmd::Run {
            guest,
            ramdisk,
            opts,
        } => {
            let choice = choose_guest(&guest);
            if let Some(r) = &ramdisk {
                existing_file("ramdisk", r);
            }
            let a = artifacts::build()?;
            let kernel = choice.kernel(&a);
            let cfg = config(
                a.hv(),
                kernel,
                ramdisk,
                &opts,
                Console::Capture { echo: true },
            );
            let r = qemu::run(&cfg)?;
            report(r.outcome, r.elapsed)
        }
        Cmd::BenchBoot {
            guest,
            marker,
            runs,
            opts,
        } => {
            let choice = choose_guest(&guest);
            let a = artifacts::build()?;
            let kernel = choice.kernel(&a);
            let cfg = config(
                a.hv(),
                kernel.clone(),
                None,
                &opts,
                Console::Capture { echo: false },
            );
            // The minimal shape a unikernel host would pick first, then the standard PC (the
            // GRUB ISO boots only there); interleaved run by run, so load drifts hit both.
            let machines = match (opts.hv.machine(), opts.hv.iso) {
                (Some(m), _) => vec![m],
                (None, true) => vec![Machine::Pc],
                (None, false) => vec![Machine::Microvm, Machine::Pc],
            };
            let cfgs: Vec<RunConfig> = machines
                .iter()
                .map(|&m| RunConfig {
                    machine: m,
                    ..cfg.clone()
                })
                .collect();
            println!(
                "bench-boot: {} ({} runs per machine after one warm-up, marker {marker:?})",
                kernel.display(),
                runs
            );
            let benches = tools::bench_boot::bench_boot(&cfgs, &marker, runs)?;
            for (m, b) in machines.iter().zip(&benches) {
                println!(
                    "{:<8} median {:6.1} ms over {} runs (min {:.1}, max {:.1})",
                    m.name(),
                    b.median_ms,
                    b.runs_ms.len(),
                    b.min_ms(),
                    b.max_ms()
                );
            }
            println!("{}", tools::bench_boot::result_line(&machines, &benches));
            0
        }
        Cmd::BenchDensity {
            domain_memory,
            counts,
        } => {
            use tools::bench_density as bd;
            let a = artifacts::build()?;
            let kernel = a.guest(bd::DENSITY_GUEST);
            let max = (bd::GUEST_RAM_MIB / domain_memory.max(1)) as usize;
            let counts = if counts.is_empty() {
                vec![1, 10, 100, max]
            } else {
                counts
            };
            println!(
                "bench-density: {} domains of {domain_memory} MiB ({}), one run each",
                bd::DENSITY_GUEST,
                bd::WORKER_CMDLINE
            );
            println!("{}", bd::HEADER);
            let dir = artifacts::target_dir().join("density");
            let mut last = None;
            for n in counts {
                let d = bd::run(&a.hv(), &kernel, n, domain_memory, &dir)?;
                println!("{}", bd::row(&d));
                last = Some(d);
            }
            if let Some(d) = last {
                println!("{}", bd::result_line(&d));
            }
            0
        }
        Cmd::BenchSuperpage { mut opts } => {
            let a = artifacts::build()?;
            opts.superpages = true;
            let kernel = a.guest(tools::bench::SUPERPAGE_GUEST);
            let cfg = config(
                a.hv(),
                kernel,
                None,
                &opts,
                Console::Capture { echo: false },
            );
            let b = tools::bench::bench_superpage(&cfg)?;
            for line in b.lines.iter().filter(|l| **l != b.result_line) {
                println!("{line}");
            }
            if !b.result.meets_goals() {
                eprintln!(
                    "bench-superpage: the goals (pse <= 2 x pte1, pte512 >= 50 x pse) are not met"
                );
            }
            println!("{}", b.result_line);
            0
        }
        Cmd::Up {
            configs,
            machine_memory,
            hv,
            timeout,
        } => {
            let (set, warnings) = tools::up::load_all(&configs, machine_memory)?;
            for w in &warnings {
                eprintln!("hvtool: warning: {w}");
            }
            let a = artifacts::build()?;
            let mut cfg = RunConfig::new(a.hv(), set[0].config.kernel.clone());
            cfg.modules = tools::up::modules(&set);
            cfg.hv_args = hv.args();
            cfg.machine_mib = u32::try_from(machine_memory)?;
            (cfg.method, cfg.machine) = hv.shape();
            match timeout {
                Some(s) => {
                    cfg.console = Console::Capture { echo: true };
                    cfg.timeout = Duration::from_secs(s);
                }
                None => {
                    cfg.console = Console::Terminal;
                    cfg.timeout = Duration::from_secs(u64::MAX / 4);
                    eprintln!("hvtool: {} domain(s) (Ctrl-A X quits QEMU)", set.len());
                }
            }
            let r = qemu::run(&cfg)?;
            report(r.outcome, r.elapsed)
        }
        Cmd::Initramfs { busybox, out } => {
            let busybox = match busybox {
                Some(b) => b,
                None => tools::linux::busybox()?,
            };
            let out = out
                .unwrap_or_else(|| tools::artifacts::target_dir().join("linux/initramfs.cpio.gz"));
            tools::linux::build_initramfs(&busybox, &out)?;
            println!("{}", out.display());
            0
        }
        Cmd::FetchLinux => {
            println!("{}", tools::linux::debian_kernel()?.display());
            println!("{}", tools::linux::busybox()?.display());
            0
        }
        Cmd::BenchLinux => {
            bench_linux()?;
            0
        }
        Cmd::DemoLinux => demo_linux()?,
        Cmd::BenchHugepages => {
            bench_hugepages()?;
            0
        }
        Cmd::BenchHotpaths { runs, mut opts } => {
            let a = artifacts::build()?;
            opts.superpages = true;
            let kernel = a.guest(tools::bench_hotpaths::HOTPATHS_GUEST);
            let ours = config(
                a.hv(),
                kernel.clone(),
                None,
                &opts,
                Console::Capture { echo: false },
            );
            let mut xen = tools::xen::XenBoot::new(tools::xen::xen_elf()?, kernel);
            xen.dom0_mib = opts.memory;
            bench_hotpaths(&ours, &xen, runs.max(1))?;
            0
        }
        Cmd::TbPages {
            guest,
            top,
            mut opts,
        } => {
            let choice = choose_guest(&guest);
            let a = artifacts::build()?;
            opts.superpages = true;
            let kernel = choice.kernel(&a);
            let mut cfg = config(
                a.hv(),
                kernel,
                None,
                &opts,
                Console::Capture { echo: false },
            );
            let log = std::env::temp_dir().join(format!("hvtool-exec-{}.log", std::process::id()));
            cfg.qemu_log = Some(("exec,nochain".into(), log.clone()));
            cfg.timeout = cfg.timeout.max(Duration::from_secs(600));
            let run = qemu::run(&cfg);
            let report = tools::tb_pages::Symbols::from_elf(&a.hv())
                .and_then(|syms| tools::tb_pages::analyse_log(&log, &syms));
            let _ = std::fs::remove_file(&log);
            let run = run?;
            println!("guest outcome: {:?}", run.outcome);
            print!("{}", tools::tb_pages::render(&report?, top));
            0
        }
        Cmd::Boot {
            kernel,
            ramdisk,
            mut opts,
        } => {
            existing_file("kernel", &kernel);
            if let Some(r) = &ramdisk {
                existing_file("ramdisk", r);
            }
            let a = artifacts::build()?;
            opts.timeout = Some(opts.timeout.unwrap_or(0));
            let cfg = config(a.hv(), kernel, ramdisk, &opts, Console::Terminal);
            eprintln!(
                "hvtool: booting {} (Ctrl-A X quits QEMU)",
                cfg.guest.display()
            );
            let r = qemu::run(&cfg)?;
            report(r.outcome, r.elapsed)
        }
    };
    Ok(code)
}
