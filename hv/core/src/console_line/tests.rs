//! Host tests of the console line buffers: pieces, cuts, prompts, and many domains sharing
//! one serial port.

use super::*;
use alloc::string::String;
use alloc::vec;
use proptest::prelude::*;

/// Several domains' buffers in front of one serial port, as the hypervisor wires them.
struct Port {
    buffers: Vec<LineBuffer>,
    lines: SerialLines,
    wire: Vec<u8>,
}

impl Port {
    fn new(domains: usize) -> Self {
        Self {
            buffers: vec![LineBuffer::new(); domains + 1],
            lines: SerialLines::new(),
            wire: Vec::new(),
        }
    }

    /// Runs `f` on domain `id`'s buffer with the port's sink for its pieces.
    fn with(&mut self, id: u16, f: impl FnOnce(&mut LineBuffer, &mut dyn FnMut(&[u8], PieceEnd))) {
        let prefix = alloc::format!("(d{id}) ");
        let (lines, wire) = (&mut self.lines, &mut self.wire);
        let mut emit = |text: &[u8], end| lines.piece(id, prefix.as_bytes(), text, end, wire);
        f(&mut self.buffers[id as usize], &mut emit);
    }

    fn write(&mut self, id: u16, bytes: &[u8], now: u64) {
        self.with(id, |b, mut emit| b.write(bytes, now, &mut emit));
    }

    fn flush(&mut self, id: u16) {
        self.with(id, |b, mut emit| b.flush(&mut emit));
    }

    /// What the hypervisor's timer tick does.
    fn flush_due(&mut self, id: u16, now: u64) {
        if self.buffers[id as usize]
            .deadline()
            .is_some_and(|t| t <= now)
        {
            self.flush(id);
        }
    }

    fn log(&mut self, text: &str) {
        self.lines.start(Writer::Hypervisor, &mut self.wire);
        self.wire.extend_from_slice(text.as_bytes());
        self.wire.push(b'\n');
    }

    fn text(&self) -> String {
        String::from_utf8(self.wire.clone()).unwrap()
    }
}

#[test]
fn a_line_written_in_pieces_comes_out_once_whole() {
    let mut p = Port::new(1);
    p.write(1, b"Memory: ", 0);
    p.write(1, b"64 MiB", 1);
    assert_eq!(p.text(), "", "nothing shows before the line ends");
    p.write(1, b" free\n", 2);
    assert_eq!(p.text(), "(d1) Memory: 64 MiB free\n");
    assert!(p.buffers[1].is_empty());
}

#[test]
fn a_newline_in_the_middle_ends_one_line_and_keeps_the_rest() {
    let mut p = Port::new(1);
    p.write(1, b"one\ntwo\nthr", 0);
    assert_eq!(p.text(), "(d1) one\n(d1) two\n");
    p.write(1, b"ee\n\n", 0);
    assert_eq!(p.text(), "(d1) one\n(d1) two\n(d1) three\n(d1) \n");
}

#[test]
fn cr_lf_is_one_line_end_and_control_bytes_are_dropped_as_before() {
    let mut p = Port::new(1);
    p.write(1, b"dos line\r\n", 0);
    p.write(1, b"\x1b[1mbold\x1b[0m\tx\x07\x00\xff\xc3\xa9\r\n", 0);
    assert_eq!(p.text(), "(d1) dos line\n(d1) \x1b[1mbold\x1b[0m\tx\n");
}

#[test]
fn a_full_buffer_is_cut_with_a_continuation_mark() {
    let mut p = Port::new(1);
    let long = vec![b'a'; LINE_CAPACITY];
    p.write(1, &long, 0);
    assert_eq!(p.text(), "", "exactly full is still held");
    p.write(1, b"bc\n", 0);
    let a = String::from_utf8(long).unwrap();
    assert_eq!(p.text(), alloc::format!("(d1) {a}\\\n(d1) bc\n"));
}

