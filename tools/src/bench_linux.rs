//! `bench-linux`: the same Debian kernel and test initramfs (`hvtest=bench`: `/init` prints
//! `INIT: reached /init`, runs the fork/exec loop, powers off) booted three ways under the
//! same QEMU TCG: by this hypervisor (bzImage as the boot module, decompressed by our
//! loader), natively by QEMU (`-kernel vmlinuz -initrd`), and as dom0 of Debian's Xen 4.17.
//! Figures: seconds from QEMU start to the `/init` line, and the fork/exec rate `hvcheck`
//! reports. The last line is
//! `RESULT ours_init_s=X native_init_s=X xen_init_s=X ours_forkexec_per_s=X ...`, with `na`
//! where a system did not get there.
//!
//! For splitting a boot into phases (environment, all optional): `BENCH_LINUX_ONLY=ours,native`
//! runs only the systems named, `BENCH_LINUX_EXTRA="printk.time=1 loglevel=7"` appends the
//! same words to every system's command line, `BENCH_LINUX_LOGS=DIR` keeps each serial log
//! with host timestamps (`DIR/ours.log`, …).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::qemu::{self, BootMethod, Console, RunConfig, RunResult};
use crate::xen::{self, XenBoot};

/// The line `/init` prints first.
pub const INIT_MARKER: &str = "INIT: reached /init";
/// Guest memory for every system, MiB.
pub const GUEST_MIB: u32 = 512;

/// One system's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    /// Seconds from QEMU start to `/init`.
    pub init_s: Option<f64>,
    /// fork+exec per second inside the guest.
    pub forkexec_per_s: Option<f64>,
    /// QEMU's CPU time (user + system) from its start to `/init`: steadier than `init_s`
    /// when other programs share the machine.
    pub init_cpu_s: Option<f64>,
}

/// The fork/exec rate of a passing `CHECK forkexec PASS ... rate=R/s` line.
pub fn forkexec_rate(line: &str) -> Option<f64> {
    if !line.contains("CHECK forkexec PASS") {
        return None;
    }
    let rate = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("rate="))?;
    rate.trim_end_matches("/s").parse().ok()
}

/// The hypervisor's own timing lines (decompression, build phases, boot).
pub fn timing_lines(r: &RunResult) -> impl Iterator<Item = &str> {
    r.lines.iter().map(|l| l.text.as_str()).filter(|t| {
        t.contains("kernel: bzImage") || t.contains(": built in") || t.contains("boot: +")
    })
}

/// The figures of one run's serial log.
pub fn figures(r: &RunResult) -> Figures {
    Figures {
        init_s: r.time_of(INIT_MARKER).map(|t| t.as_secs_f64()),
        forkexec_per_s: r.lines.iter().find_map(|l| forkexec_rate(&l.text)),
        init_cpu_s: r.cpu_time_of(INIT_MARKER).map(|t| t.as_secs_f64()),
    }
}

/// The line before `RESULT`: each system's QEMU CPU time to `/init`.
pub fn cpu_line(ours: Figures, native: Figures, xen: Figures) -> String {
    let f = |v: Option<f64>| v.map_or("na".to_string(), |v| format!("{v:.2}"));
    format!(
        "CPU ours_init_cpu_s={} native_init_cpu_s={} xen_init_cpu_s={}",
        f(ours.init_cpu_s),
        f(native.init_cpu_s),
        f(xen.init_cpu_s)
    )
}

/// The closing `RESULT` line.
pub fn result_line(ours: Figures, native: Figures, xen: Figures) -> String {
    let f = |v: Option<f64>, digits: usize| v.map_or("na".to_string(), |v| format!("{v:.digits$}"));
    format!(
        "RESULT ours_init_s={} native_init_s={} xen_init_s={} ours_forkexec_per_s={} \
         native_forkexec_per_s={} xen_forkexec_per_s={}",
        f(ours.init_s, 2),
        f(native.init_s, 2),
        f(xen.init_s, 2),
        f(ours.forkexec_per_s, 1),
        f(native.forkexec_per_s, 1),
        f(xen.forkexec_per_s, 1),
    )
}

const CMDLINE: &str = "quiet hvtest=bench";

/// The guest command line of every system: [`CMDLINE`] plus the words of `BENCH_LINUX_EXTRA`
/// (for measuring, e.g. `printk.time=1 earlyprintk=...`; the same words go to all three).
fn cmdline() -> String {
    cmdline_with(std::env::var("BENCH_LINUX_EXTRA").ok().as_deref())
}

