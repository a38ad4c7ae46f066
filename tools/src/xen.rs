//! Booting a kernel under Debian's Xen 4.17 in QEMU, to measure or compare against the real
//! thing on the same machine: the kernel runs as Xen's dom0.
//!
//! ```text
//!   xen_elf():  $XEN_ELF, or the cache:
//!     apt-get download xen-hypervisor-4.17-amd64 → dpkg -x → boot/xen-4.17-amd64.gz
//!     → gunzip → target/debian/xen-hypervisor-4.17-amd64/<version>/xen-4.17.elf
//!   run():  qemu -kernel xen.elf -append "console=com1 dom0_mem=.. <extra>"
//!                -initrd "kernel <kernel cmdline>,<modules...>"          (multiboot1)
//! ```
//!
//! Xen does not stop the machine when dom0 shuts down: it prints `Hardware Dom0 halted`
//! (poweroff), `... shutdown: rebooting` or `... crashed` and halts or reboots. The runner
//! stops QEMU at that line and turns it into an [`Outcome`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::debian;
use crate::qemu::{self, BootMethod, Console, Outcome, RunConfig, RunResult};

/// The Debian package holding the hypervisor.
pub const XEN_PACKAGE: &str = "xen-hypervisor-4.17-amd64";
/// The compressed hypervisor inside the package.
const XEN_GZ: &str = "boot/xen-4.17-amd64.gz";
/// The prefix of Xen's own line when dom0 goes away.
const DOM0_GONE: &str = "Hardware Dom0 ";

/// Xen 4.17's ELF image: `$XEN_ELF` if set, else the cached one (fetched on first use).
pub fn xen_elf() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("XEN_ELF") {
        let p = PathBuf::from(p);
        if !p.exists() {
            bail!("XEN_ELF={} does not exist", p.display());
        }
        return Ok(p);
    }
    let root = debian::unpacked(XEN_PACKAGE)?;
    let elf = root.with_file_name("xen-4.17.elf");
    if elf.exists() {
        return Ok(elf);
    }
    let gz = root.join(XEN_GZ);
    if !gz.exists() {
        bail!("{XEN_PACKAGE} has no {XEN_GZ}");
    }
    debian::gunzip(&gz, &elf)?;
    Ok(elf)
}

/// One boot of a dom0 kernel under Xen.
#[derive(Clone, Debug)]
pub struct XenBoot {
    /// The Xen image (see [`xen_elf`]).
    pub xen: PathBuf,
    /// The dom0 kernel (first module).
    pub kernel: PathBuf,
    /// Its command line.
    pub kernel_cmdline: Option<String>,
    /// An optional ramdisk (second module).
    pub ramdisk: Option<PathBuf>,
    /// dom0's memory, MiB (`dom0_mem=N,max:N`).
    pub dom0_mib: u32,
    /// More Xen options.
    pub xen_args: Vec<String>,
    /// Machine memory, MiB.
    pub machine_mib: u32,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Serial port handling.
    pub console: Console,
}

impl XenBoot {
    /// `kernel` as dom0 of `xen` with 64 MiB, a 512 MiB machine, 120 s, captured serial.
    pub fn new(xen: PathBuf, kernel: PathBuf) -> Self {
        XenBoot {
            xen,
            kernel,
            kernel_cmdline: None,
            ramdisk: None,
            dom0_mib: 64,
            xen_args: Vec::new(),
            machine_mib: 512,
            timeout: Duration::from_secs(120),
            console: Console::Capture { echo: false },
        }
    }

    /// Xen's command line: the serial console, dom0's size, one vCPU, no boot-time scrub
    /// (fast under emulation), Xen's own messages at warning level; then `xen_args`.
    pub fn xen_cmdline(&self) -> Vec<String> {
        let mut args = vec![
            "console=com1".to_string(),
            format!("dom0_mem={0}M,max:{0}M", self.dom0_mib),
            "dom0_max_vcpus=1".into(),
            "bootscrub=0".into(),
            "loglvl=warning".into(),
            "guest_loglvl=all".into(),
        ];
        args.extend(self.xen_args.iter().cloned());
        args
    }

    /// The QEMU run this describes.
    pub fn run_config(&self) -> RunConfig {
        let mut cfg = RunConfig::new(self.xen.clone(), self.kernel.clone());
        cfg.method = BootMethod::KernelModuleCmdline;
        cfg.hv_args = self.xen_cmdline();
        cfg.guest_cmdline = self.kernel_cmdline.clone();
        cfg.ramdisk = self.ramdisk.clone();
        cfg.machine_mib = self.machine_mib;
        cfg.timeout = self.timeout;
        cfg.console = self.console;
        cfg.stop_at = Some(DOM0_GONE.into());
        cfg
    }
}

/// How dom0 went away, from Xen's `Hardware Dom0 ...` line (`None` for other lines).
pub fn dom0_outcome(line: &str) -> Option<Outcome> {
    let rest = &line[line.find(DOM0_GONE)? + DOM0_GONE.len()..];
    Some(if rest.starts_with("halted") {
        Outcome::Poweroff
    } else if rest.starts_with("crashed") {
        Outcome::Crash
    } else {
        Outcome::Reboot
    })
}

/// Boots `boot` and waits until dom0 shuts down (or the timeout); the outcome is dom0's.
pub fn run(boot: &XenBoot) -> Result<RunResult> {
    let mut r = qemu::run(&boot.run_config()).context("running Xen under QEMU")?;
    if r.outcome == Outcome::Stopped {
        if let Some(o) = r.lines.iter().rev().find_map(|l| dom0_outcome(&l.text)) {
            r.outcome = o;
        }
    }
    Ok(r)
}

/// A serial line dom0 printed (everything but Xen's own `(XEN) ` lines).
pub fn dom0_text(line: &str) -> Option<&str> {
    (!line.starts_with("(XEN)")).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dom0_outcomes() {
        assert_eq!(
            dom0_outcome("(XEN) Hardware Dom0 halted: halting machine"),
            Some(Outcome::Poweroff)
        );
        assert_eq!(
            dom0_outcome("(XEN) Hardware Dom0 crashed: rebooting machine in 5 seconds."),
            Some(Outcome::Crash)
        );
        assert_eq!(
            dom0_outcome("(XEN) Hardware Dom0 shutdown: rebooting machine"),
            Some(Outcome::Reboot)
        );
        assert_eq!(dom0_outcome("(XEN) Freed 656kB init memory"), None);
    }

    #[test]
    fn command_line_carries_the_module_cmdline() {
        let mut b = XenBoot::new("/x/xen.elf".into(), "/k/vmlinux".into());
        b.kernel_cmdline = Some("console=hvc0 quiet".into());
        b.ramdisk = Some("/k/initrd,1.gz".into());
        let cmd = qemu::command(&b.run_config()).expect("command");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let after = |flag: &str| {
            let i = args.iter().position(|a| a == flag).expect(flag);
            args[i + 1].clone()
        };
        assert_eq!(after("-kernel"), "/x/xen.elf");
        assert!(after("-append").starts_with("console=com1 dom0_mem=64M,max:64M"));
        assert_eq!(
            after("-initrd"),
            "/k/vmlinux console=hvc0 quiet,/k/initrd,,1.gz"
        );
    }
}
