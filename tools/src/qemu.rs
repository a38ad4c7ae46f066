//! Running the hypervisor under QEMU (TCG), either from `-kernel` (multiboot1) or from a GRUB
//! ISO (multiboot2), and reading what it prints on the serial port.
//!
//! The hypervisor leaves QEMU through `isa-debug-exit`; [`Outcome`] decodes the exit status.
//! Every run has a timeout, so a hang is a failure rather than a stalled CI job.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ChildStdin;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wait_timeout::ChildExt;

use crate::iso;

/// How QEMU loads the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootMethod {
    /// `qemu -kernel hv -initrd guest,ramdisk` (multiboot1).
    Kernel,
    /// A GRUB rescue ISO with `multiboot2` / `module2` lines.
    Iso,
    /// Multiboot1 like `Kernel`, for a hypervisor that takes its guest's command line from
    /// the module string (Xen): `-append` gets `hv_args` only, the first `-initrd` module is
    /// `guest guest_cmdline` (see `crate::xen`).
    KernelModuleCmdline,
    /// No hypervisor: QEMU boots the guest itself (`-kernel guest -append guest_cmdline
    /// -initrd ramdisk`), e.g. a Linux bzImage natively, for comparison (`hv` is unused).
    Native,
}

/// The machine QEMU emulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Machine {
    /// The standard PC (`pc`, i440FX) with SeaBIOS: PCI, the PC speaker port, a CD-ROM for the
    /// GRUB ISO. What real hardware looks like; the default.
    #[default]
    Pc,
    /// QEMU's `microvm` with the `qboot` firmware: no PCI, ISA serial, PIT, PIC, RTC, I/O
    /// APIC and ACPI MADT, `-kernel` through the multiboot option ROM. A unikernel host picks
    /// a minimal VM shape like this (as Firecracker and `microvm` users do): QEMU starts and
    /// its firmware hands over in a few milliseconds instead of SeaBIOS's tens. No CD-ROM, so
    /// no GRUB ISO.
    Microvm,
}

impl Machine {
    /// The name `--machine` takes and reports print.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Pc => "pc",
            Machine::Microvm => "microvm",
        }
    }

    /// QEMU options selecting this machine and its firmware.
    pub fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Machine::Pc => &["-M", "pc"],
            Machine::Microvm => &["-M", "microvm", "-bios", "qboot.rom"],
        }
    }
}

/// Where the serial port goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// Captured line by line (and optionally echoed to our stdout as it arrives).
    Capture {
        /// Echo each line as it arrives.
        echo: bool,
    },
    /// The user's terminal, input included (`just boot`).
    Terminal,
}

/// One QEMU run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The hypervisor ELF.
    pub hv: PathBuf,
    /// The guest kernel (first boot module).
    pub guest: PathBuf,
    /// An optional ramdisk (second boot module).
    pub ramdisk: Option<PathBuf>,
    /// Hypervisor options (before `--`).
    pub hv_args: Vec<String>,
    /// The guest command line (after `--`).
    pub guest_cmdline: Option<String>,
    /// Loader.
    pub method: BootMethod,
    /// Machine shape (`Pc` unless a benchmark or `--machine` asks for `Microvm`).
    pub machine: Machine,
    /// Machine memory, MiB.
    pub machine_mib: u32,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Serial port handling.
    pub console: Console,
    /// With `Console::Capture { echo: true }`: echo only the lines this accepts (all lines
    /// are captured either way).
    pub echo_filter: Option<fn(&str) -> bool>,
    /// Stop QEMU as soon as a serial line contains this text (outcome `Stopped`).
    pub stop_at: Option<String>,
    /// Scripted console input: when the output shows the first text (a line or a pending
    /// prompt), type the second; in order.
    pub input: Vec<(String, String)>,
    /// Boot modules with their command lines, used instead of `guest` and `ramdisk` when
    /// not empty (several domains: `hvtool up`).
    pub modules: Vec<BootModule>,
    /// Have QEMU allocate all guest RAM on the host before starting (`-mem-prealloc`), so
    /// the host's first-touch page faults (huge-page allocation, compaction) do not land in
    /// the hypervisor's timings.
    pub prealloc: bool,
    /// QEMU's own debug log: the `-d` items and the `-D` file (`hvtool tb-pages`).
    pub qemu_log: Option<(String, PathBuf)>,
}

/// A boot module and the words after its file name on its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootModule {
    /// The file.
    pub path: PathBuf,
    /// Its arguments (`domain name=… …` or `ramdisk`).
    pub args: String,
}

/// Types scripted input into QEMU's serial port when its trigger appears.
struct Feeder {
    stdin: Option<ChildStdin>,
    script: VecDeque<(String, String)>,
}