/// [`CMDLINE`] followed by the words of `extra`, if any.
pub fn cmdline_with(extra: Option<&str>) -> String {
    match extra.map(str::trim) {
        Some(extra) if !extra.is_empty() => format!("{CMDLINE} {extra}"),
        _ => CMDLINE.to_string(),
    }
}

/// With `BENCH_LINUX_LOGS=DIR`, writes a run's serial log to `DIR/NAME.log`, each line
/// prefixed with its host time since QEMU start and QEMU's CPU time then (seconds), for
/// splitting a boot into phases.
pub fn save_log(name: &str, r: &RunResult) -> Result<()> {
    let Some(dir) = std::env::var_os("BENCH_LINUX_LOGS") else {
        return Ok(());
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let text: String = r
        .lines
        .iter()
        .map(|l| {
            let cpu = l.cpu.map_or(f64::NAN, |c| c.as_secs_f64());
            format!("{:9.3} {cpu:8.2} {}\n", l.at.as_secs_f64(), l.text)
        })
        .collect();
    std::fs::write(dir.join(format!("{name}.log")), text)?;
    Ok(())
}
const TIMEOUT: Duration = Duration::from_secs(600);

/// Boots under this hypervisor (`hv`).
pub fn run_ours(hv: &Path, kernel: &Path, initramfs: &Path) -> Result<RunResult> {
    let mut cfg = RunConfig::new(hv.to_path_buf(), kernel.to_path_buf());
    cfg.ramdisk = Some(initramfs.to_path_buf());
    // Info level: the loader's decompression and build-phase timings are shown too.
    cfg.hv_args = vec!["log=info".into(), format!("mem={GUEST_MIB}M")];
    cfg.guest_cmdline = Some(format!("console=hvc0 {}", cmdline()));
    cfg.machine_mib = GUEST_MIB + 256;
    cfg.timeout = TIMEOUT;
    cfg.console = Console::Capture { echo: false };
    qemu::run(&cfg)
}

/// Boots natively under QEMU.
pub fn run_native(kernel: &Path, initramfs: &Path) -> Result<RunResult> {
    let mut cfg = RunConfig::new(kernel.to_path_buf(), kernel.to_path_buf());
    cfg.method = BootMethod::Native;
    cfg.ramdisk = Some(initramfs.to_path_buf());
    cfg.guest_cmdline = Some(format!("console=ttyS0 {}", cmdline()));
    cfg.machine_mib = GUEST_MIB;
    cfg.timeout = TIMEOUT;
    qemu::run(&cfg)
}

/// Boots as dom0 of Xen 4.17.
pub fn run_xen(kernel: &Path, initramfs: &Path) -> Result<RunResult> {
    let mut boot = XenBoot::new(xen::xen_elf()?, kernel.to_path_buf());
    boot.kernel_cmdline = Some(format!("console=hvc0 {}", cmdline()));
    boot.ramdisk = Some(initramfs.to_path_buf());
    boot.dom0_mib = GUEST_MIB;
    boot.machine_mib = GUEST_MIB + 256;
    boot.timeout = TIMEOUT;
    xen::run(&boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_read_from_a_passing_check_only() {
        let pass = "CHECK forkexec PASS 200/200 in 7.512 s rate=26.6/s";
        assert_eq!(forkexec_rate(pass), Some(26.6));
        assert_eq!(
            forkexec_rate("CHECK forkexec FAIL 3/200 in 1 s rate=3.0/s"),
            None
        );
        assert_eq!(forkexec_rate("CHECK pipe PASS rate=9/s"), None);
    }

    #[test]
    fn extra_words_follow_the_common_command_line() {
        assert_eq!(cmdline_with(None), CMDLINE);
        assert_eq!(cmdline_with(Some("  ")), CMDLINE);
        assert_eq!(
            cmdline_with(Some(" printk.time=1 loglevel=7 ")),
            format!("{CMDLINE} printk.time=1 loglevel=7")
        );
    }

    #[test]
    fn result_line_names_every_figure_and_na() {
        let ours = Figures {
            init_s: Some(4.321),
            forkexec_per_s: None,
            init_cpu_s: Some(3.005),
        };
        let line = result_line(ours, Figures::default(), ours);
        assert_eq!(
            line,
            "RESULT ours_init_s=4.32 native_init_s=na xen_init_s=4.32 ours_forkexec_per_s=na \
             native_forkexec_per_s=na xen_forkexec_per_s=na"
        );
        assert_eq!(
            cpu_line(ours, Figures::default(), ours),
            "CPU ours_init_cpu_s=3.00 native_init_cpu_s=na xen_init_cpu_s=3.00"
        );
    }
}
