//! Many domains at once, from `xl.cfg` files (`hvtool up`): they share the CPU fairly, a
//! crashing or hostile one does not stop the others, `on_reboot = "restart"` rebuilds a
//! domain, and every domain's memory comes back at the end.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{artifacts, run};
use tools::qemu::{Outcome, RunConfig, RunResult};

/// Writes one `xl.cfg` per `(name, worker command line, extra lines)` into a fresh
/// directory and returns the paths.
fn configs(tag: &str, domains: &[(&str, &str, &str)]) -> Vec<PathBuf> {
    configs_of("worker", tag, domains)
}

/// Same for guest `guest`.
fn configs_of(guest: &str, tag: &str, domains: &[(&str, &str, &str)]) -> Vec<PathBuf> {
    let dir = std::env::temp_dir().join(format!("hv-domains-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kernel = artifacts().guest(guest);
    domains
        .iter()
        .map(|(name, cmdline, extra)| {
            let p = dir.join(format!("{name}.cfg"));
            let text = format!(
                "# {name}\nname = \"{name}\"\ntype = \"pv\"\nkernel = \"{}\"\nmemory = 16\n\
                 extra = \"{cmdline}\"\n{extra}\n",
                kernel.display()
            );
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect()
}

fn up(files: &[PathBuf], hv_opts: &[&str]) -> RunResult {
    up_typing(files, hv_opts, Vec::new())
}

/// The domains of `files` booted through a GRUB multiboot2 ISO (`module2` lines).
fn up_iso(files: &[PathBuf]) -> RunResult {
    let (set, _) = tools::up::load_all(files, 512).expect("configs load");
    let mut cfg = RunConfig::new(artifacts().hv(), set[0].config.kernel.clone());
    cfg.modules = tools::up::modules(&set);
    cfg.hv_args = vec!["log=info".into()];
    cfg.method = tools::qemu::BootMethod::Iso;
    cfg.machine_mib = 512;
    cfg.timeout = Duration::from_secs(90);
    run(&cfg)
}

/// Same, typing `input` (trigger text, what to type) on the serial line.
fn up_typing(files: &[PathBuf], hv_opts: &[&str], input: Vec<(String, String)>) -> RunResult {
    let (set, _) = tools::up::load_all(files, 512).expect("configs load");
    let mut cfg = RunConfig::new(artifacts().hv(), set[0].config.kernel.clone());
    cfg.modules = tools::up::modules(&set);
    cfg.hv_args = vec!["log=info".into()];
    cfg.hv_args.extend(hv_opts.iter().map(|s| s.to_string()));
    cfg.machine_mib = 512;
    cfg.timeout = Duration::from_secs(90);
    cfg.input = input;
    run(&cfg)
}

fn count(r: &RunResult, needle: &str) -> usize {
    r.lines.iter().filter(|l| l.text.contains(needle)).count()
}

/// The number between `prefix` (the start of a line) and `suffix` (its end) in the first
/// line that has them.
fn number_between(r: &RunResult, prefix: &str, suffix: &str) -> Option<u64> {
    r.lines.iter().find_map(|l| {
        let t = l.text.strip_prefix(prefix)?;
        t.strip_suffix(suffix)?.parse().ok()
    })
}

/// Every domain built was torn down with its frames returned.
fn all_memory_returned(r: &RunResult, domains: usize) {
    assert_eq!(count(r, " frames returned"), domains, "teardowns");
    assert!(!r.saw("teardown failed"));
    assert!(r.saw("no domains left"));
}

#[test]
fn two_spinners_with_events_masked_share_the_cpu() {
    let files = configs("spin", &[("spin-a", "spin", ""), ("spin-b", "spin", "")]);
    // Neither ever yields: only time slices let both run. Both are destroyed 5 s after
    // the shutdown request they cannot see.
    let r = up(&files, &["shutdown_after=2s"]);
    // Progress before the shutdown request (2 s in): both must have had the CPU. Without
    // time slices the first spinner keeps it until the toolstack's own timer fires.
    let request = r
        .lines
        .iter()
        .position(|l| l.text.contains("asking domain 1 to shut down"))
        .expect("shutdown request");
    let before = |who: &str| {
        r.lines[..request]
            .iter()
            .filter(|l| l.text.contains(&format!("({who}) worker: spinning ")))
            .count()
    };
    let (a, b) = (before("spin-a"), before("spin-b"));
    assert!(
        a >= 2 && b >= 2,
        "progress lines in the first 2 s: spin-a {a}, spin-b {b}"
    );
    assert!(r.saw("did not shut down within 5 s"));
    assert_eq!(r.outcome, Outcome::Crash);
    all_memory_returned(&r, 2);
}

#[test]
fn hostile_and_crashing_domains_do_not_stop_the_others() {
    // Two timer-driven workers beside a domain spinning with events masked, a hypercall
    // flooder, a crasher and a batcher issuing huge mmu_update and multicall batches.
    let files = configs(
        "mixed",
        &[
            ("w1", "ticks=25", ""),
            ("w2", "ticks=25", ""),
            ("spinner", "spin", ""),
            ("flooder", "flood", ""),
            ("crasher", "crash", ""),
            ("batcher", "batch", ""),
        ],
    );
    let r = up(&files, &["shutdown_after=4s"]);
    for w in ["w1", "w2"] {
        assert!(
            r.saw(&format!("({w}) worker: tick 25/25")),
            "{w} did not finish"
        );
        let done = number_between(&r, &format!("({w}) worker: done, 25 ticks in "), " ms")
            .expect("done line");
        // 25 sleeps of 20 ms: timers keep firing on time despite the spinner and flooder
        // (generous bound for a loaded TCG host; the others are asked to stop at 4 s).
        assert!(done < 3500, "{w} took {done} ms for 500 ms of sleeps");
        // The batcher's long hypercalls are preempted when a timer is due. Without
        // continuations its multicall of 524288 updates kept the workers waiting ~600 ms;
        // with them the latest wake-up was 4-30 ms late (and 114 ms once, with a 32768
        // batch, under a load of 13 on 2 cores).
        let late = number_between(&r, &format!("({w}) worker: latest wake-up "), " ms late")
            .expect("lateness line");
        assert!(late < 250, "{w} woke up {late} ms late");
    }
    assert!(
        r.lines
            .iter()
            .any(|l| l.text.starts_with("(batcher) worker: batch: ")
                && l.text
                    .ends_with("of 131072 updates, 128x4096 in multicalls and 1024 frames cycled, every one complete")),
        "the batcher's calls did not all complete"
    );
    let continued = r
        .lines
        .iter()
        .find_map(|l| l.text.split("domain 6: hypercalls continued:").nth(1))
        .unwrap_or("");
    eprintln!("continued:{continued}");
    assert!(
        ["mmu_update", "multicall", "memory_op"]
            .iter()
            .all(|c| continued.contains(c)),
        "the batcher's hypercalls were not preempted: {continued:?}"
    );
    assert!(r.saw("(crasher) worker: crashing on purpose"));
    // Its partial last line is shown whole when it dies, before the line about its end.
    let last_words = r
        .lines
        .iter()
        .position(|l| l.text.trim_end() == "(crasher) worker: last words");
    let end = r
        .lines
        .iter()
        .position(|l| l.text.contains("domain 5 crashed: page fault"));
    assert!(
        matches!((last_words, end), (Some(w), Some(e)) if w < e),
        "the crasher's unfinished last line did not come out whole before its end"
    );
    assert!(
        r.saw("domain 5 crashed: page fault"),
        "the hypervisor crashes the crasher alone"
    );
    assert!(r.saw("(flooder) worker: flooding"));
    assert!(
        count(&r, "did not shut down within 5 s") == 2,
        "spinner and flooder destroyed"
    );
    assert_eq!(r.outcome, Outcome::Crash);
    all_memory_returned(&r, 6);
}

#[test]
fn lines_two_domains_write_in_interleaved_pieces_come_out_whole() {
    // Each writes 20 lines in three pieces (console_io, its console ring, console_io) and
    // yields between pieces, so the pieces of the two interleave on the way in.
    let files = configs(
        "pieces",
        &[("left", "pieces=20", ""), ("right", "pieces=20", "")],
    );
    let r = up(&files, &[]);
    for name in ["left", "right"] {
        let prefix = format!("({name}) worker: line ");
        let lines: Vec<&str> = r
            .lines
            .iter()
            .map(|l| l.text.trim_end())
            .filter(|t| t.starts_with(&format!("({name}) ")) && !t.contains("worker: domain"))
            .collect();
        let expected: Vec<String> = (1..=20)
            .map(|i| format!("{prefix}{i}/20 in three pieces, whole"))
            .collect();
        assert_eq!(lines, expected, "{name}'s lines were cut or mixed");
    }
    // Nothing else shares a line with a domain's piece.
    assert!(
        !r.lines
            .iter()
            .any(|l| l.text.matches(") worker: ").count() > 1),
        "two domains' output on one line"
    );
    assert_eq!(r.outcome, Outcome::Poweroff);
    all_memory_returned(&r, 2);
}

#[test]
fn on_reboot_restart_builds_the_domain_again() {
    let files = configs(
        "restart",
        &[("phoenix", "reboot-below=4", "on_reboot = \"restart\"")],
    );
    let r = up(&files, &[]);
    // Domain 1 reboots, comes back as 2, 3, then 4 powers off.
    for id in 2..=4 {
        assert!(
            r.saw(&format!("restarting \"phoenix\" as domain {id}")),
            "restart {id}"
        );
    }
    assert!(r.saw("(phoenix) worker: domain Some(4)"));
    assert!(!r.saw("restarting \"phoenix\" as domain 5"));
    // Each incarnation filled its free pages with a pattern before rebooting; the next one,
    // built from the frames just freed, must find them all zero.
    let fresh: Vec<&str> = r
        .lines
        .iter()
        .map(|l| l.text.as_str())
        .filter(|l| l.contains("worker: fresh memory:"))
        .collect();
    assert_eq!(fresh.len(), 4, "{fresh:?}");
    for line in fresh {
        assert!(line.ends_with(", 0 not zero"), "{line}");
        assert!(!line.contains("memory: 0 pages"), "{line}");
    }
    assert_eq!(r.outcome, Outcome::Poweroff);
    all_memory_returned(&r, 4);
}

#[test]
fn configs_the_machine_cannot_hold_are_refused_before_boot() {
    let files = configs("big", &[("big", "ticks=1", "maxmem = 4096")]);
    let e = tools::up::load_all(&files, 512).unwrap_err();
    assert!(e.to_string().contains("4096 MiB"), "{e}");
    let missing = configs(
        "missing",
        &[("m", "ticks=1", "ramdisk = \"/nonexistent.img\"")],
    );
    let e = tools::up::load_all(&missing, 512).unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");
}

#[test]
fn two_domains_share_data_through_grants_and_an_event_channel() {
    // `front` grants `back` a read-only and a writable page and a ring, and publishes the
    // refs and an unbound port in xenstore for `back` alone; `back` copies with
    // GNTTABOP_copy both ways, maps the read-only page and the ring, checks the copies, maps
    // and unmaps it must not be allowed, and talks with `front` over the mapped ring and the
    // channel. Two more pairs end with one side dying while the grant is mapped: a dying
    // grantee (d4) loses its mappings and its granter (d3) sees the flags clear; a dying
    // granter's (d5) pages stay with its grantee (d6) until the unmap, then are freed.
    let files = configs_of(
        "pair",
        "pair",
        &[
            ("front", "offer peer=2", ""),
            ("back", "take peer=1", ""),
            ("front2", "offer peer=4 peer-dies", ""),
            ("back2", "take peer=3 die-mapped", ""),
            ("front3", "offer peer=6 die-mapped", ""),
            ("back3", "take peer=5 peer-dies", ""),
        ],
    );
    let r = up(&files, &[]);
    assert!(r.saw("(back) pair: take: refused as they must be: write to read-only ref -1, ungranted ref -1, frame without grant -8, across a page -10, peer's name readable: false"));
    assert!(r.saw("(back) pair: take: map refused as it must be: writable on read-only -1, ungranted -1, beyond the table -3, granted to another -1, hypervisor area -1, unaligned -1, no such domain -2; unmap: bad handle -4, wrong address -1; mmu_update of the granted frame: Some(-16)"));
    assert!(r.saw("(front) pair: offer: while mapped: read-only ref flags 0x8, ring ref flags 0x18, end access possible: false"));
    assert!(r.saw("(back) pair: take: 16 answers on the mapped ring"));
    assert!(r.saw("(back) pair: take: unmapped: [0, 0], again: -4"));
    assert!(r.saw("(front) pair: offer: all grants ended"));
    // The grantee died with the pages mapped: its granter could end every grant.
    assert!(r.saw("(back2) pair: take: leaving with the peer's pages mapped"));
    assert!(r.saw("(front2) pair: offer: all grants ended"));
    // The granter died first: the grantee kept its mappings, then unmapped them.
    assert!(r.saw("(front3) pair: offer: leaving while the peer maps our pages"));
    assert!(r.saw("(back3) pair: take: the dead peer's pages are still mapped"));
    assert!(r.saw("(back3) pair: take: unmapped: [0, 0], again: -4"));
    // Each unmap freed one orphan: 2 of d5's frames came back after d5's teardown.
    assert_eq!(count(&r, "1 orphaned granted frames freed"), 2);
    let returned = |d: u32| {
        number_between(&r, &format!("(HV) INFO  domain {d}: "), " frames returned")
            .expect("teardown line")
    };
    assert_eq!(returned(5) + 2, returned(1));
    for name in ["back", "front", "back2", "front2", "back3", "front3"] {
        let role = if name.starts_with("back") {
            "take"
        } else {
            "offer"
        };
        assert!(
            r.saw(&format!("({name}) pair: {role}: PASS")),
            "{name} did not pass"
        );
    }
    assert_eq!(r.outcome, Outcome::Poweroff);
    all_memory_returned(&r, 6);
}

#[test]
fn serial_input_switches_between_domains_and_debug_keys_list_and_destroy() {
    let files = configs(
        "keys",
        &[("first", "ticks=150", ""), ("second", "ticks=150", "")],
    );
    let ctrl_a3 = "\u{1}\u{1}\u{1}".to_string();
    let r = up_typing(
        &files,
        &[],
        vec![
            ("(second) worker: tick 2/150".into(), ctrl_a3.clone()),
            ("serial input to domain 2 (second)".into(), ctrl_a3),
            ("serial input to the hypervisor".into(), "l".into()),
            (
                "domains: id name state memory superpages cpu".into(),
                "m".into(),
            ),
            ("MMSTAT dom=2 ".into(), "d2\r".into()),
        ],
    );
    for dom in [1, 2] {
        assert!(
            r.saw(&format!("(HV) INFO  MMSTAT dom={dom} pse_live=")),
            "the m key prints domain {dom}'s MMU counters"
        );
    }
    assert!(r.saw("serial input to domain 2 (second); 3 x Ctrl-A switches"));
    assert!(
        r.saw("(HV) INFO    1 first running 16 MiB"),
        "the list names domain 1"
    );
    assert!(
        r.saw("(HV) INFO    2 second running 16 MiB"),
        "the list names domain 2"
    );
    assert!(r.saw("destroying domain 2 (debug key)"));
    assert!(
        !r.saw("(second) worker: done"),
        "domain 2 was destroyed before it finished"
    );
    assert!(r.saw("(first) worker: done"), "domain 1 went on");
    assert_eq!(r.outcome, Outcome::Poweroff);
    all_memory_returned(&r, 2);
}

#[test]
fn several_domains_boot_through_grub_too() {
    let files = configs("iso", &[("left", "ticks=3", ""), ("right", "ticks=3", "")]);
    let r = up_iso(&files);
    assert!(r.saw("(left) worker: done, 3 ticks"));
    assert!(r.saw("(right) worker: done, 3 ticks"));
    assert!(r.saw("booted by multiboot2"));
    assert_eq!(r.outcome, Outcome::Poweroff);
    all_memory_returned(&r, 2);
}