impl Feeder {
    fn saw(&mut self, text: &str) {
        let Some((trigger, _)) = self.script.front() else {
            return;
        };
        if !text.contains(trigger.as_str()) {
            return;
        }
        let (_, typed) = self.script.pop_front().expect("front exists");
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(typed.as_bytes());
            let _ = stdin.flush();
        }
    }
}

impl RunConfig {
    /// A run of `guest` under `hv` with defaults: `-kernel`, 512 MiB, 60 s, captured serial.
    pub fn new(hv: PathBuf, guest: PathBuf) -> Self {
        Self {
            hv,
            guest,
            ramdisk: None,
            hv_args: Vec::new(),
            guest_cmdline: None,
            method: BootMethod::Kernel,
            machine: Machine::Pc,
            machine_mib: 512,
            timeout: Duration::from_secs(60),
            console: Console::Capture { echo: false },
            echo_filter: None,
            stop_at: None,
            input: Vec::new(),
            modules: Vec::new(),
            prealloc: false,
            qemu_log: None,
        }
    }

    /// The hypervisor command line.
    pub fn cmdline(&self) -> String {
        let mut s = self.hv_args.join(" ");
        if let Some(g) = &self.guest_cmdline {
            s.push_str(" -- ");
            s.push_str(g);
        }
        s.trim().to_string()
    }
}

/// How the machine stopped. The hypervisor reports through `isa-debug-exit`, whose statuses
/// are odd and never 1 (see `hv/src/arch/exit.rs`); QEMU itself exits 1 when it cannot run
/// the machine and 0 when the machine resets under `-no-reboot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every domain powered off (QEMU status 5).
    Poweroff,
    /// The last domain asked to reboot (status 3).
    Reboot,
    /// A domain crashed (status 7).
    Crash,
    /// The hypervisor refused the kernel image or its configuration (status 9).
    Refused,
    /// The hypervisor failed: panic or exception in hypervisor context (status 253).
    HypervisorFailure,
    /// QEMU exited on its own, e.g. a triple fault with `-no-reboot` (status 0).
    MachineReset,
    /// QEMU could not run the machine: bad options, too little host memory (status 1).
    QemuFailure,
    /// Killed after the timeout.
    Timeout,
    /// Killed on purpose once the `stop_at` line appeared.
    Stopped,
    /// Any other status (`-1`: killed by a signal).
    Other(i32),
}

impl Outcome {
    /// Decodes QEMU's exit status.
    pub fn from_status(code: Option<i32>) -> Self {
        match code {
            Some(5) => Outcome::Poweroff,
            Some(3) => Outcome::Reboot,
            Some(7) => Outcome::Crash,
            Some(9) => Outcome::Refused,
            Some(253) => Outcome::HypervisorFailure,
            Some(0) => Outcome::MachineReset,
            Some(1) => Outcome::QemuFailure,
            Some(c) => Outcome::Other(c),
            None => Outcome::Other(-1),
        }
    }

    /// The exit status `hvtool` itself uses for this outcome (see [`crate::status`]).
    pub fn exit_status(self) -> i32 {
        crate::status::Status::from(self).code()
    }

    /// A sentence for the user.
    pub fn describe(self) -> String {
        match self {
            Outcome::Poweroff => "the guest powered off".into(),
            Outcome::Reboot => "the guest asked for a reboot".into(),
            Outcome::Crash => "the guest crashed".into(),
            Outcome::Refused => {
                "the hypervisor refused the kernel or its configuration (its log says why)".into()
            }
            Outcome::HypervisorFailure => "the hypervisor failed".into(),
            Outcome::MachineReset => "the machine reset (a triple fault in the hypervisor?)".into(),
            Outcome::QemuFailure => "QEMU could not run the machine (its message says why)".into(),
            Outcome::Timeout => "timed out; QEMU was stopped".into(),
            Outcome::Stopped => "stopped at the expected line".into(),
            Outcome::Other(c) => format!("QEMU ended with the unexpected status {c}"),
        }
    }
}

/// One line of serial output and when it arrived (since QEMU was started).
#[derive(Clone, Debug)]
pub struct Line {
    /// Time since QEMU start.
    pub at: Duration,
    /// The text, without line terminators.
    pub text: String,
    /// CPU time QEMU had used when the line arrived (user + system, all its threads; Linux
    /// hosts only). Unlike `at`, it barely grows while other programs load the machine.
    pub cpu: Option<Duration>,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// How it ended.
    pub outcome: Outcome,
    /// Serial lines (empty for `Console::Terminal`).
    pub lines: Vec<Line>,
    /// QEMU start to exit.
    pub elapsed: Duration,
}