#[test]
fn writing_forever_without_a_newline_holds_at_most_one_buffer() {
    let mut p = Port::new(1);
    let chunk = [b'x'; 1000];
    for i in 0..100 {
        p.write(1, &chunk, i);
    }
    let cuts = p.text().matches("\\\n").count();
    assert_eq!(cuts, 100_000 / LINE_CAPACITY);
    assert_eq!(p.buffers[1].len, 100_000 % LINE_CAPACITY);
    for line in p.text().lines() {
        assert_eq!(line.len(), "(d1) ".len() + LINE_CAPACITY + 1);
    }
}

#[test]
fn a_prompt_shows_after_the_delay_and_the_typed_echo_continues_its_line() {
    let mut p = Port::new(1);
    p.write(1, b"/ # ", 1_000);
    assert_eq!(p.buffers[1].deadline(), Some(1_000 + PARTIAL_LINE_DELAY_NS));
    p.flush_due(1, 1_000 + PARTIAL_LINE_DELAY_NS - 1);
    assert_eq!(p.text(), "");
    p.flush_due(1, 1_000 + PARTIAL_LINE_DELAY_NS);
    assert_eq!(p.text(), "(d1) / # ");
    assert_eq!(p.buffers[1].deadline(), None);
    p.write(1, b"l", 2 * PARTIAL_LINE_DELAY_NS);
    p.flush(1);
    p.write(1, b"s\n", 3 * PARTIAL_LINE_DELAY_NS);
    assert_eq!(p.text(), "(d1) / # ls\n", "one line, one prefix");
}

#[test]
fn the_delay_counts_from_the_oldest_byte_so_a_slow_trickle_still_shows() {
    let mut p = Port::new(1);
    for i in 0..4 {
        p.write(1, b".", i * PARTIAL_LINE_DELAY_NS / 4);
        p.flush_due(1, i * PARTIAL_LINE_DELAY_NS / 4);
        assert_eq!(p.text(), "");
    }
    p.write(1, b".", PARTIAL_LINE_DELAY_NS);
    p.flush_due(1, PARTIAL_LINE_DELAY_NS);
    assert_eq!(p.text(), "(d1) .....");
}

#[test]
fn flushing_an_empty_buffer_shows_nothing() {
    let mut p = Port::new(1);
    p.flush(1);
    p.flush_due(1, u64::MAX);
    p.write(1, b"\r\x00", 0);
    p.flush(1);
    assert_eq!(p.text(), "");
    assert_eq!(p.buffers[1].deadline(), None);
}

#[test]
fn two_domains_writing_pieces_in_turn_come_out_as_whole_lines() {
    let mut p = Port::new(2);
    p.write(1, b"grant test: ", 0);
    p.write(2, b"worker: tick", 0);
    p.write(1, b"map ", 0);
    p.write(2, b" 3/5\nworker: ti", 0);
    p.write(1, b"PASS\n", 0);
    p.write(2, b"ck 4/5\n", 0);
    assert_eq!(
        p.text(),
        "(d2) worker: tick 3/5\n(d1) grant test: map PASS\n(d2) worker: tick 4/5\n"
    );
}

#[test]
fn a_shown_partial_line_is_ended_before_a_neighbour_or_the_log_writes() {
    let mut p = Port::new(2);
    p.write(1, b"login: ", 0);
    p.flush(1);
    p.write(2, b"hello\n", 0);
    p.write(1, b"root\n", 0);
    p.write(1, b"$ ", 0);
    p.flush(1);
    p.log("(HV) INFO  something");
    p.write(1, b"\n", 0);
    assert_eq!(
        p.text(),
        "(d1) login: \n(d2) hello\n(d1) root\n(d1) $ \n(HV) INFO  something\n(d1) \n"
    );
    assert_eq!(p.lines.open(), None);
}

#[test]
fn a_domain_that_ends_leaves_no_line_open() {
    let mut p = Port::new(2);
    p.write(1, b"Kernel panic - not syncing", 0);
    // The hypervisor flushes the dead domain's buffer, then ends its line.
    p.flush(1);
    p.lines.end_of(2, &mut p.wire);
    assert_eq!(
        p.lines.open(),
        Some(1),
        "another domain's end leaves the line alone"
    );
    p.lines.end_of(1, &mut p.wire);
    assert_eq!(p.lines.open(), None);
    p.log("(HV) ERROR domain 1 crashed");
    assert_eq!(
        p.text(),
        "(d1) Kernel panic - not syncing\n(HV) ERROR domain 1 crashed\n"
    );
}

