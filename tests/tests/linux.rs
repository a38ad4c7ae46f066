//! Debian's own Linux kernel (the `linux-image-6.1.0-N-amd64` bzImage exactly as packaged)
//! under the hypervisor, and the bad images a GRUB boot could hand it.
//!
//! The kernel and busybox come from Debian's packages (`tools::linux`: `apt-get download` +
//! `dpkg -x`, cached under `target/linux/`). Where a package cannot be had, the tests that need
//! it are reported as *ignored* with the reason (this file uses `libtest-mimic`, which can
//! decide that at run time), never as passed.
//!
//! Bad images end the run with one clear error line and the hypervisor-failure status (hvtool
//! exit status 3), never a hang or a triple fault. The boot tests run one Linux boot each and
//! put many checks into it: the initramfs's `/init` (tests/linux/init) prints one
//! `CHECK name PASS|FAIL` line per check and a final `VERDICT:`.
//!
//! Hugepages (issue 9): one boot in a domain built with `superpages` runs `hugecheck`
//! (tests/linux/hugecheck.c, `hvtest=huge`), whose parts print `HUGE: PASS|FAIL part`; the
//! hypervisor's counters at teardown (`MMSTAT`, `MMCHECK`, read by `tools::mmstat`) must show
//! 2 MiB mappings made and all released, and nothing left over. The boot without
//! `superpages` must report no hugepages and no 2 MiB mapping.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use tools::mmstat::{self, MmStat};
use tools::qemu::{Outcome, RunConfig, RunResult};
use tools::status::Status;

/// The checks `/init` runs and must all pass.
const CHECKS: [&str; 11] = [
    "cpuinfo",
    "meminfo",
    "forkexec",
    "memtouch",
    "pipe",
    "mmap",
    "signal",
    "tls",
    "badsigreturn",
    "vdso",
    "compat32",
];

/// A run of `kernel` under the hypervisor with `mem` MiB for the domain.
fn config(kernel: &Path, ramdisk: Option<&Path>, mem_mib: u32, cmdline: &str) -> RunConfig {
    let a = common::artifacts();
    let mut cfg = RunConfig::new(a.hv(), kernel.to_path_buf());
    cfg.ramdisk = ramdisk.map(Path::to_path_buf);
    cfg.hv_args = vec!["log=info".into(), format!("mem={mem_mib}M")];
    cfg.guest_cmdline = Some(cmdline.into());
    cfg.machine_mib = mem_mib + 256;
    cfg.timeout = Duration::from_secs(600);
    cfg
}

fn scratch(name: &str) -> PathBuf {
    let dir = tools::artifacts::target_dir().join("linux/bad-images");
    std::fs::create_dir_all(&dir).expect("creating target/linux/bad-images");
    dir.join(name)
}

/// The hypervisor refused the image (hvtool exit status 5) and said why in an error line
/// containing `expected`; nothing else went wrong.
fn refused(r: &RunResult, expected: &str) -> Result<(), Failed> {
    let errors: Vec<&str> = r
        .lines
        .iter()
        .map(|l| l.text.as_str())
        .filter(|t| t.contains("ERROR"))
        .collect();
    if r.outcome != Outcome::Refused || Status::from(r.outcome) != Status::Refused {
        return Err(format!("expected a refusal (status 5), got {:?}", r.outcome).into());
    }
    if r.saw("PANIC") || r.saw("FATAL") {
        return Err("the hypervisor failed".into());
    }
    match errors.first() {
        Some(line) if line.contains(expected) => Ok(()),
        _ => Err(format!("expected a first error line with {expected:?}, got {errors:?}").into()),
    }
}