impl RunResult {
    /// The whole serial log.
    pub fn log(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether some line contains `needle`.
    pub fn saw(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.text.contains(needle))
    }

    /// When the first line containing `needle` arrived.
    pub fn time_of(&self, needle: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|l| l.text.contains(needle))
            .map(|l| l.at)
    }

    /// QEMU's CPU time when the first line containing `needle` arrived.
    pub fn cpu_time_of(&self, needle: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|l| l.text.contains(needle))
            .and_then(|l| l.cpu)
    }
}

/// CPU time (user + system) process `pid` has used, from `/proc/PID/stat`.
fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_time_from_stat(&stat, USER_HZ)
}

/// The unit of `/proc/PID/stat` times: Linux's USER_HZ, fixed at 100 in its user ABI (what
/// `getconf CLK_TCK` prints), whatever the kernel's own tick rate.
const USER_HZ: u64 = 100;

/// utime + stime of a `/proc/PID/stat` line (fields 14 and 15; the command name in
/// parentheses may contain spaces, so fields are counted after its closing parenthesis).
fn cpu_time_from_stat(stat: &str, ticks_per_s: u64) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_secs_f64(
        ticks as f64 / ticks_per_s.max(1) as f64,
    ))
}

fn qemu_binary() -> String {
    std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into())
}

fn escape_initrd(s: &str) -> String {
    s.replace(',', ",,")
}

/// The modules `cfg` boots: its explicit list, or the guest and optional ramdisk. Images
/// this workspace built are booted debug-stripped.
fn boot_modules(cfg: &RunConfig) -> Vec<BootModule> {
    let plain = |p: &PathBuf| BootModule {
        path: p.clone(),
        args: String::new(),
    };
    let list = if cfg.modules.is_empty() {
        std::iter::once(plain(&cfg.guest))
            .chain(cfg.ramdisk.as_ref().map(plain))
            .collect()
    } else {
        cfg.modules.clone()
    };
    list.into_iter()
        .map(|m| BootModule {
            path: crate::artifacts::stripped(&m.path),
            args: m.args,
        })
        .collect()
}

/// Builds the QEMU command for `cfg`.
pub fn command(cfg: &RunConfig) -> Result<Command> {
    if cfg.machine == Machine::Microvm && cfg.method == BootMethod::Iso {
        anyhow::bail!("the microvm machine has no CD-ROM: boot the GRUB ISO on the pc machine");
    }
    let mut cmd = Command::new(qemu_binary());
    cmd.args(cfg.machine.qemu_args());
    cmd.args([
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-smp",
        "1",
        "-no-reboot",
        "-display",
        "none",
        // No default devices: the NIC's option ROM and VGA cost boot time and are never used.
        "-nodefaults",
        "-no-user-config",
    ]);
    cmd.args(["-m", &cfg.machine_mib.to_string()]);
    if cfg.prealloc {
        cmd.arg("-mem-prealloc");
    }
    if let Some((items, file)) = &cfg.qemu_log {
        cmd.args(["-d", items.as_str()]).arg("-D").arg(file);
    }
    cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]);
    match cfg.console {
        Console::Terminal => cmd.args(["-serial", "mon:stdio"]),
        Console::Capture { .. } => cmd.args(["-serial", "stdio", "-monitor", "none"]),
    };
    let hv = crate::artifacts::stripped(&cfg.hv);
    let modules = boot_modules(cfg);
    match cfg.method {
        BootMethod::Kernel => {
            let list: Vec<String> = modules
                .iter()
                .map(|m| {
                    let line = format!("{} {}", m.path.to_string_lossy(), m.args);
                    escape_initrd(line.trim_end())
                })
                .collect();
            cmd.arg("-kernel").arg(&hv);
            cmd.args(["-append", &cfg.cmdline()]);
            cmd.args(["-initrd", &list.join(",")]);
        }
        BootMethod::KernelModuleCmdline => {
            let list: Vec<String> = modules
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let mut line = m.path.to_string_lossy().into_owned();
                    match (i, &cfg.guest_cmdline) {
                        (0, Some(c)) => {
                            line.push(' ');
                            line.push_str(c);
                        }
                        _ if !m.args.is_empty() => {
                            line.push(' ');
                            line.push_str(&m.args);
                        }
                        _ => {}
                    }
                    escape_initrd(&line)
                })
                .collect();
            cmd.arg("-kernel").arg(&hv);
            cmd.args(["-append", &cfg.hv_args.join(" ")]);
            cmd.args(["-initrd", &list.join(",")]);
        }
        BootMethod::Native => {
            cmd.arg("-kernel").arg(&cfg.guest);
            cmd.args(["-append", cfg.guest_cmdline.as_deref().unwrap_or("")]);
            if let Some(r) = &cfg.ramdisk {
                cmd.arg("-initrd").arg(r);
            }
        }
        BootMethod::Iso => {
            let iso = iso::make_iso(&hv, &cfg.cmdline(), &modules)?;
            cmd.arg("-cdrom").arg(iso);
        }
    }
    Ok(cmd)
}