/// One step of a random run: which domain, what it writes, and whether the port flushes.
#[derive(Clone, Debug)]
enum Step {
    Write(u16, Vec<u8>),
    Flush(u16),
    Log,
}

/// A byte of a generated text: mostly letters, some newlines, a few raw bytes.
fn shape(b: u8) -> u8 {
    match b % 16 {
        0 => b'\n',
        1 => b,
        _ => b'a' + b % 26,
    }
}

fn step() -> impl Strategy<Value = Step> {
    let text = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|v| v.into_iter().map(shape).collect::<Vec<u8>>()),
        // Longer than a buffer without a newline: cut pieces.
        1 => (LINE_CAPACITY..2 * LINE_CAPACITY).prop_map(|n| vec![b'y'; n]),
    ];
    prop_oneof![
        6 => (1u16..=3, text).prop_map(|(id, t)| Step::Write(id, t)),
        1 => (1u16..=3).prop_map(Step::Flush),
        1 => Just(Step::Log),
    ]
}

proptest! {
    /// Whatever three domains write, in whatever pieces, with prompts flushed and log lines in
    /// between: every serial line belongs to one writer and starts with its prefix; joined
    /// again, each domain's pieces are exactly the bytes it wrote that the console shows; and
    /// without early flushes, every line a domain ended with a newline is one serial line.
    #[test]
    fn every_domain_gets_back_its_shown_bytes_in_whole_prefixed_lines(
        steps in proptest::collection::vec(step(), 0..40)
    ) {
        let mut p = Port::new(3);
        let mut sent: [Vec<u8>; 4] = Default::default();
        let mut early = false;
        for s in &steps {
            match s {
                Step::Write(id, t) => {
                    sent[*id as usize].extend(t.iter().copied().filter(|&b| is_shown(b)));
                    p.write(*id, t, 0);
                }
                Step::Flush(id) => {
                    early |= !p.buffers[*id as usize].is_empty();
                    p.flush(*id);
                }
                Step::Log => p.log("(HV) INFO  log"),
            }
        }
        for id in 1..=3u16 {
            p.flush(id);
            p.lines.end_of(id, &mut p.wire);
        }
        let wire = p.text();
        prop_assert!(wire.is_empty() || wire.ends_with('\n'));
        let mut got: [String; 4] = Default::default();
        let mut got_lines: [Vec<String>; 4] = Default::default();
        for line in wire.lines() {
            if line == "(HV) INFO  log" {
                continue;
            }
            let id = (1..=3u16).find(|id| line.starts_with(&alloc::format!("(d{id}) ")));
            prop_assert!(id.is_some(), "line without a prefix: {:?}", line);
            let id = id.unwrap();
            let body = &line[5..];
            // The generated texts hold no backslash: one at the end is a cut's mark.
            let (text, cut) = match body.strip_suffix('\\') {
                Some(text) => (text, true),
                None => (body, false),
            };
            // A shown partial line may go on with more of its line on the same serial line.
            prop_assert!(early || text.len() <= LINE_CAPACITY, "overlong line {:?}", line);
            got[id as usize].push_str(text);
            if !cut {
                got[id as usize].push('\n');
                got_lines[id as usize].push(String::from(text));
            }
        }
        for id in 1..=3 {
            let mut expect = String::from_utf8(sent[id].clone()).unwrap();
            if !early {
                let whole: Vec<String> = expect
                    .split('\n')
                    .map(String::from)
                    .filter(|l| l.len() <= LINE_CAPACITY)
                    .collect();
                for l in whole.iter().take(whole.len().saturating_sub(1)) {
                    prop_assert!(got_lines[id].contains(l), "line {:?} of d{} was cut", l, id);
                }
            }
            if !expect.is_empty() && !expect.ends_with('\n') {
                expect.push('\n');
            }
            // Early flushes may end a line on the wire that the guest did not end.
            if early {
                prop_assert_eq!(got[id].replace('\n', ""), expect.replace('\n', ""));
            } else {
                prop_assert_eq!(&got[id], &expect);
            }
        }
    }
}