/// A bzImage around `payload` (setup header only, boot protocol 2.15).
fn bzimage_around(payload: &[u8]) -> Vec<u8> {
    let setup_sects = 4u8;
    let mut file = vec![0u8; (usize::from(setup_sects) + 1) * 512];
    file[0x1f1] = setup_sects;
    file[0x202..0x206].copy_from_slice(b"HdrS");
    file[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    file[0x248..0x24c].copy_from_slice(&0u32.to_le_bytes());
    file[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    file.extend_from_slice(payload);
    file
}

/// `xz --x86 --lzma2 --check=crc32` of `data` (Linux's layout) plus Linux's le32 size trailer.
fn xz_payload(data: &[u8]) -> Vec<u8> {
    xz_payload_with(data, &[])
}

/// [`xz_payload`] with more `xz` options. The data goes through xz's stdin: tests run in
/// parallel, and a scratch input file shared by two of them was once read by one `xz` while
/// the other test rewrote it (an empty payload: "decompresses to 0 bytes").
fn xz_payload_with(data: &[u8], more: &[&str]) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let mut xz = Command::new("xz")
        .args([
            "--format=xz",
            "--check=crc32",
            "--x86",
            "--lzma2=dict=1MiB",
            "-c",
        ])
        .args(more)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xz (xz-utils) is needed");
    let mut stdin = xz.stdin.take().expect("xz's stdin");
    let input = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = xz.wait_with_output().expect("waiting for xz");
    feeder.join().expect("feeding xz").expect("writing to xz");
    assert!(out.status.success());
    let mut payload = out.stdout;
    payload.extend_from_slice(&(data.len() as u32).to_le_bytes());
    payload
}

fn truncated_bzimage(kernel: &Path) -> Result<(), Failed> {
    let file = std::fs::read(kernel)?;
    let cut = scratch("truncated.bzImage");
    std::fs::write(&cut, &file[..file.len() / 2])?;
    let r = common::run(&config(&cut, None, 256, "console=hvc0"));
    refused(&r, "beyond the end of the file (truncated image?)")
}

fn corrupt_payload(kernel: &Path) -> Result<(), Failed> {
    let mut file = std::fs::read(kernel)?;
    let setup = (usize::from(file[0x1f1]) + 1) * 512;
    let offset = u32::from_le_bytes(file[0x248..0x24c].try_into()?) as usize;
    // The XZ block header (after the 12-byte stream header): its CRC32 no longer matches.
    file[setup + offset + 14] ^= 0x55;
    let bad = scratch("corrupt-payload.bzImage");
    std::fs::write(&bad, &file)?;
    let r = common::run(&config(&bad, None, 256, "console=hvc0"));
    refused(&r, "the payload is corrupt")
}

fn kernel_without_pv_notes() -> Result<(), Failed> {
    // A real x86-64 ELF that is not a Xen PV kernel, as a bzImage payload.
    let elf = std::fs::read("/usr/bin/true")?;
    let bad = scratch("no-pv-notes.bzImage");
    std::fs::write(&bad, bzimage_around(&xz_payload(&elf)))?;
    let r = common::run(&config(&bad, None, 64, "console=hvc0"));
    refused(&r, "not a Xen PV kernel")
}

/// An XZ payload in a layout other than Linux's (several blocks) is left to the streaming
/// decoder, which is given its dictionary on a second try: the payload decompresses (the
/// ELF is then refused for what it is) and the loader reports the dictionary it used.
fn streaming_xz_payload_gets_its_dictionary() -> Result<(), Failed> {
    let elf = std::fs::read("/usr/bin/true")?;
    let file = scratch("multi-block.bzImage");
    std::fs::write(
        &file,
        bzimage_around(&xz_payload_with(&elf, &["--block-size=4KiB"])),
    )?;
    let r = common::run(&config(&file, None, 64, "console=hvc0"));
    refused(&r, "not a Xen PV kernel")?;
    match r.lines.iter().find(|l| l.text.contains("kernel: bzImage")) {
        Some(l) if !l.text.contains("(dictionary 0 KiB)") => Ok(()),
        other => Err(format!("expected a dictionary in the loader's line, got {other:?}").into()),
    }
}

fn ramdisk_larger_than_the_domain() -> Result<(), Failed> {
    let hello = common::artifacts().guest("hello");
    let big = scratch("80MiB.ramdisk");
    std::fs::write(&big, vec![0x5au8; 80 << 20])?;
    let r = common::run(&config(&hello, Some(&big), 64, ""));
    refused(
        &r,
        "64 MiB is too small for this kernel and ramdisk: they need at least 8",
    )
}

fn default_memory_too_small_for_debian(kernel: &Path) -> Result<(), Failed> {
    let r = common::run(&config(kernel, None, 64, "console=hvc0"));
    if !r.saw("kernel: bzImage, Xz payload") {
        return Err("the XZ payload was not decompressed".into());
    }
    refused(&r, "64 MiB is too small for this kernel: it needs at least")
}

/// Boots Debian's kernel with the test initramfs.
fn boot(kernel: &Path, initramfs: &Path, mem_mib: u32, hvtest: &str) -> RunResult {
    let cmdline = format!("console=hvc0 quiet hvtest={hvtest}");
    common::run(&config(kernel, Some(initramfs), mem_mib, &cmdline))
}

/// The domain the Linux boots run in.
const DOMAIN: u32 = 1;

fn log_lines(r: &RunResult) -> Vec<&str> {
    r.lines.iter().map(|l| l.text.as_str()).collect()
}

/// The hypervisor's counters at teardown, and its teardown check, which must be clean.
fn teardown_counters(r: &RunResult) -> Result<MmStat, String> {
    let lines = log_lines(r);
    let check = mmstat::check(lines.iter().copied(), DOMAIN)
        .ok_or("the hypervisor printed no MMCHECK line for the domain at teardown")?;
    if !check.clean() {
        return Err(format!("the teardown check is not clean: {check:?}"));
    }
    mmstat::last_stat(lines.iter().copied(), DOMAIN)
        .ok_or_else(|| "the hypervisor printed no MMSTAT line for the domain".into())
}

/// The hugepage pool that `hugecheck huge 64 …` asks for.
const HUGE_POOL: u32 = 64;

/// The parts of `hugecheck huge` that must pass (THP is off in superpage domains:
/// `tools::linux::SUPERPAGE_LINUX_WORDS` says why; `thp-off` checks it is).
const HUGE_PARTS: [&str; 3] = ["pool", "maps", "thp-off"];

/// One boot with superpages: the pool reaches its count, the hugetlbfs / MAP_HUGETLB / THP
/// parts pass, and the hypervisor made 2 MiB mappings, released them all, and left nothing.
fn hugepages_with_superpages(kernel: &Path, initramfs: &Path) -> Result<(), Failed> {
    let mut cfg = config(
        kernel,
        Some(initramfs),
        512,
        &format!(
            "console=hvc0 quiet hvtest=huge hvpause=1 {}",
            tools::linux::SUPERPAGE_LINUX_WORDS
        ),
    );
    cfg.hv_args.push("superpages".into());
    // While the first round's huge mappings are live, the `m` debug key shows them.
    cfg.input = vec![tools::bench_hugepages::snapshot_input("live")];
    let r = common::run(&cfg);
    let mut problems = Vec::new();
    match tools::bench_hugepages::snapshot_stat(&log_lines(&r), "live") {
        Some(s) if s.pse_live > 0 => {}
        other => problems.push(format!(
            "the m key showed no live 2 MiB mapping while hugecheck held 8: {other:?}"
        )),
    }
    if r.saw("HUGE: SKIP no hugepages") {
        problems.push(
            "the kernel offers no hugepages in a superpage domain (PSE not visible)".to_string(),
        );
    }
    if !r.saw(&format!("HUGE: PASS pool HugePages_Total={HUGE_POOL} ")) {
        problems.push(format!("HugePages_Total did not reach {HUGE_POOL}"));
    }
    for part in HUGE_PARTS {
        if !r.saw(&format!("HUGE: PASS {part} ")) {
            problems.push(format!("hugecheck part {part} did not pass"));
        }
    }
    if r.saw("HUGE: FAIL") || !r.saw("INIT: hugecheck exit status 0") {
        problems.push("hugecheck failed".into());
    }
    match teardown_counters(&r) {
        Ok(s) => {
            if s.pse_made() == 0 {
                problems.push(format!("no 2 MiB mapping was made: {s:?}"));
            }
            if !s.pse_balanced() {
                problems.push(format!(
                    "2 MiB mappings made != released, or some live: {s:?}"
                ));
            }
        }
        Err(e) => problems.push(e),
    }
    if r.outcome != Outcome::Poweroff {
        problems.push(format!("expected poweroff, got {:?}", r.outcome));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; ").into())
    }
}

fn user_space_checks(kernel: &Path, initramfs: &Path) -> Result<(), Failed> {
    let r = boot(kernel, initramfs, 512, "all");
    // The decompressed file's own frames became the kernel's (no segment copy).
    if !r.saw("kernel in place") {
        return Err("the decompressed kernel was copied instead of loaded in place".into());
    }
    for check in CHECKS {
        if !r.saw(&format!("CHECK {check} PASS")) {
            return Err(format!("check {check} did not pass").into());
        }
    }
    if !r.saw("VERDICT: PASS (11 passed, 0 failed)") {
        return Err("no passing verdict".into());
    }
    if r.outcome != Outcome::Poweroff {
        return Err(format!("expected poweroff, got {:?}", r.outcome).into());
    }
    // Without superpages: no hugepages in the guest, no 2 MiB mapping in the hypervisor.
    if !r.saw("INIT: hugepages: none") && !r.saw("INIT: hugepages: HugePages_Total:0 ") {
        return Err("a domain without superpages reports hugepages".into());
    }
    let s = teardown_counters(&r)?;
    if s.pse_made() != 0 || !s.pse_balanced() {
        return Err(format!("a domain without superpages has 2 MiB mappings: {s:?}").into());
    }
    Ok(())
}

fn deliberate_crash(kernel: &Path, initramfs: &Path) -> Result<(), Failed> {
    let r = boot(kernel, initramfs, 256, "crash");
    if r.outcome != Outcome::Crash {
        return Err(format!("expected a crash, got {:?}", r.outcome).into());
    }
    if !r.saw("sysrq: Trigger a crash") || r.saw("still alive after sysrq-c") {
        return Err("the guest's own crash lines are not shown".into());
    }
    if r.saw("PANIC") || r.saw("FATAL") {
        return Err("the hypervisor itself failed".into());
    }
    Ok(())
}

fn reboot(kernel: &Path, initramfs: &Path) -> Result<(), Failed> {
    let r = boot(kernel, initramfs, 256, "reboot");
    if r.outcome != Outcome::Reboot || Status::from(r.outcome) != Status::Reboot {
        return Err(format!("expected reboot (hvtool status 3), got {:?}", r.outcome).into());
    }
    Ok(())
}

/// The Debian kernel and the initramfs, or why they cannot be had.
fn linux() -> Result<(PathBuf, PathBuf), String> {
    let kernel = tools::linux::debian_kernel().map_err(|e| format!("{e:#}"))?;
    let initramfs = tools::linux::test_initramfs().map_err(|e| format!("{e:#}"))?;
    Ok((kernel, initramfs))
}

fn main() {
    let args = Arguments::from_args();
    let packages = linux();
    if let Err(why) = &packages {
        println!("SKIP (reported as ignored): Debian's kernel or busybox cannot be had: {why}");
    }
    let have = packages.is_ok();
    let (kernel, initramfs) = packages.unwrap_or_default();
    let with_kernel = |name: &str, f: fn(&Path) -> Result<(), Failed>| {
        let k = kernel.clone();
        Trial::test(name, move || f(&k)).with_ignored_flag(!have)
    };
    let booting = |name: &str, f: fn(&Path, &Path) -> Result<(), Failed>| {
        let (k, i) = (kernel.clone(), initramfs.clone());
        Trial::test(name, move || f(&k, &i)).with_ignored_flag(!have)
    };
    let trials = vec![
        Trial::test("bad_image_kernel_without_pv_notes", kernel_without_pv_notes),
        Trial::test(
            "streaming_xz_payload_gets_its_dictionary",
            streaming_xz_payload_gets_its_dictionary,
        ),
        Trial::test(
            "bad_image_ramdisk_larger_than_the_domain",
            ramdisk_larger_than_the_domain,
        ),
        with_kernel("bad_image_truncated_bzimage", truncated_bzimage),
        with_kernel("bad_image_corrupt_payload", corrupt_payload),
        with_kernel(
            "debian_kernel_decompresses_and_64m_is_refused_with_the_size_it_needs",
            default_memory_too_small_for_debian,
        ),
        booting("debian_linux_runs_the_user_space_checks", user_space_checks),
        booting(
            "debian_linux_hugepages_with_superpages",
            hugepages_with_superpages,
        ),
        booting("debian_linux_deliberate_crash_is_a_crash", deliberate_crash),
        booting("debian_linux_reboot_is_a_reboot", reboot),
    ];
    libtest_mimic::run(&args, trials).exit();
}