/// Runs QEMU as configured and waits for it (or the timeout).
pub fn run(cfg: &RunConfig) -> Result<RunResult> {
    let mut cmd = command(cfg)?;
    let start = Instant::now();
    if cfg.console == Console::Terminal {
        let status = cmd
            .status()
            .with_context(|| format!("starting {}", qemu_binary()))?;
        return Ok(RunResult {
            outcome: Outcome::from_status(status.code()),
            lines: Vec::new(),
            elapsed: start.elapsed(),
        });
    }
    let echo = matches!(cfg.console, Console::Capture { echo: true });
    let stdin = if cfg.input.is_empty() {
        Stdio::null()
    } else {
        Stdio::piped()
    };
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {} (is QEMU installed?)", qemu_binary()))?;
    let stdout = child.stdout.take().context("QEMU stdout")?;
    let pid = child.id();
    let mut feeder = Feeder {
        stdin: child.stdin.take(),
        script: cfg.input.clone().into(),
    };
    let (tx, rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let stop_at = cfg.stop_at.clone();
    let echo_filter = cfg.echo_filter;
    let reader = std::thread::spawn(move || {
        let mut r = stdout;
        let mut chunk = [0u8; 4096];
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let n = match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            partial.extend_from_slice(&chunk[..n]);
            while let Some(pos) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches(['\n', '\r'])
                    .replace('\r', "");
                if echo && echo_filter.is_none_or(|f| f(&text)) {
                    println!("{text}");
                }
                feeder.saw(&text);
                let stop = stop_at.as_deref().is_some_and(|m| text.contains(m));
                let _ = tx.send(Line {
                    at: start.elapsed(),
                    text,
                    cpu: process_cpu_time(pid),
                });
                if stop {
                    let _ = stop_tx.send(());
                }
            }
            // Prompts end without a newline: let input answer them too.
            feeder.saw(&String::from_utf8_lossy(&partial));
        }
    });
    let deadline = start + cfg.timeout;
    let outcome = loop {
        if let Some(s) = child.try_wait().context("waiting for QEMU")? {
            break Outcome::from_status(s.code());
        }
        let stopped = stop_rx.try_recv().is_ok();
        if stopped || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break if stopped {
                Outcome::Stopped
            } else {
                Outcome::Timeout
            };
        }
        let step = child
            .wait_timeout(Duration::from_millis(5))
            .context("waiting for QEMU")?;
        if let Some(s) = step {
            break Outcome::from_status(s.code());
        }
    };
    let elapsed = start.elapsed();
    let _ = reader.join();
    let lines: Vec<Line> = rx.try_iter().collect();
    Ok(RunResult {
        outcome,
        lines,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_after_the_command_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime ...; the name holds a space and a parenthesis.
        let stat = "4242 (qemu sys) x) S 1 2 3 0 -1 4194560 10 0 0 0 250 75 0 0 20 0";
        assert_eq!(
            cpu_time_from_stat(stat, 100),
            Some(Duration::from_millis(3250))
        );
        assert_eq!(cpu_time_from_stat("4242 (qemu) S 1 2", 100), None);
        assert_eq!(cpu_time_from_stat("no parenthesis", 100), None);
    }

    fn args_of(cfg: &RunConfig) -> Vec<String> {
        command(cfg)
            .expect("a command")
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_machine_shape_picks_its_machine_and_firmware() {
        let mut cfg = RunConfig::new("/nonexistent/hv".into(), "/nonexistent/guest".into());
        let pc = args_of(&cfg);
        assert_eq!(pc[..2], ["-M", "pc"]);
        assert!(!pc.iter().any(|a| a == "qboot.rom"));
        cfg.machine = Machine::Microvm;
        let microvm = args_of(&cfg);
        assert_eq!(microvm[..4], ["-M", "microvm", "-bios", "qboot.rom"]);
        assert!(microvm.iter().any(|a| a == "-kernel"));
        cfg.method = BootMethod::Iso;
        assert!(command(&cfg).is_err(), "microvm has no CD-ROM for the ISO");
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(process_cpu_time(std::process::id()).is_some());
    }
}
